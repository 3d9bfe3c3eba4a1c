// Hostile input against one real server (issue #5): malformed HTTP, oversized headers and
// bodies, wrong content types, bad JSON, invalid UTF-8, unknown fields, CSRF-less posts,
// cross-tenant ids, forged and expired join links, slowloris connections and oversized or
// invalid WebSocket messages. Each gets the exact status and a JSON error naming what was wrong,
// while a well-behaved client on its own connection keeps writing and reading without a single
// failure, and every write it was told succeeded is still there after kill -9 and a restart.

#include "api_client.hpp"
#include "auth/join_links.hpp"
#include "auth/secret_key.hpp"
#include "domain/join_grant.hpp"
#include "running_server.hpp"
#include "tls_client.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace visitd::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const std::string operator_password = "first operator secret";
const std::string admin_password = "tenant admin secret";

/// The server's options: limits small enough to reach quickly, and a request rate high enough
/// that one address (every client here is 127.0.0.1) is never throttled.
std::vector<std::string> server_args() {
  const std::vector<std::pair<std::string, std::string>> options{
    {"request-rate", "100000"},         {"request-burst", "100000"}, {"idle-timeout", "2"},
    {"handshake-timeout", "2"},         {"body-limit", "8192"},      {"header-limit", "4096"},
    {"websocket-message-limit", "4096"}};
  std::vector<std::string> args;
  for (const auto& [key, value] : options) {
    args.push_back("--" + key);
    args.push_back(value);
  }
  return args;
}

constexpr auto idle_timeout = 2s;  // as in server_args()

const std::string acme = "/api/v1/tenants/acme";
const std::string other = "/api/v1/tenants/other";

/// `tenant`'s path to visit `id`, then `action` (e.g. "/end") if any.
std::string visit_path(const std::string& tenant, const std::string& id,
                       std::string_view action = {}) {
  return std::string{tenant}.append("/visits/").append(id).append(action);
}

/// `r` is exactly `{"error":{"code":"<code>","message":"..."}}` with `status`, served as JSON,
/// and its message contains `names` (the field, limit or reason that was wrong).
::testing::AssertionResult is_error(const http_reply& r, int status, const std::string& code,
                                    const std::string& names) {
  static const std::regex shape{
    R"re(^\{"error":\{"code":"([a-z_]+)","message":"((?:[^"\\]|\\.)*)"\}\}$)re"};
  std::smatch m;
  auto type = r.headers.find("content-type");
  if (r.status != status || type == r.headers.end() || type->second != "application/json" ||
      !std::regex_match(r.body, m, shape) || m[1] != code ||
      m[2].str().find(names) == std::string::npos)
    return ::testing::AssertionFailure() << "expected " << status << " " << code << " naming \""
                                         << names << "\", got " << r.status << " " << r.body;
  return ::testing::AssertionSuccess();
}

/// The refusal of a WebSocket upgrade to `target`: "<status> <body>", or "upgraded".
std::string upgrade_refusal(const tls_client_options& client, const std::string& target) {
  try {
    ws_client ws{client, target};
    return "upgraded";
  } catch (const upgrade_refused& e) {
    return e.what();
  }
}

std::string visit_body(const std::string& appointment,
                       const std::string& start = "2099-01-01T10:00:00Z") {
  return R"({"endpoint":"ep-1","appointment":")" + appointment + R"(","scheduled_start":")" +
         start + R"("})";
}

// -- the box: two tenants, their admins, an approved endpoint, a visit and its join link --------

struct box_state {
  tls_client_options client;
  signed_in_caller op, acme_admin, other_admin;
  std::filesystem::path data_dir;
  std::string acme_admin_id;
  std::string target_visit;  ///< A visit of acme.
  std::string join_token;    ///< A valid patient link to it.
};

