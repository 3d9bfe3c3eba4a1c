// Signing in to the real server over TLS: the first operator made by `visitd admin
// create-operator`, session cookies and their flags, CSRF on sign-out, bad bodies, wrong
// passwords and the sign-in limit, and a session that survives a restart.

#include "api_client.hpp"
#include "child_process.hpp"
#include "running_server.hpp"
#include "tls_client.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace visitd::test {
namespace {

const std::string password = "first operator secret";

void create_operator(const fs::path& data) {
  test::create_operator(VISITD_BINARY, data, "ops", password);
}

TEST(sessions, sign_in_who_am_i_and_sign_out_with_csrf) {
  started_box box{VISITD_BINARY, "ops", password};
  auto& visitd = box.server;
  auto& c = box.connection;

  auto in = post_json(c, "/api/v1/session", R"({"login":"OPS","password":")" + password + R"("})");
  ASSERT_EQ(in.status, 201) << in.body;
  const auto& set_cookie = in.headers["set-cookie"];
  EXPECT_NE(set_cookie.find("__Host-session="), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("Secure"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos) << set_cookie;
  EXPECT_NE(in.body.find(R"("operator":true)"), std::string::npos) << in.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(in.body, m, std::regex{R"re("csrf_token":"([^"]+)")re"}))
    << in.body;
  const std::string csrf = m[1];
  const auto session = cookie_pair(set_cookie, "__Host-session");
  ASSERT_FALSE(session.empty()) << set_cookie;

  auto me = c.request("GET", "/api/v1/session", {}, {{"Cookie", session}});
  EXPECT_EQ(me.status, 200) << me.body;
  EXPECT_NE(me.body.find(R"("operator":true)"), std::string::npos) << me.body;
  EXPECT_EQ(c.request("GET", "/api/v1/session").status, 401);

  auto no_csrf = c.request("DELETE", "/api/v1/session", {}, {{"Cookie", session}});
  EXPECT_EQ(no_csrf.status, 403) << no_csrf.body;
  EXPECT_NE(no_csrf.body.find("csrf_token_mismatch"), std::string::npos);
  auto wrong_csrf =
    c.request("DELETE", "/api/v1/session", {}, {{"Cookie", session}, {"X-CSRF-Token", csrf + "x"}});
  EXPECT_EQ(wrong_csrf.status, 403);
  auto out =
    c.request("DELETE", "/api/v1/session", {}, {{"Cookie", session}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(out.status, 204) << out.body;
  EXPECT_NE(out.headers["set-cookie"].find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(c.request("GET", "/api/v1/session", {}, {{"Cookie", session}}).status, 401);
  EXPECT_EQ(visitd.stop(), 0);
}

TEST(sessions, bad_bodies_wrong_passwords_and_the_sign_in_limit) {
  started_box box{VISITD_BINARY, "ops", password};
  auto& visitd = box.server;
  auto& c = box.connection;

  auto form = c.request("POST", "/api/v1/session", "login=ops",
                        {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(form.status, 415) << form.body;
  auto broken = post_json(c, "/api/v1/session", R"({"login":"ops",)");
  EXPECT_EQ(broken.status, 400);
  EXPECT_NE(broken.body.find("invalid_json"), std::string::npos) << broken.body;
  auto bad_utf8 = post_json(c, "/api/v1/session", "{\"login\":\"o\xff\",\"password\":\"x\"}");
  EXPECT_EQ(bad_utf8.status, 400) << bad_utf8.body;
  auto unknown = post_json(c, "/api/v1/session", R"({"login":"ops","password":"x","admin":true})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("admin: is not a field"), std::string::npos) << unknown.body;
  auto missing = post_json(c, "/api/v1/session", R"({"login":"ops"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("password: is required"), std::string::npos) << missing.body;

  for (int i = 0; i < 5; ++i) {
    auto wrong = post_json(c, "/api/v1/session", R"({"login":"ops","password":"not it at all"})");
    ASSERT_EQ(wrong.status, 401) << wrong.body;
    EXPECT_NE(wrong.body.find("login or password is wrong"), std::string::npos);
  }
  auto limited =
    post_json(c, "/api/v1/session", R"({"login":"ops","password":")" + password + R"("})");
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_NE(limited.body.find("rate_limited"), std::string::npos);
  EXPECT_EQ(visitd.stop(), 0);
}

TEST(sessions, a_session_survives_a_restart_of_the_server) {
  temp_dir dir;
  auto data = dir.path() / "data";
  create_operator(data);
  std::string session;
  {
    running_server visitd{VISITD_BINARY, data};
    visitd.wait_ready();
    tls_connection c{visitd.client()};
    auto in =
      post_json(c, "/api/v1/session", R"({"login":"ops","password":")" + password + R"("})");
    ASSERT_EQ(in.status, 201) << in.body;
    session = cookie_pair(in.headers["set-cookie"], "__Host-session");
    EXPECT_EQ(visitd.stop(SIGKILL), 128 + SIGKILL);  // acknowledged means durable
  }
  running_server again{VISITD_BINARY, data};
  again.wait_ready();
  tls_connection c{again.client()};
  EXPECT_EQ(c.request("GET", "/api/v1/session", {}, {{"Cookie", session}}).status, 200);
  EXPECT_EQ(again.stop(), 0);
}

}  // namespace
}  // namespace visitd::test
