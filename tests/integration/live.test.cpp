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

/// A tenant "acme" whose admin "admin1" approved endpoint ep-1 and opened a visit of
/// Appointment/9 on 2099-01-01 with a patient's join link: where the live tests start.
struct live_visit {
  signed_in_caller adm;
  std::string admin_id;
  std::string visit_id;
  std::string join_url;
};

live_visit set_up_visit(tls_connection& c) {
  live_visit out;
  auto op = sign_in(c, "ops", operator_password);
  auto admin =
    post_json(c, "/api/v1/accounts", R"({"login":"admin1","password":")" + admin_password + R"("})",
              op.headers());
  out.admin_id = json_string_field(admin.body, "id");
  EXPECT_EQ(
    post_json(c, "/api/v1/tenants",
              R"({"id":"acme","display_name":"Acme","region":"local","admins":[")" + out.admin_id +
                R"("],"approver":")" + out.admin_id + R"(","ehr":"oracle_health"})",
              op.headers())
      .status,
    201);
  out.adm = sign_in(c, "admin1", admin_password);
  const std::string base = "/api/v1/tenants/acme";
  EXPECT_EQ(
    post_json(
      c, base + "/endpoints",
      R"({"id":"ep-1","base_url":"https://ehr.example.org/fhir","environment":"test","client_id":"v","client_type":"public"})",
      out.adm.headers())
      .status,
    201);
  EXPECT_EQ(
    post_json(c, base + "/endpoints/ep-1/revisions/1/submit", "{}", out.adm.headers()).status, 200);
  EXPECT_EQ(
    post_json(c, base + "/endpoints/ep-1/revisions/1/approve", "{}", out.adm.headers()).status,
    200);
  auto visit = post_json(
    c, base + "/visits",
    R"({"endpoint":"ep-1","appointment":"Appointment/9","scheduled_start":"2099-01-01T10:00:00Z"})",
    out.adm.headers());
  EXPECT_EQ(visit.status, 201) << visit.body;
  out.visit_id = json_string_field(visit.body, "id");
  auto link = post_json(c, base + "/visits/" + out.visit_id + "/join-links",
                        R"({"role":"patient"})", out.adm.headers());
  EXPECT_EQ(link.status, 201) << link.body;
  out.join_url = json_string_field(link.body, "url");
  return out;
}

TEST(live, a_patient_joins_with_a_link_and_staff_see_each_event_in_order) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& visitd = box.server;
  auto& c = box.connection;

  // Set-up through the API: admin, oracle-health tenant, approved endpoint, visit, join link.
  auto set_up = set_up_visit(c);
  ASSERT_FALSE(HasFailure());
  auto& adm = set_up.adm;
  const auto& admin_id = set_up.admin_id;
  const auto& visit_id = set_up.visit_id;
  const auto& join_url = set_up.join_url;
  const std::string base = "/api/v1/tenants/acme";
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
    auto audit = c.request("GET", "/api/v1/audit?tenant=acme", {}, adm.headers());
    EXPECT_NE(audit.body.find(R"("action":"provider.link","target":")" + admin_id),
              std::string::npos)
      << "the link is an admin action: " << audit.body;
    EXPECT_NE(audit.body.find(R"(\"ehr_user\":\"Practitioner/7\")"), std::string::npos)
      << audit.body;
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