box_state set_up(started_box& box) {
  auto& c = box.connection;
  box_state s;
  s.client = box.server.client();
  s.data_dir = box.data_dir();
  s.op = sign_in(c, "ops", operator_password);
  std::vector<std::string> admin_ids;
  for (std::string login : {"admin-acme", "admin-other"}) {
    auto body = std::string{R"({"login":")"}.append(login).append(R"(","password":")");
    auto made =
      post_json(c, "/api/v1/accounts", body.append(admin_password).append(R"("})"), s.op.headers());
    if (made.status != 201) throw std::runtime_error("account: " + made.body);
    admin_ids.push_back(json_string_field(made.body, "id"));
  }
  for (std::size_t i = 0; i < 2; ++i) {
    auto made = post_json(c, "/api/v1/tenants",
                          R"({"id":")" + std::string{i == 0 ? "acme" : "other"} +
                            R"(","display_name":"T","region":"local","admins":[")" + admin_ids[i] +
                            R"("],"approver":")" + admin_ids[i] + R"(","ehr":"oracle_health"})",
                          s.op.headers());
    if (made.status != 201) throw std::runtime_error("tenant: " + made.body);
  }
  s.acme_admin_id = admin_ids[0];
  s.acme_admin = sign_in(c, "admin-acme", admin_password);
  for (
    const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
      {acme + "/endpoints",
       R"({"id":"ep-1","base_url":"https://ehr.example.org/fhir","environment":"test","client_id":"v","client_type":"public"})"},
      {acme + "/endpoints/ep-1/revisions/1/submit", "{}"},
      {acme + "/endpoints/ep-1/revisions/1/approve", "{}"}}) {
    auto done = post_json(c, path, body, s.acme_admin.headers());
    if (done.status != 200 && done.status != 201) throw std::runtime_error(path + ": " + done.body);
  }
  // The other tenant's admin is also linked to an EHR user there, so staff actions through
  // its own tenant get as far as looking the visit up.
  auto other_admin = sign_in(c, "admin-other", admin_password);
  auto linked = post_json(c, other + "/providers",
                          R"({"account":")" + admin_ids[1] + R"(","ehr_user":"Practitioner/1"})",
                          other_admin.headers());
  if (linked.status != 200) throw std::runtime_error("provider: " + linked.body);
  s.other_admin = sign_in(c, "admin-other", admin_password);

  auto visit =
    post_json(c, acme + "/visits", visit_body("Appointment/target"), s.acme_admin.headers());
  if (visit.status != 201) throw std::runtime_error("visit: " + visit.body);
  s.target_visit = json_string_field(visit.body, "id");
  auto link = post_json(c, visit_path(acme, s.target_visit, "/join-links"), R"({"role":"patient"})",
                        s.acme_admin.headers());
  if (link.status != 201) throw std::runtime_error("join link: " + link.body);
  s.join_token = json_string_field(link.body, "token");
  return s;
}

// -- the well-behaved client ------------------------------------------------------------------

/// Opens a visit, reads it back and re-reads an earlier one, over and over on its own
/// connection, until stopped. Every 201 it gets is an acknowledged write; anything unexpected
/// is a failure, recorded with what was sent and received.
class well_behaved_client {
public:
  struct write {
    std::string id;
    std::string appointment;
  };

  well_behaved_client(tls_client_options client, signed_in_caller caller)
    : client_(std::move(client)), caller_(std::move(caller)), thread_([this] { run(); }) {}
  ~well_behaved_client() { stop(); }
  well_behaved_client(const well_behaved_client&) = delete;
  well_behaved_client& operator=(const well_behaved_client&) = delete;

  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] std::size_t acknowledged() const {
    std::lock_guard lock{mutex_};
    return writes_.size();
  }
  [[nodiscard]] std::vector<write> writes() const {
    std::lock_guard lock{mutex_};
    return writes_;
  }
  [[nodiscard]] std::vector<std::string> failures() const {
    std::lock_guard lock{mutex_};
    return failures_;
  }

private:
  void run() {
    std::optional<tls_connection> c;
    for (int i = 0; !stopping_; ++i) {
      try {
        if (!c) c.emplace(client_);
        auto appointment = "Appointment/good-" + std::to_string(i);
        auto made = post_json(*c, acme + "/visits", visit_body(appointment), caller_.headers());
        auto id = json_string_field(made.body, "id");
        if (made.status != 201 || id.empty()) {
          fail(i, "open " + appointment, made);
          continue;
        }
        {
          std::lock_guard lock{mutex_};
          writes_.push_back({id, appointment});
        }
        auto read = c->request("GET", visit_path(acme, id), {}, caller_.headers());
        if (read.status != 200 || read.body.find(appointment) == std::string::npos)
          fail(i, "read " + id, read);
        auto earlier = middle_write();
        auto again = c->request("GET", visit_path(acme, earlier.id), {}, caller_.headers());
        if (again.status != 200 || again.body.find(earlier.appointment) == std::string::npos)
          fail(i, "re-read " + earlier.id, again);
      } catch (const std::exception& e) {
        std::lock_guard lock{mutex_};
        failures_.push_back(std::to_string(i) + ": " + e.what());
        c.reset();  // a new connection for the next round
      }
      std::this_thread::sleep_for(5ms);  // a steady client, not a load generator
    }
  }

  write middle_write() const {
    std::lock_guard lock{mutex_};
    return writes_[writes_.size() / 2];
  }

  void fail(int i, const std::string& what, const http_reply& r) {
    std::lock_guard lock{mutex_};
    failures_.push_back(std::to_string(i) + ": " + what + " -> " + std::to_string(r.status) + " " +
                        r.body);
  }

  tls_client_options client_;
  signed_in_caller caller_;
  mutable std::mutex mutex_;
  std::vector<write> writes_;
  std::vector<std::string> failures_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// -- hostile cases ------------------------------------------------------------------------------

