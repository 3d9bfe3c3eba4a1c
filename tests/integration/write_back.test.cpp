// Write-back against the test EHR (tests/ehr_fixture) over real TLS on loopback: a visit's full
// life produces exactly the expected FHIR resources; an outage (refusals, 503 with Retry-After,
// dropped connections, a 500 after the write was applied) ends with every event in the EHR
// exactly once, in order per visit; and a visitd killed with -9 with a full outbox delivers all
// of it after the restart, none twice.

#include "smart_box.hpp"
#include "ws_client.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <thread>

namespace visitd::test {
namespace {

using namespace std::chrono_literals;

/// Fast retries, so outages end within seconds in tests.
const std::vector<std::string> fast_retries{"--write-back-max-delay", "1",
                                            "--write-back-breaker-open", "1"};

/// The number `"name":123` in `json` (the first one), or -1.
long number_field(const std::string& json, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex{"\"" + name + "\":(-?[0-9]+)"})) return -1;
  return std::stol(m[1].str());
}

/// Every `"code":"acme/v-…/N"` event key tag in `json`, with how often it occurs.
std::map<std::string, int> event_keys(const std::string& json) {
  std::map<std::string, int> keys;
  std::regex re{R"re("system":"urn:visitd:event-key","code":"([^"]+)")re"};
  for (auto it = std::sregex_iterator(json.begin(), json.end(), re); it != std::sregex_iterator();
       ++it)
    ++keys[(*it)[1].str()];
  return keys;
}

/// A box whose tenant `acme` (oracle_health: its admin approves) has an approved confidential
/// endpoint `main` at EHR `ehr1`, holding Encounter/enc-1 and Appointment/appt-1, and whose
/// admin is also a provider (Practitioner/7).
struct write_back_box : smart_box {
  explicit write_back_box(std::vector<std::string> args = fast_retries,
                          const std::string& behaviour = "{}")
    : smart_box{"oracle_health", std::move(args)} {
    ehr_.control("PUT", "/control/ehr/ehr1/resources/Encounter/enc-1",
                 R"({"resourceType":"Encounter","id":"enc-1","status":"planned",)"
                 R"("subject":{"reference":"Patient/pat-1"},"serviceType":{"text":"kept"}})");
    ehr_.control("PUT", "/control/ehr/ehr1/resources/Appointment/appt-1",
                 R"({"resourceType":"Appointment","id":"appt-1","status":"booked",)"
                 R"("participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]})");
    behave("ehr1", behaviour);
    add_endpoint("main", "ehr1", "confidential_private_key_jwt", true);
    approve_by_admin("main");
    auto me = box_.connection.request("GET", "/api/v1/session", {}, admin_.headers());
    auto linked = post_json(
      box_.connection, "/api/v1/tenants/acme/providers",
      R"({"account":")" + json_string_field(me.body, "id") + R"(","ehr_user":"Practitioner/7"})",
      admin_.headers());
    if (linked.status != 200) throw std::runtime_error("provider link: " + linked.body);
    admin_ = sign_in(box_.connection, "admin1", admin_password);
  }

  /// A new visit of Appointment `appt` (and Encounter `enc` when given): its id.
  std::string open_visit(const std::string& appt, const std::string& enc = {}) {
    std::string body = R"({"endpoint":"main","appointment":"Appointment/)" + appt + "\"";
    if (!enc.empty()) body += R"(,"encounter":"Encounter/)" + enc + "\"";
    body += R"(,"scheduled_start":"2099-01-01T10:00:00Z"})";
    auto visit = post_json(box_.connection, "/api/v1/tenants/acme/visits", body, admin_.headers());
    if (visit.status != 201) throw std::runtime_error("visit: " + visit.body);
    return json_string_field(visit.body, "id");
  }

  int staff(const std::string& visit, const std::string& action) {
    return post_json(box_.connection, "/api/v1/tenants/acme/visits/" + visit + "/" + action, "",
                     admin_.headers())
      .status;
  }

  std::string status() {
    return box_.connection
      .request("GET", "/api/v1/tenants/acme/endpoints/main/write-back", {}, admin_.headers())
      .body;
  }

  /// Waits until nothing is pending or in flight and at least `delivered` items were delivered
  /// (since the start of this visitd); the last status.
  std::string wait_drained(long delivered, std::chrono::seconds limit = 60s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::string s;
    while (std::chrono::steady_clock::now() < deadline) {
      s = status();
      if (number_field(s, "pending") == 0 && number_field(s, "in_flight") == 0 &&
          number_field(s, "delivered") >= delivered)
        return s;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "write-back did not drain: " << s;
    return s;
  }

  std::string resources(const std::string& type) {
    return ehr_.control("GET", "/control/ehr/ehr1/resources/" + type, "").body;
  }
};