TEST(live, the_visit_list_and_the_tenant_board_follow_the_lobby_and_a_device_check_is_recorded) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& visitd = box.server;
  auto& c = box.connection;
  auto set_up = set_up_visit(c);
  ASSERT_FALSE(HasFailure());
  auto& adm = set_up.adm;
  const std::string base = "/api/v1/tenants/acme";
  auto derm = post_json(
    c, base + "/visits",
    R"({"endpoint":"ep-1","encounter":"Encounter/4","department":"derm","scheduled_start":"2099-01-02T09:00:00Z"})",
    adm.headers());
  ASSERT_EQ(derm.status, 201) << derm.body;
  const auto derm_id = json_string_field(derm.body, "id");

  // The list: both visits by scheduled start; each filter narrows it; bad filters are named.
  auto list = [&](const std::string& query) {
    auto r = c.request("GET", base + "/visits" + query, {}, adm.headers());
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    std::vector<std::string> ids;
    std::smatch m;
    auto body = r.body;
    while (std::regex_search(body, m, std::regex{R"re("id":"([^"]+)")re"})) {
      ids.push_back(m[1].str());
      body = m.suffix();
    }
    return ids;
  };
  EXPECT_EQ(list(""), (std::vector<std::string>{set_up.visit_id, derm_id}));
  EXPECT_EQ(list("?day=2099-01-02"), std::vector<std::string>{derm_id});
  EXPECT_EQ(list("?department=derm"), std::vector<std::string>{derm_id});
  EXPECT_EQ(list("?state=scheduled&day=2099-01-01"), std::vector<std::string>{set_up.visit_id});
  EXPECT_EQ(list("?state=ended"), std::vector<std::string>{});
  for (const auto& [query, named] : std::vector<std::pair<std::string, std::string>>{
         {"?state=done", "state"},
         {"?day=2099-13-01", "day"},
         {"?colour=red", "colour"},
         {"?day=2099-01-01&day=2099-01-02", "day"}}) {
    auto r = c.request("GET", base + "/visits" + query, {}, adm.headers());
    EXPECT_EQ(r.status, 400) << query;
    EXPECT_NE(r.body.find("\"" + named + ":"), std::string::npos) << query << ": " << r.body;
  }
  EXPECT_EQ(c.request("GET", "/api/v1/tenants/other/visits", {}, adm.headers()).status, 404);

  // The board: a snapshot of both visits, then the lobby count of the one the patient joins.
  ws_client board{visitd.client(), base + "/stream", {{"Cookie", adm.cookie}}};
  auto snapshot = board.read();
  EXPECT_EQ(field(snapshot, "type"), "snapshot") << snapshot;
  EXPECT_NE(snapshot.find(set_up.visit_id), std::string::npos) << snapshot;
  EXPECT_NE(snapshot.find(derm_id), std::string::npos) << snapshot;
  ws_client derm_board{visitd.client(), base + "/stream?department=derm", {{"Cookie", adm.cookie}}};
  auto derm_snapshot = derm_board.read();
  EXPECT_EQ(derm_snapshot.find(set_up.visit_id), std::string::npos) << derm_snapshot;
  EXPECT_NE(derm_snapshot.find(derm_id), std::string::npos) << derm_snapshot;

  ws_client patient{visitd.client(), set_up.join_url + "/socket"};
  EXPECT_EQ(field(patient.read(), "status"), "waiting");
  std::string update;
  std::uint64_t last_board_seq = std::stoul(field(snapshot, "seq"));
  for (int i = 0; i < 5 && field(update, "lobby") != "1"; ++i) {
    update = board.read();
    EXPECT_EQ(field(update, "type"), "update") << update;
    EXPECT_GT(std::stoul(field(update, "seq")), last_board_seq) << update;
    last_board_seq = std::stoul(field(update, "seq"));
  }
  EXPECT_EQ(field(update, "id"), set_up.visit_id) << update;
  EXPECT_EQ(field(update, "lobby"), "1") << update;
  EXPECT_THROW(derm_board.read(std::chrono::milliseconds{300}), std::runtime_error)
    << "a department's board hears nothing of other departments' visits";

  // The lobby's device check: recorded durably, and refused with the field named when partial.
  patient.send(R"({"type":"device_test","camera":true,"microphone":true,"speaker":false})");
  auto recorded = patient.read();
  EXPECT_EQ(field(recorded, "type"), "device_test_recorded") << recorded;
  patient.send(R"({"type":"device_test","camera":true})");
  auto refused = patient.read();
  EXPECT_EQ(field(refused, "type"), "error") << refused;
  EXPECT_NE(refused.find("microphone"), std::string::npos) << refused;
  patient.send("not json");
  EXPECT_EQ(field(patient.read(), "code"), "invalid_json");
  ws_client staff{visitd.client(),
                  base + "/visits/" + set_up.visit_id + "/stream?after=0",
                  {{"Cookie", adm.cookie}}};
  std::string event;
  for (int i = 0; i < 10 && field(event, "event") != "device_test_result"; ++i)
    event = staff.read();
  EXPECT_EQ(field(event, "event"), "device_test_result") << event;
  EXPECT_EQ(field(event, "seq"), field(recorded, "seq")) << event;
  EXPECT_NE(event.find(R"("speaker_ok":false)"), std::string::npos) << event;
  patient.close();
  staff.close();
  board.close();
  derm_board.close();
  EXPECT_EQ(visitd.stop(), 0);
}

TEST(live, a_stop_closes_open_sockets_first_so_the_patient_is_recorded_as_gone) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& c = box.connection;
  auto set_up = set_up_visit(c);
  ASSERT_FALSE(HasFailure());
  const std::string base = "/api/v1/tenants/acme";
  ws_client staff{box.server.client(),
                  base + "/visits/" + set_up.visit_id + "/stream",
                  {{"Cookie", set_up.adm.cookie}}};
  EXPECT_EQ(field(staff.read(), "type"), "snapshot");
  ws_client board{box.server.client(), base + "/stream", {{"Cookie", set_up.adm.cookie}}};
  EXPECT_EQ(field(board.read(), "type"), "snapshot");
  ws_client patient{box.server.client(), set_up.join_url + "/socket"};
  EXPECT_EQ(field(patient.read(), "status"), "waiting");

  // Stopped with every socket still open: it must not wait for them forever, and each is told.
  EXPECT_EQ(box.server.stop(), 0);
  auto close_code = [](ws_client& ws) -> int {
    try {
      for (int i = 0; i < 10; ++i) ws.read();
    } catch (const socket_closed& closed) {
      return closed.code;
    } catch (const std::exception&) {
    }
    return -1;
  };
  EXPECT_EQ(close_code(patient), 1001);
  EXPECT_EQ(close_code(board), 1001);
  EXPECT_EQ(close_code(staff), 1001);

  // The patient's socket closed before the actors stopped: its disconnect is durable.
  running_server again{VISITD_BINARY, box.data_dir()};
  again.wait_ready();
  tls_connection c2{again.client()};
  auto adm = sign_in(c2, "admin1", admin_password);
  auto state = c2.request("GET", base + "/visits/" + set_up.visit_id, {}, adm.headers());
  EXPECT_NE(state.body.find(R"("role":"patient","status":"lobby","connected":false)"),
            std::string::npos)
    << state.body;
  EXPECT_EQ(again.stop(), 0);
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