void malformed_http(const box_state& s) {
  struct bad {
    std::string bytes;
    std::string names;
  };
  const std::vector<bad> cases{
    {"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n", "bad field"},
    {"GET /healthz HTTP/7.1\r\nHost: x\r\n\r\n", "bad version"},
    {"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "bad method"},
    {"GET /hea\x01lthz HTTP/1.1\r\nHost: x\r\n\r\n", "bad target"},
    {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01z\r\n\r\n", "bad value"},
    {"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
     "bad Content-Length"},
    {"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
     "multiple Content-Length"},
    {"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     "bad Transfer-Encoding"},
    {"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     "bad chunk"},
    {"GET /healthz HTTP/1.1\nHost: x\n\n", "bad version"},  // bare LF, not CRLF
  };
  for (const auto& [bytes, names] : cases) {
    tls_connection c{s.client};
    auto reply = c.raw(bytes);
    EXPECT_TRUE(is_error(reply, 400, "bad_request", "malformed HTTP request: " + names))
      << std::quoted(bytes);
    EXPECT_EQ(reply.headers["connection"], "close") << std::quoted(bytes);
    EXPECT_TRUE(c.closed_within(2s)) << "a connection that sent garbage is not kept";
  }
  // A good request then garbage on the same connection: the first is answered, then the error.
  tls_connection c{s.client};
  auto first = c.raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_TRUE(is_error(c.raw(""), 400, "bad_request", "malformed HTTP request"));
}

void oversized_headers_and_bodies(const box_state& s) {
  {
    tls_connection c{s.client};
    auto reply = c.request("GET", "/healthz", {}, {{"X-Filler", std::string(6000, 'y')}});
    EXPECT_TRUE(is_error(reply, 431, "headers_too_large", "request headers exceed 4096 bytes"));
  }
  {
    tls_connection c{s.client};
    auto reply =
      c.request("GET", "/healthz", {},
                header_list(400, std::pair<std::string, std::string>{"X-Many", "abcdefgh"}));
    EXPECT_TRUE(is_error(reply, 431, "headers_too_large", "4096"));
  }
  // Refused on the declared length, before the body is read, the route runs or the caller is
  // known (no cookie here: 413, not 401).
  {
    tls_connection c{s.client};
    auto reply = c.raw("POST " + acme +
                       "/visits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100000000\r\n\r\n");
    EXPECT_TRUE(is_error(reply, 413, "body_too_large", "request body exceeds 8192 bytes"));
  }
  {
    tls_connection c{s.client};
    auto reply = post_json(c, acme + "/visits", std::string(9000, ' '), s.acme_admin.headers());
    EXPECT_TRUE(is_error(reply, 413, "body_too_large", "8192"));
  }
  // Chunked: no declared length, refused at the chunk that goes past the limit.
  {
    tls_connection c{s.client};
    auto reply =
      c.raw("POST " + acme +
            "/visits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n1000\r\n" +
            std::string(0x1000, ' ') + "\r\n1000\r\n" + std::string(0x1000, ' ') + "\r\n10\r\n");
    EXPECT_TRUE(is_error(reply, 413, "body_too_large", "8192"));
  }
  // Just under the limit is fine (the limit is the limit, not less).
  {
    tls_connection c{s.client};
    auto body = visit_body("Appointment/padded");
    body.insert(1, std::string(8192 - body.size(), ' '));
    EXPECT_EQ(post_json(c, acme + "/visits", body, s.acme_admin.headers()).status, 201);
  }
}

void wrong_content_types(const box_state& s) {
  tls_connection c{s.client};
  const auto body = visit_body("Appointment/typed");
  for (std::string type : {"text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                           "application/xml", "multipart/form-data; boundary=x", ""}) {
    auto headers = s.acme_admin.headers();
    if (!type.empty()) headers.emplace_back("Content-Type", type);
    auto reply = c.request("POST", acme + "/visits", body, headers);
    EXPECT_TRUE(is_error(reply, 415, "unsupported_media_type", "application/json")) << type;
  }
  // The same body as JSON (with a charset parameter) is accepted: it was only the type.
  auto headers = s.acme_admin.headers();
  headers.emplace_back("Content-Type", "Application/JSON; charset=utf-8");
  EXPECT_EQ(c.request("POST", acme + "/visits", body, headers).status, 201);
}

void bad_json(const box_state& s) {
  tls_connection c{s.client};
  const std::string deep = std::string(3000, '[') + std::string(3000, ']');
  for (const auto& body :
       {std::string{R"({"endpoint":"ep-1",)"}, std::string{R"({"endpoint":"ep-1"} x)"},
        std::string{R"({'endpoint':'ep-1'})"}, std::string{R"({"endpoint":"ep-1",})"},
        std::string{R"({"endpoint":NaN})"}, std::string{"{/* c */}"}, std::string{""},
        std::string{"\"a\"\"b\""}, deep, std::string{R"({"endpoint":"a\qb"})"},
        std::string{"{\"endpoint\":\"a\nb\"}"}}) {
    auto reply = post_json(c, acme + "/visits", body, s.acme_admin.headers());
    EXPECT_TRUE(is_error(reply, 400, "invalid_json", "the body is not valid JSON"))
      << std::quoted(body.substr(0, 60));
  }
  for (const auto& body :
       {std::string{"[]"}, std::string{"\"visit\""}, std::string{"42"}, std::string{"null"}}) {
    auto reply = post_json(c, acme + "/visits", body, s.acme_admin.headers());
    EXPECT_TRUE(is_error(reply, 400, "invalid_json", "the body must be a JSON object")) << body;
  }
}

void invalid_utf8(const box_state& s) {
  tls_connection c{s.client};
  for (std::string bad : {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf8\x88\x80\x80\x80",
                          "\xf4\x90\x80\x80", "\x80"}) {
    auto body = visit_body("Appointment/u" + bad + "tf8");
    auto reply = post_json(c, acme + "/visits", body, s.acme_admin.headers());
    EXPECT_TRUE(is_error(reply, 400, "invalid_json", "UTF-8")) << std::quoted(body);
    // In a field name as well.
    auto in_name =
      post_json(c, acme + "/visits", "{\"end" + bad + "point\":\"ep-1\"}", s.acme_admin.headers());
    EXPECT_TRUE(is_error(in_name, 400, "invalid_json", "UTF-8"));
  }
  // An escaped lone surrogate is not a character either.
  auto lone =
    post_json(c, acme + "/visits", visit_body(R"(Appointment/\ud800x)"), s.acme_admin.headers());
  EXPECT_TRUE(is_error(lone, 400, "invalid_json", "not valid JSON"));
  // Valid multi-byte UTF-8 where free text is allowed is stored and given back as sent.
  const std::string name = "Cl\xc3\xadnica S\xc3\xa3o Paulo \xf0\x9f\x98\x80";
  auto made =
    post_json(c, "/api/v1/tenants",
              R"({"id":"unicode","display_name":")" + name + R"(","region":"local","admins":[")" +
                s.acme_admin_id + R"("],"approver":")" + s.acme_admin_id + R"(","ehr":"epic"})",
              s.op.headers());
  EXPECT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(json_string_field(made.body, "display_name"), name) << made.body;
}

void unknown_and_invalid_fields(const box_state& s) {
  tls_connection c{s.client};
  const std::string good = R"("endpoint":"ep-1","scheduled_start":"2099-01-01T10:00:00Z")";
  struct bad {
    std::string body;
    std::string code;
    std::string names;
  };
  const std::vector<bad> cases{
    {"{" + good + R"(,"appointment":"Appointment/f1","tenant":"other"})", "unknown_field",
     "tenant: is not a field of this request"},
    {"{" + good + R"(,"appointment":"Appointment/f1","Endpoint":"ep-1"})", "unknown_field",
     "Endpoint: is not a field"},
    {"{" + good + R"(,"appointment":"Appointment/f1","appointment":"Appointment/f2"})",
     "invalid_field", "appointment: appears twice"},
    {"{" + good + R"(,"appointment":{"reference":"Appointment/f1"}})", "invalid_field",
     "appointment: must not be an object"},
    {"{" + good + R"(,"appointment":["Appointment/f1"]})", "invalid_field",
     "appointment: must be a string"},
    {R"({"endpoint":7,"appointment":"Appointment/f1","scheduled_start":"2099-01-01T10:00:00Z"})",
     "invalid_field", "endpoint: must be a string"},
    {R"({"endpoint":"ep-1","appointment":"Appointment/f1","scheduled_start":"soon"})",
     "invalid_argument", "scheduled_start: expected an RFC 3339 time"},
    {R"({"endpoint":"ep-1","appointment":"Appointment/f1"})", "invalid_field",
     "scheduled_start: is required"},
    {"{" + good + R"(,"appointment":")" + std::string(300, 'a') + "\"}", "invalid_field",
     "appointment: must be at most 256 bytes"},
  };
  for (const auto& [body, code, names] : cases) {
    auto reply = post_json(c, acme + "/visits", body, s.acme_admin.headers());
    EXPECT_TRUE(is_error(reply, 400, code, names)) << body;
  }
  // None of them opened the visit: the first valid request for it creates it.
  auto made = post_json(c, acme + "/visits", visit_body("Appointment/f1"), s.acme_admin.headers());
  EXPECT_EQ(made.status, 201) << made.body;
  // Other routes name their unknown fields too.
  auto link =
    post_json(c, visit_path(acme, s.target_visit, "/join-links"),
              R"({"role":"patient","expires_at":"2199-01-01T00:00:00Z"})", s.acme_admin.headers());
  EXPECT_TRUE(is_error(link, 400, "unknown_field", "expires_at: is not a field"));
  auto sign = post_json(c, "/api/v1/session", R"({"login":"ops","password":"x","operator":true})");
  EXPECT_TRUE(is_error(sign, 400, "unknown_field", "operator: is not a field"));
}

