// The live path on the real server over TLS: an admin opens a visit and issues a join link; a
// staff member watches the visit's stream while the patient connects with the link (no
// account), waits in the lobby and leaves; the stream shows exactly those events in order, and
// resumes without a gap after a reconnect.

#include "api_client.hpp"
#include "running_server.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace visitd::test {
namespace {

const std::string operator_password = "first operator secret";
const std::string admin_password = "tenant admin secret";

/// `field` of a flat JSON message (tests only: string or number values without escapes).
std::string field(const std::string& json, const std::string& name) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex{"\"" + name + "\":\"?([^\",}]*)"})) return m[1].str();
  return {};
}

TEST(live, a_patient_joins_with_a_link_and_staff_see_each_event_in_order) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& visitd = box.server;
  auto& c = box.connection;

  // Set-up through the API: admin, oracle-health tenant, approved endpoint, visit, join link.
  auto op = sign_in(c, "ops", operator_password);
  auto admin =
    post_json(c, "/api/v1/accounts", R"({"login":"admin1","password":")" + admin_password + R"("})",
              op.headers());
  auto admin_id = json_string_field(admin.body, "id");
  ASSERT_EQ(post_json(c, "/api/v1/tenants",
                      R"({"id":"acme","display_name":"Acme","region":"local","admins":[")" +
                        admin_id + R"("],"approver":")" + admin_id + R"(","ehr":"oracle_health"})",
                      op.headers())
              .status,
            201);
  auto adm = sign_in(c, "admin1", admin_password);
  const std::string base = "/api/v1/tenants/acme";
  ASSERT_EQ(
    post_json(
      c, base + "/endpoints",
      R"({"id":"ep-1","base_url":"https://ehr.example.org/fhir","environment":"test","client_id":"v","client_type":"public"})",
      adm.headers())
      .status,
    201);
  ASSERT_EQ(post_json(c, base + "/endpoints/ep-1/revisions/1/submit", "{}", adm.headers()).status,
            200);
  ASSERT_EQ(post_json(c, base + "/endpoints/ep-1/revisions/1/approve", "{}", adm.headers()).status,
            200);
  auto visit = post_json(
    c, base + "/visits",
    R"({"endpoint":"ep-1","appointment":"Appointment/9","scheduled_start":"2099-01-01T10:00:00Z"})",
    adm.headers());
  ASSERT_EQ(visit.status, 201) << visit.body;
  auto visit_id = json_string_field(visit.body, "id");
  auto link = post_json(c, base + "/visits/" + visit_id + "/join-links", R"({"role":"patient"})",
                        adm.headers());
  ASSERT_EQ(link.status, 201) << link.body;
  auto join_url = json_string_field(link.body, "url");
  const std::string stream = base + "/visits/" + visit_id + "/stream";

  // Staff watch: a snapshot at seq 0 first.
  ws_client staff{visitd.client(), stream, {{"Cookie", adm.cookie}}};
  auto snapshot = staff.read();
  EXPECT_EQ(field(snapshot, "type"), "snapshot") << snapshot;
  EXPECT_EQ(field(snapshot, "seq"), "0") << snapshot;

  {
    // The patient connects with the link alone, and waits first in the lobby.
    ws_client patient{visitd.client(), join_url + "/socket"};
    auto status = patient.read();
    EXPECT_EQ(field(status, "status"), "waiting") << status;
    EXPECT_EQ(field(status, "position"), "1") << status;

    std::vector<std::string> seen;
    for (int i = 0; i < 3; ++i) seen.push_back(staff.read());
    const std::vector<std::pair<std::string, std::string>> expected{
      {"1", "participant_joined"}, {"2", "lobby_entered"}, {"3", "connected"}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(field(seen[i], "seq"), expected[i].first) << seen[i];
      EXPECT_EQ(field(seen[i], "event"), expected[i].second) << seen[i];
      EXPECT_EQ(field(seen[i], "type"), "event") << seen[i];
    }
    EXPECT_EQ(field(seen[0], "role"), "patient") << seen[0];
    const auto patient_id = field(seen[0], "participant");

    // A provider (the admin, linked to an EHR user in this tenant) joins and admits them.
    auto lobby = base + "/visits/" + visit_id;
    EXPECT_EQ(post_json(c, lobby + "/staff/join", "", adm.headers()).status, 403)
      << "staff act as their EHR user: unlinked accounts may not";
    ASSERT_EQ(
      post_json(c, base + "/providers",
                R"({"account":")" + admin_id + R"(","ehr_user":"Practitioner/7"})", adm.headers())
        .status,
      200);
    adm = sign_in(c, "admin1", admin_password);  // a session carries the account's links
    ASSERT_EQ(post_json(c, lobby + "/staff/join", "", adm.headers()).status, 200);
    auto admitted = post_json(c, lobby + "/lobby/admit",
                              R"({"participant":")" + patient_id + R"("})", adm.headers());
    ASSERT_EQ(admitted.status, 200) << admitted.body;
    EXPECT_EQ(field(patient.read(), "status"), "admitted");
    auto again = post_json(c, lobby + "/lobby/admit", R"({"participant":")" + patient_id + R"("})",
                           adm.headers());
    EXPECT_EQ(again.status, 409) << "not in the lobby any more: " << again.body;

    std::vector<std::string> events;
    for (;;) {
      auto m = staff.read();
      events.push_back(field(m, "event"));
      if (events.back() == "visit_started") break;
    }
    const std::vector<std::string> expected_after{"participant_joined", "connected", "admitted",
                                                  "visit_started"};
    EXPECT_EQ(events, expected_after);
    patient.close();
  }
  // Closing the socket is leaving: a durable disconnect.
  auto left = staff.read();
  EXPECT_EQ(field(left, "event"), "disconnected") << left;
  const auto last_seq = field(left, "seq");
  staff.close();

  // A reconnecting view resumes after the last seq it saw: no snapshot, no gap, no duplicate.
  ws_client resumed{visitd.client(), stream + "?after=2", {{"Cookie", adm.cookie}}};
  auto third = resumed.read();
  EXPECT_EQ(field(third, "seq"), "3") << third;
  std::string latest = third;
  while (field(latest, "seq") != last_seq) {
    auto next = resumed.read();
    EXPECT_EQ(std::stoul(field(next, "seq")), std::stoul(field(latest, "seq")) + 1) << next;
    latest = next;
  }
  resumed.close();

  // The durable state agrees: the patient was admitted and is no longer connected.
  auto state = c.request("GET", base + "/visits/" + visit_id, {}, adm.headers());
  EXPECT_NE(state.body.find(R"("role":"patient","status":"admitted","connected":false)"),
            std::string::npos)
    << state.body;
  EXPECT_EQ(visitd.stop(), 0);
}

TEST(live, forged_links_strangers_and_other_origins_are_refused_before_the_upgrade) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& visitd = box.server;
  auto& c = box.connection;
  auto op = sign_in(c, "ops", operator_password);

  auto expect_refused = [&](const std::string& target, const header_list& headers,
                            const std::string& status) {
    try {
      ws_client client{visitd.client(), target, headers};
      ADD_FAILURE() << target << " was upgraded";
    } catch (const upgrade_refused& e) {
      EXPECT_EQ(std::string{e.what()}.substr(0, 3), status) << target << ": " << e.what();
    }
  };
  expect_refused("/join/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/socket", {},
                 "401");
  expect_refused("/api/v1/tenants/acme/visits/v-1/stream", {}, "401");
  expect_refused("/api/v1/tenants/acme/visits/v-1/stream", {{"Cookie", op.cookie}}, "404");
  expect_refused("/api/v1/tenants/acme/visits/v-1/stream",
                 {{"Cookie", op.cookie}, {"Origin", "https://evil.example"}}, "403");
  EXPECT_EQ(visitd.stop(), 0);
}

}  // namespace
}  // namespace visitd::test