TEST(write_back, a_visits_full_life_produces_exactly_the_expected_resources) {
  write_back_box t;
  auto visit = t.open_visit("appt-1", "enc-1");

  // The patient joins with a link (lobby: Appointment arrived), checks their devices, the
  // provider joins and admits them (the visit starts), the patient leaves, the provider ends it.
  auto link = post_json(t.box_.connection, "/api/v1/tenants/acme/visits/" + visit + "/join-links",
                        R"({"role":"patient"})", t.admin_.headers());
  ASSERT_EQ(link.status, 201) << link.body;
  std::string patient_id;
  {
    ws_client patient{t.box_.server.client(), json_string_field(link.body, "url") + "/socket"};
    EXPECT_NE(patient.read().find(R"("status":"waiting")"), std::string::npos);
    patient.send(R"({"type":"device_test","camera":true,"microphone":false,"speaker":true})");
    EXPECT_NE(patient.read().find("device_test_recorded"), std::string::npos);
    ASSERT_EQ(t.staff(visit, "staff/join"), 200);
    auto state = t.box_.connection.request("GET", "/api/v1/tenants/acme/visits/" + visit, {},
                                           t.admin_.headers());
    std::smatch m;
    ASSERT_TRUE(
      std::regex_search(state.body, m, std::regex{R"re("id":"([^"]+)","role":"patient")re"}))
      << state.body;
    patient_id = m[1].str();
    auto admitted =
      post_json(t.box_.connection, "/api/v1/tenants/acme/visits/" + visit + "/lobby/admit",
                R"({"participant":")" + patient_id + R"("})", t.admin_.headers());
    ASSERT_EQ(admitted.status, 200) << admitted.body;
    EXPECT_NE(patient.read().find("admitted"), std::string::npos);
    patient.close();
  }
  // The leave is durable once the socket is gone; then the provider ends the visit.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (
    std::chrono::steady_clock::now() < deadline &&
    t.box_.connection.request("GET", "/api/v1/tenants/acme/visits/" + visit, {}, t.admin_.headers())
        .body.find(R"("role":"patient","status":"admitted","connected":false)") ==
      std::string::npos)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(t.staff(visit, "end"), 200);

  // Items: patient lobby entry, patient connect, device test, provider connect, visit start,
  // patient disconnect, provider disconnect, visit end.
  auto status = t.wait_drained(8);
  EXPECT_EQ(number_field(status, "delivered"), 8) << status;
  EXPECT_NE(status.find(R"("state":"delivering")"), std::string::npos) << status;
  EXPECT_NE(status.find(R"("audit_events":"update_as_create")"), std::string::npos) << status;
  EXPECT_EQ(number_field(status, "dead_letters"), 0) << status;

  // AuditEvents: one per connect, disconnect and device test, each under its own event key.
  auto audits = t.resources("AuditEvent");
  auto keys = event_keys(audits);
  EXPECT_EQ(keys.size(), 5u) << audits;
  for (const auto& [key, n] : keys) {
    EXPECT_EQ(n, 1) << key;
    EXPECT_EQ(key.rfind("acme/" + visit + "/", 0), 0u) << key;
  }
  EXPECT_NE(audits.find(R"("code":"110122")"), std::string::npos) << "login" << audits;
  EXPECT_NE(audits.find(R"("code":"110123")"), std::string::npos) << "logout" << audits;
  EXPECT_NE(audits.find(R"("reference":"Practitioner/7")"), std::string::npos) << audits;
  EXPECT_NE(audits.find(R"("reference":"Encounter/enc-1")"), std::string::npos) << audits;
  EXPECT_NE(audits.find(R"("system":"urn:visitd:participant")"), std::string::npos)
    << "the join-link patient by an opaque identifier" << audits;
  EXPECT_NE(audits.find(R"("outcome":"4")"), std::string::npos)
    << "the failed microphone check" << audits;

  // The Encounter: finished, virtual, with the visit's period and the provider's presence; what
  // visitd does not own is kept.
  auto encounter = t.ehr_.control("GET", "/control/ehr/ehr1/resources/Encounter/enc-1", "").body;
  EXPECT_NE(encounter.find(R"("status":"finished")"), std::string::npos) << encounter;
  EXPECT_NE(encounter.find(R"("code":"VR")"), std::string::npos) << encounter;
  EXPECT_NE(encounter.find(R"("reference":"Practitioner/7")"), std::string::npos) << encounter;
  EXPECT_NE(encounter.find(R"("serviceType":{"text":"kept"})"), std::string::npos) << encounter;
  EXPECT_NE(encounter.find(R"("end":")"), std::string::npos) << encounter;
  // The Appointment: fulfilled (it started).
  auto appointment =
    t.ehr_.control("GET", "/control/ehr/ehr1/resources/Appointment/appt-1", "").body;
  EXPECT_NE(appointment.find(R"("status":"fulfilled")"), std::string::npos) << appointment;
  EXPECT_NE(appointment.find(R"("reference":"Patient/pat-1")"), std::string::npos) << appointment;

  // The EHR saw a system token from SMART Backend Services, asked for once.
  auto log = t.ehr_.control("GET", "/control/ehr/ehr1/log", "").body;
  std::regex tokens{R"re("grant_type":"client_credentials")re"};
  EXPECT_EQ(
    std::distance(std::sregex_iterator(log.begin(), log.end(), tokens), std::sregex_iterator()), 1)
    << log;

  // /metrics on loopback says the same.
  auto metrics = t.box_.connection.request("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  EXPECT_NE(
    metrics.body.find(R"(visitd_write_back_delivered_total{tenant="acme",endpoint="main"} 8)"),
    std::string::npos)
    << metrics.body;
  EXPECT_EQ(t.box_.server.stop(), 0) << "a clean stop (a sanitizer report would abort it)";
}

TEST(write_back, after_an_outage_every_event_is_in_the_ehr_exactly_once_in_order_per_visit) {
  // Conditional create this time (the EHR allows no client-assigned ids).
  write_back_box t{fast_retries, R"({"update_create":false})"};
  auto first = t.wait_drained(0);
  EXPECT_NE(first.find(R"("audit_events":"conditional_create")"), std::string::npos) << first;

  // The EHR refuses writes (503, Retry-After 1) while three visits' providers come and go.
  t.behave("ehr1", R"({"fhir_status":503,"retry_after_seconds":1})");
  std::vector<std::string> visits{t.open_visit("a-1"), t.open_visit("a-2"), t.open_visit("a-3")};
  int events = 0;
  for (int round = 0; round < 3; ++round)
    for (const auto& v : visits) {
      ASSERT_EQ(t.staff(v, "staff/join"), 200);
      ASSERT_EQ(t.staff(v, "staff/leave"), 200);
      events += 2;
    }
  auto deadline = std::chrono::steady_clock::now() + 20s;
  std::string during;
  do {
    during = t.status();
    std::this_thread::sleep_for(50ms);
  } while (number_field(during, "retries") < 2 && std::chrono::steady_clock::now() < deadline);
  EXPECT_GE(number_field(during, "retries"), 2) << during;
  EXPECT_GT(number_field(during, "pending"), 0) << during;
  EXPECT_TRUE(event_keys(t.resources("AuditEvent")).empty()) << "nothing applied yet";

  // Then connections are dropped without an answer, then one write is applied and answered 500.
  t.behave("ehr1", R"({"fhir_status":0,"refuse_connections":true})");
  std::this_thread::sleep_for(1500ms);
  t.behave("ehr1", R"({"refuse_connections":false,"fail_after_apply":1})");

  auto status = t.wait_drained(events);
  EXPECT_EQ(number_field(status, "dead_letters"), 0) << status;
  auto audits = t.resources("AuditEvent");
  auto keys = event_keys(audits);
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(events)) << audits;
  for (const auto& [key, n] : keys) EXPECT_EQ(n, 1) << "exactly once: " << key;

  // In order per visit: the EHR's log of successful creates, mapped to event keys, has each
  // visit's sequence numbers increasing.
  auto log = t.ehr_.control("GET", "/control/ehr/ehr1/log", "").body;
  std::map<std::string, std::string> key_of_id;
  const auto audit_list = boost::json::parse(audits);
  for (const auto& r : audit_list.as_array()) {
    const auto& o = r.as_object();
    const auto& tag = o.at("meta").at("tag").as_array().at(0).as_object();
    key_of_id[std::string{o.at("id").as_string()}] = std::string{tag.at("code").as_string()};
  }
  std::map<std::string, long> last_seq;
  std::size_t seen = 0;
  const auto log_list = boost::json::parse(log);
  for (const auto& e : log_list.as_array()) {
    const auto& o = e.as_object();
    const auto* outcome = o.if_contains("outcome");
    const auto* what = o.if_contains("resource");
    if (outcome == nullptr || what == nullptr || *outcome != "created") continue;
    std::string ref{what->as_string()};
    auto key = key_of_id[ref.substr(ref.find('/') + 1)];
    auto slash = key.rfind('/');
    ASSERT_NE(slash, std::string::npos) << ref << " " << key;
    auto visit = key.substr(0, slash);
    auto seq = std::stol(key.substr(slash + 1));
    EXPECT_GT(seq, last_seq[visit]) << "out of order in " << visit;
    last_seq[visit] = seq;
    ++seen;
  }
  EXPECT_EQ(seen, static_cast<std::size_t>(events)) << log;
  // Each phase of the outage happened: refusals, dropped connections, and the write answered
  // 500 after it was applied, whose retry found it (conditional create: "exists").
  EXPECT_NE(log.find(R"("status":503)"), std::string::npos);
  EXPECT_NE(log.find(R"("behaviour":"refuse_connections")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("behaviour":"fail_after_apply")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("outcome":"exists")"), std::string::npos) << log;
  EXPECT_EQ(t.box_.server.stop(), 0);
}

TEST(write_back, a_refused_write_is_dead_lettered_shown_and_redriven) {
  write_back_box t;
  (void)t.wait_drained(0);
  t.behave("ehr1", R"({"fhir_status":422})");
  auto visit = t.open_visit("d-1");
  ASSERT_EQ(t.staff(visit, "staff/join"), 200);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  std::string status;
  do {
    status = t.status();
    std::this_thread::sleep_for(50ms);
  } while (number_field(status, "dead_letters") < 1 && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(number_field(status, "dead_letters"), 1) << status;
  auto letters = t.box_.connection.request(
    "GET", "/api/v1/tenants/acme/endpoints/main/write-back/dead-letters", {}, t.admin_.headers());
  ASSERT_EQ(letters.status, 200) << letters.body;
  EXPECT_NE(letters.body.find("HTTP 422"), std::string::npos) << letters.body;
  EXPECT_NE(letters.body.find(R"("kind":"connected")"), std::string::npos) << letters.body;
  EXPECT_EQ(t.box_.connection
              .request("GET", "/api/v1/tenants/acme/endpoints/main/write-back/dead-letters?limit=0",
                       {}, t.admin_.headers())
              .status,
            400);

  t.behave("ehr1", R"({"fhir_status":0})");
  auto redriven = post_json(t.box_.connection,
                            "/api/v1/tenants/acme/endpoints/main/write-back/dead-letters/redrive",
                            "", t.admin_.headers());
  ASSERT_EQ(redriven.status, 200) << redriven.body;
  EXPECT_EQ(number_field(redriven.body, "redriven"), 1) << redriven.body;
  status = t.wait_drained(1);
  EXPECT_EQ(number_field(status, "dead_letters"), 0) << status;
  EXPECT_EQ(event_keys(t.resources("AuditEvent")).size(), 1u);
  auto audit =
    t.box_.connection.request("GET", "/api/v1/audit?tenant=acme&limit=100", {}, t.admin_.headers());
  EXPECT_NE(audit.body.find(R"("action":"write_back.redrive")"), std::string::npos) << audit.body;
  EXPECT_EQ(t.box_.server.stop(), 0);
}

TEST(write_back, the_tenants_policy_decides_what_is_written_and_with_which_codes) {
  write_back_box t;
  (void)t.wait_drained(0);
  const std::string path = "/api/v1/tenants/acme/write-back-policy";
  auto put = [&](const std::string& body, const signed_in_caller& who, bool json = true) {
    auto headers = who.headers();
    if (json) headers.emplace_back("Content-Type", "application/json");
    return t.box_.connection.request("PUT", path, body, headers);
  };

  // The default: everything, DICOM codes.
  auto initial = t.box_.connection.request("GET", path, {}, t.approver_.headers());
  ASSERT_EQ(initial.status, 200) << initial.body;
  EXPECT_NE(initial.body.find(R"("appointments":true)"), std::string::npos) << initial.body;
  EXPECT_NE(initial.body.find(R"("code":"110122")"), std::string::npos) << initial.body;

  // Refusals change nothing: the approver may not, a bad coding and a wrong body are named.
  const std::string wanted =
    R"({"writes":{"appointments":false},"audit_event_codes":{"connected":)"
    R"({"system":"urn:oid:1.2.840.9","code":"VV-IN","display":"Joined video visit"}}})";
  auto by_approver = put(wanted, t.approver_);
  EXPECT_EQ(by_approver.status, 403) << by_approver.body;
  auto bad = put(R"({"audit_event_codes":{"connected":{"system":"VV","code":"IN"}}})", t.admin_);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("audit_event_codes.connected.system"), std::string::npos) << bad.body;
  auto unknown = put(R"({"writes":{"observations":true}})", t.admin_);
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_NE(unknown.body.find("writes.observations"), std::string::npos) << unknown.body;
  EXPECT_EQ(put(wanted, t.admin_, false).status, 415);
  EXPECT_EQ(t.box_.connection.request("GET", path, {}, t.admin_.headers()).body, initial.body);

  // The admin sets it; the endpoint's plan follows.
  auto set = put(wanted, t.admin_);
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_NE(set.body.find(R"("appointments":false)"), std::string::npos) << set.body;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  std::string status;
  do {
    status = t.status();
    std::this_thread::sleep_for(20ms);
  } while (status.find(R"("writes_appointments":false)") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(status.find(R"("writes_appointments":false)"), std::string::npos) << status;
  EXPECT_NE(status.find(R"("code":"VV-IN")"), std::string::npos) << status;

  // A patient reaches the lobby (no Appointment write now) and leaves; a provider comes and goes.
  auto visit = t.open_visit("appt-1", "enc-1");
  auto link = post_json(t.box_.connection, "/api/v1/tenants/acme/visits/" + visit + "/join-links",
                        R"({"role":"patient"})", t.admin_.headers());
  ASSERT_EQ(link.status, 201) << link.body;
  {
    ws_client patient{t.box_.server.client(), json_string_field(link.body, "url") + "/socket"};
    EXPECT_NE(patient.read().find(R"("status":"waiting")"), std::string::npos);
    patient.close();
  }
  ASSERT_EQ(t.staff(visit, "staff/join"), 200);
  ASSERT_EQ(t.staff(visit, "staff/leave"), 200);
  // Items: lobby entry, patient connect and disconnect, provider connect and disconnect.
  status = t.wait_drained(5);
  auto audits = t.resources("AuditEvent");
  EXPECT_EQ(event_keys(audits).size(), 4u) << audits;
  EXPECT_NE(audits.find(R"("code":"VV-IN","display":"Joined video visit")"), std::string::npos)
    << audits;
  EXPECT_EQ(audits.find(R"("code":"110122")"), std::string::npos) << "no default login" << audits;
  EXPECT_NE(audits.find(R"("code":"110123")"), std::string::npos) << "logout kept" << audits;
  auto appointment =
    t.ehr_.control("GET", "/control/ehr/ehr1/resources/Appointment/appt-1", "").body;
  EXPECT_NE(appointment.find(R"("status":"booked")"), std::string::npos) << appointment;

  // Audited under the tenant, with the policy before and after.
  auto audit =
    t.box_.connection.request("GET", "/api/v1/audit?tenant=acme&limit=100", {}, t.admin_.headers());
  EXPECT_NE(audit.body.find(R"("action":"tenant.write_back")"), std::string::npos) << audit.body;

  // Acknowledged, so it survives kill -9.
  EXPECT_EQ(t.box_.server.stop(SIGKILL), 128 + SIGKILL);
  running_server restarted{VISITD_BINARY, t.box_.data_dir(),
                           smart_box::with_trust(fast_retries, t.ehr_.ca_path())};
  restarted.wait_ready();
  tls_connection c{restarted.client()};
  auto admin = sign_in(c, "admin1", admin_password);
  auto after = c.request("GET", path, {}, admin.headers());
  EXPECT_EQ(after.body, set.body);
  EXPECT_EQ(restarted.stop(), 0);
}

TEST(write_back, pending_writes_survive_kill_9_and_are_delivered_once_after_the_restart) {
  write_back_box t;
  (void)t.wait_drained(0);
  t.behave("ehr1", R"({"fhir_status":503})");
  std::vector<std::string> visits{t.open_visit("k-1"), t.open_visit("k-2")};
  int events = 0;
  for (int round = 0; round < 5; ++round)
    for (const auto& v : visits) {
      ASSERT_EQ(t.staff(v, "staff/join"), 200);  // acknowledged: durable, its items with it
      ASSERT_EQ(t.staff(v, "staff/leave"), 200);
      events += 2;
    }
  // One write is applied (and answered 500) just before the kill: the restart must not repeat it.
  t.behave("ehr1", R"({"fhir_status":0,"fail_after_apply":1})");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (event_keys(t.resources("AuditEvent")).empty() &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  t.behave("ehr1", R"({"fhir_status":503})");
  EXPECT_EQ(t.box_.server.stop(SIGKILL), 128 + SIGKILL);
  auto before = event_keys(t.resources("AuditEvent")).size();
  EXPECT_LT(before, static_cast<std::size_t>(events)) << "the outbox was not empty at the kill";

  t.behave("ehr1", R"({"fhir_status":0})");
  auto args = smart_box::with_trust(fast_retries, t.ehr_.ca_path());
  running_server restarted{VISITD_BINARY, t.box_.data_dir(), args};
  restarted.wait_ready();
  tls_connection c{restarted.client()};
  auto admin = sign_in(c, "admin1", admin_password);
  std::string status;
  deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    status =
      c.request("GET", "/api/v1/tenants/acme/endpoints/main/write-back", {}, admin.headers()).body;
    if (number_field(status, "pending") == 0 && number_field(status, "in_flight") == 0 &&
        !status.empty() && status.find("\"blocked\":\"\"") != std::string::npos &&
        event_keys(t.resources("AuditEvent")).size() >= static_cast<std::size_t>(events))
      break;
    std::this_thread::sleep_for(50ms);
  }
  auto keys = event_keys(t.resources("AuditEvent"));
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(events)) << status;
  for (const auto& [key, n] : keys) EXPECT_EQ(n, 1) << "none twice: " << key;
  EXPECT_EQ(restarted.stop(), 0);
}

}  // namespace
}  // namespace visitd::test