void csrf_less_posts(const box_state& s) {
  tls_connection c{s.client};
  const auto body = visit_body("Appointment/csrf");
  const header_list cookie_only{{"Cookie", s.acme_admin.cookie}};
  for (const auto& headers :
       {cookie_only, header_list{{"Cookie", s.acme_admin.cookie}, {"X-CSRF-Token", ""}},
        header_list{{"Cookie", s.acme_admin.cookie}, {"X-CSRF-Token", s.acme_admin.csrf + "x"}},
        header_list{{"Cookie", s.acme_admin.cookie}, {"X-CSRF-Token", s.other_admin.csrf}},
        header_list{{"Cookie", s.acme_admin.cookie + "; __Host-csrf=" + s.acme_admin.csrf}}}) {
    auto reply = post_json(c, acme + "/visits", body, headers);
    EXPECT_TRUE(is_error(reply, 403, "csrf_token_mismatch", "X-CSRF-Token")) << reply.body;
  }
  for (const auto& path :
       {visit_path(acme, s.target_visit, "/join-links"), visit_path(acme, s.target_visit, "/end"),
        std::string{"/api/v1/accounts"}}) {
    auto reply = post_json(c, path, R"({"role":"patient"})", cookie_only);
    EXPECT_TRUE(is_error(reply, 403, "csrf_token_mismatch", "X-CSRF-Token")) << path;
  }
  EXPECT_TRUE(is_error(c.request("DELETE", "/api/v1/session", {}, cookie_only), 403,
                       "csrf_token_mismatch", "X-CSRF-Token"));
  // No session at all is 401, whatever the CSRF header says.
  EXPECT_TRUE(is_error(post_json(c, acme + "/visits", body, {{"X-CSRF-Token", s.acme_admin.csrf}}),
                       401, "unauthenticated", "sign in"));
  // None of them wrote anything: the visit is new, the session still signed in, the target open.
  EXPECT_EQ(post_json(c, acme + "/visits", body, s.acme_admin.headers()).status, 201);
  EXPECT_EQ(c.request("GET", "/api/v1/session", {}, cookie_only).status, 200);
  auto target = c.request("GET", visit_path(acme, s.target_visit), {}, cookie_only);
  EXPECT_EQ(target.status, 200);
  EXPECT_EQ(target.body.find(R"("status":"ended")"), std::string::npos) << target.body;
}

void cross_tenant_ids(const box_state& s) {
  tls_connection c{s.client};
  const auto& v = s.target_visit;
  const auto& them = s.other_admin;
  const std::string unknown_visit = "v-00000000000000000000000000000000";
  // Through acme (not theirs): exactly what a tenant that does not exist looks like.
  const auto no_tenant = c.request("GET", "/api/v1/tenants/nope/visits/" + v, {}, them.headers());
  ASSERT_TRUE(is_error(no_tenant, 404, "not_found", "no such tenant"));
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
         {"GET", visit_path(acme, v)},
         {"GET", acme},
         {"GET", acme + "/endpoints"},
         {"POST", visit_path(acme, v, "/join-links")},
         {"POST", visit_path(acme, v, "/end")},
         {"POST", visit_path(acme, v, "/lobby/admit-all")},
         {"POST", acme + "/visits"}}) {
    std::string body;
    if (path.ends_with("join-links")) body = R"({"role":"patient"})";
    if (path.ends_with("visits")) body = visit_body("Appointment/theirs");
    auto reply = method == "GET" ? c.request("GET", path, {}, them.headers())
                                 : post_json(c, path, body, them.headers());
    EXPECT_EQ(reply.status, 404) << method << " " << path;
    EXPECT_EQ(reply.body, no_tenant.body)
      << method << " " << path << " must look like a tenant that does not exist";
  }
  // Through their own tenant: exactly what a visit that does not exist looks like.
  const auto no_visit = c.request("GET", visit_path(other, unknown_visit), {}, them.headers());
  ASSERT_TRUE(is_error(no_visit, 404, "not_found", "no such visit"));
  for (const auto& path :
       {visit_path(other, v, "/join-links"), visit_path(other, v, "/end"),
        visit_path(other, v, "/staff/join"), visit_path(other, v, "/lobby/admit-all")}) {
    auto reply = post_json(c, path, path.ends_with("join-links") ? R"({"role":"patient"})" : "",
                           them.headers());
    EXPECT_EQ(reply.body, no_visit.body) << path << ": " << reply.status;
  }
  auto read = c.request("GET", visit_path(other, v), {}, them.headers());
  EXPECT_EQ(read.body, no_visit.body);
  EXPECT_EQ(read.status, 404);
  auto audit = c.request("GET", "/api/v1/audit?tenant=acme", {}, them.headers());
  EXPECT_TRUE(is_error(audit, 404, "not_found", "tenant"));
  // Their stream socket cannot watch it either, through either tenant.
  auto client = s.client;
  for (const auto& path : {visit_path(acme, v, "/stream"), visit_path(other, v, "/stream")}) {
    try {
      ws_client ws{client, path, {{"Cookie", them.cookie}}};
      ADD_FAILURE() << path << " was upgraded";
    } catch (const upgrade_refused& e) {
      EXPECT_EQ(std::string{e.what()}.substr(0, 4), "404 ") << path << ": " << e.what();
    }
  }
  // And the visit was not touched: still open, nobody joined through the other tenant.
  auto mine = c.request("GET", visit_path(acme, v), {}, s.acme_admin.headers());
  EXPECT_EQ(mine.status, 200);
  EXPECT_EQ(mine.body.find(R"("status":"ended")"), std::string::npos) << mine.body;
  EXPECT_EQ(mine.body.find("\"provider\""), std::string::npos) << mine.body;
}

void forged_join_links(const box_state& s) {
  const auto& token = s.join_token;
  ASSERT_GT(token.size(), 40u);
  auto flip = [](std::string t, std::size_t at) {
    t[at] = t[at] == 'A' ? 'B' : 'A';
    return t;
  };
  for (const auto& forged :
       {flip(token, token.size() / 2), flip(token, 0), flip(token, 5),
        flip(token, token.size() - 3), token.substr(0, token.size() - 4), token + "AAAA",
        std::string(600, 'A'), std::string{"not-a-token"}, std::string{"%00%ff"}}) {
    auto refusal = upgrade_refusal(s.client, "/join/" + forged + "/socket");
    EXPECT_EQ(refusal.substr(0, 4), "401 ") << forged << ": " << refusal;
    EXPECT_NE(refusal.find(R"("code":"unauthenticated","message":"join link is not valid")"),
              std::string::npos)
      << refusal;
  }
  // The genuine link still works (and so was not what made those fail).
  ws_client patient{s.client, "/join/" + token + "/socket"};
  EXPECT_NE(patient.read().find(R"("status":"waiting")"), std::string::npos);
  patient.close();
}

/// A join link sealed here with `key` (the box's own, read from its data dir, or another one)
/// for `visit`, expiring at `expires_at`: links with any deadline, without waiting for one.
std::string seal_link(const auth::secret_key& key, const std::string& visit,
                      std::chrono::system_clock::time_point expires_at) {
  auto grant = domain::make_join_grant(
    *domain::visit_id::parse(visit), domain::participant_role::guest,
    *domain::join_id::parse("j-hostile-" + std::to_string(expires_at.time_since_epoch().count())),
    std::chrono::time_point_cast<domain::duration>(expires_at));
  if (!grant) throw std::runtime_error(grant.err().message);
  return auth::seal_join_link(key, *grant);
}

void expired_and_foreign_join_links(const box_state& s) {
  auto key = auth::load_or_create_key(s.data_dir / "keys" / "join-link.key");
  ASSERT_TRUE(key) << key.err().message;
  const auto now = std::chrono::system_clock::now();
  // The same sealing with a deadline ahead is accepted: only the deadline differs below.
  {
    ws_client guest{s.client, "/join/" + seal_link(*key, s.target_visit, now + 1h) + "/socket"};
    EXPECT_NE(guest.read().find(R"("status":"waiting")"), std::string::npos);
    guest.close();
  }
  for (std::chrono::seconds ago : {1s, std::chrono::seconds{1h}, std::chrono::seconds{24h * 365}}) {
    auto refusal =
      upgrade_refusal(s.client, "/join/" + seal_link(*key, s.target_visit, now - ago) + "/socket");
    EXPECT_EQ(refusal.substr(0, 4), "401 ") << refusal;
    EXPECT_NE(refusal.find(R"("code":"unauthenticated","message":"join link has expired")"),
              std::string::npos)
      << refusal;
  }
  // Well formed, unexpired, for a real visit, but sealed by another box's key.
  auto foreign = seal_link(auth::secret_key::generate(), s.target_visit, now + 1h);
  auto refusal = upgrade_refusal(s.client, "/join/" + foreign + "/socket");
  EXPECT_EQ(refusal.substr(0, 4), "401 ") << refusal;
  EXPECT_NE(refusal.find(R"("message":"join link is not valid")"), std::string::npos) << refusal;
}

void oversized_and_invalid_websocket_messages(const box_state& s) {
  for (const auto& [message, code] :
       std::vector<std::pair<std::string, std::uint16_t>>{{std::string(4097, 'x'), 1009},
                                                          {std::string(12000, 'x'), 1009},
                                                          {"caf\xc3\x28", 1007},
                                                          {std::string{"\xff\xfe"}, 1007}}) {
    ws_client patient{s.client, "/join/" + s.join_token + "/socket"};
    EXPECT_NE(patient.read().find(R"("status":"waiting")"), std::string::npos);
    patient.send(message);
    try {
      for (;;) patient.read();  // status updates may come first; then the close
    } catch (const socket_closed& e) {
      EXPECT_EQ(e.code, code) << message.size() << " bytes: " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << message.size() << " bytes: not closed by the server: " << e.what();
    }
  }
  // Right at the limit is not closed (whatever the route makes of the text, if it answers).
  ws_client patient{s.client, "/join/" + s.join_token + "/socket"};
  EXPECT_NE(patient.read().find(R"("status":"waiting")"), std::string::npos);
  patient.send(std::string(4096, ' '));
  try {
    patient.read(300ms);
  } catch (const socket_closed& e) {
    ADD_FAILURE() << "a message of exactly the limit closed the socket: " << e.what();
  } catch (const std::runtime_error&) {
    // No answer within the timeout, and no close: the socket is still open.
  }
}

/// Sends `prefix` at once, then `slow` one byte every 100 ms, then `filler` bytes at the same
/// pace, until the server closes the connection. Returns how long that took from the end of the
/// TLS handshake (at most 10 s), and how many bytes went slowly in `sent`.
clock_type::duration trickle_until_closed(const tls_client_options& client,
                                          const std::string& prefix, const std::string& slow,
                                          char filler, std::size_t& sent) {
  tls_connection c{client};
  const auto started = clock_type::now();
  sent = 0;
  if (!c.send(prefix)) return clock_type::now() - started;
  while (clock_type::now() - started < 10s) {
    if (!c.send(std::string(1, sent < slow.size() ? slow[sent] : filler))) break;
    ++sent;
    if (c.closed_within(100ms)) break;
  }
  return clock_type::now() - started;
}

void slow_clients(const box_state& s) {
  auto header_bytes = std::async(std::launch::async, [&] {
    std::size_t sent = 0;
    auto took = trickle_until_closed(s.client, "", "GET /healthz HTTP/1.1\r\nX-Slow: ", 'a', sent);
    return std::pair{took, sent};
  });
  auto body_bytes = std::async(std::launch::async, [&] {
    std::size_t sent = 0;
    auto took = trickle_until_closed(
      s.client,
      "POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n",
      "{\"login\":\"", 'a', sent);
    return std::pair{took, sent};
  });
  // A TCP connection that never starts its TLS handshake.
  auto no_handshake = std::async(std::launch::async, [&] {
    const auto started = clock_type::now();
    auto got = plain_tcp_exchange(s.client.host, s.client.port, "");
    return std::pair{clock_type::now() - started, got};
  });
  for (auto* slow : {&header_bytes, &body_bytes}) {
    auto [took, sent] = slow->get();
    // Still sending a byte every 100 ms, so never idle: closed by the deadline for the whole
    // request, not for a silence.
    EXPECT_GE(took, idle_timeout - 300ms) << sent << " bytes";
    EXPECT_LE(took, idle_timeout + 2s) << sent << " bytes";
    EXPECT_GE(sent, 10u);
  }
  auto [took, got] = no_handshake.get();
  EXPECT_GE(took, idle_timeout - 300ms);  // handshake-timeout, also 2 s
  EXPECT_LE(took, idle_timeout + 2s);
  EXPECT_EQ(got, "");
}

/// A keep-alive connection may stay quiet for most of its idle time and then send a request
/// that takes a while to answer (a sign-in hashes a password): the answer must still arrive,
/// however little of the idle time was left when the request came in.
void slow_answer_after_a_quiet_spell(const box_state& s) {
  const std::string sign_in_body =
    R"({"login":"admin-acme","password":")" + admin_password + R"("})";
  tls_connection c{s.client};
  const auto asked = clock_type::now();
  ASSERT_EQ(post_json(c, "/api/v1/session", sign_in_body).status, 201);
  const auto hashing = clock_type::now() - asked;
  // Quiet until the idle deadline falls in the middle of the next sign-in's hashing.
  std::this_thread::sleep_for(idle_timeout - hashing / 2);
  try {
    auto in = post_json(c, "/api/v1/session", sign_in_body);
    EXPECT_EQ(in.status, 201) << in.body;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a request sent within the idle time got no answer (a sign-in takes "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(hashing).count()
                  << " ms): " << e.what();
  }
}

// -- the suite ----------------------------------------------------------------------------------

TEST(hostile_input, every_bad_request_gets_a_clear_error_and_a_good_client_loses_nothing) {
  std::signal(SIGPIPE, SIG_IGN);  // writes to sockets the server closed must fail, not kill us
  const auto began = clock_type::now();
  started_box box{VISITD_BINARY, "ops", operator_password, server_args()};
  const auto s = set_up(box);

  well_behaved_client good{s.client, s.acme_admin};
  while (good.acknowledged() < 5 && clock_type::now() - began < 20s)
    std::this_thread::sleep_for(10ms);
  const auto before = good.acknowledged();
  ASSERT_GE(before, 5u) << "the well-behaved client never got going";

  // The slow cases take seconds of waiting each: they run beside the others.
  auto slow = std::async(std::launch::async, [&] {
    slow_clients(s);
    slow_answer_after_a_quiet_spell(s);
  });
  struct named_case {
    const char* name;
    void (*run)(const box_state&);
  };
  for (const auto& [name, run] : std::vector<named_case>{
         {"malformed HTTP", malformed_http},
         {"oversized headers and bodies", oversized_headers_and_bodies},
         {"wrong content types", wrong_content_types},
         {"bad JSON", bad_json},
         {"invalid UTF-8", invalid_utf8},
         {"unknown and invalid fields", unknown_and_invalid_fields},
         {"CSRF-less posts", csrf_less_posts},
         {"cross-tenant ids", cross_tenant_ids},
         {"forged join links", forged_join_links},
         {"expired and foreign join links", expired_and_foreign_join_links},
         {"oversized and invalid WebSocket messages", oversized_and_invalid_websocket_messages}}) {
    SCOPED_TRACE(name);
    try {
      run(s);
    } catch (const std::exception& e) {  // e.g. the server closed a connection it should not have
      ADD_FAILURE() << e.what();
    }
  }
  slow.get();

  const auto during = good.acknowledged() - before;
  good.stop();
  const auto failures = good.failures();
  for (std::size_t i = 0; i < std::min<std::size_t>(failures.size(), 10); ++i)
    ADD_FAILURE() << "well-behaved client: " << failures[i];
  EXPECT_EQ(failures.size(), 0u) << "failures of the well-behaved client (the first 10 above)";
  EXPECT_GE(during, 10u) << "the well-behaved client must keep writing while the attacks run";
  EXPECT_EQ(https_get(s.client, "/healthz").status, 200);

  // Every acknowledged write is readable, then again after kill -9 and a restart.
  const auto writes = good.writes();
  auto check_all = [&](const tls_client_options& client, const char* when) {
    tls_connection c{client};
    std::size_t missing = 0;
    for (const auto& w : writes) {
      auto r = c.request("GET", visit_path(acme, w.id), {}, s.acme_admin.headers());
      if (r.status != 200 || r.body.find(w.appointment) == std::string::npos) {
        if (++missing <= 5) ADD_FAILURE() << when << ": " << w.id << " -> " << r.status << r.body;
      }
    }
    EXPECT_EQ(missing, 0u) << when << ", of " << writes.size() << " acknowledged writes";
  };
  check_all(s.client, "before the restart");
  EXPECT_EQ(box.server.stop(SIGKILL), 128 + SIGKILL) << "the server was still running";
  running_server again{VISITD_BINARY, box.data_dir(), server_args()};
  again.wait_ready();
  check_all(again.client(), "after kill -9 and restart");
  EXPECT_EQ(again.stop(), 0);
  std::cout
    << "[ hostile  ] " << writes.size() << " acknowledged writes (" << during
    << " during the attacks) in "
    << std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - began).count()
    << " ms\n";
}

}  // namespace
}  // namespace visitd::test
