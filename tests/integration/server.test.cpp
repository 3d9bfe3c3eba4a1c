// The real binary, started on an ephemeral port with a temp data dir: health, readiness, error
// bodies, TLS pinning, limits, plain HTTP on the TLS port, graceful SIGTERM and restart.

#include "child_process.hpp"
#include "running_server.hpp"
#include "storage/store.hpp"
#include "tls_client.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

namespace visitd::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(server, health_readiness_and_error_bodies_over_pinned_tls) {
  temp_dir dir;
  running_server visitd{VISITD_BINARY, dir.path() / "data"};
  visitd.wait_ready();

  auto health = https_get(visitd.client(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.headers["content-type"], "application/json");
  EXPECT_EQ(health.body, R"({"status":"ok"})");

  auto ready = https_get(visitd.client(), "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, R"({"status":"ready"})");

  auto missing = https_get(visitd.client(), "/no/such/thing?x=1");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers["content-type"], "application/json");
  EXPECT_EQ(missing.body,
            R"({"error":{"code":"not_found","message":"no route for GET /no/such/thing"}})");

  tls_connection connection{visitd.client()};
  auto wrong_method = connection.request("DELETE", "/healthz");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.headers["allow"], "GET");
  EXPECT_NE(wrong_method.body.find(R"("code":"method_not_allowed")"), std::string::npos);
  // Same connection again: keep-alive works after an error response.
  EXPECT_EQ(connection.request("GET", "/healthz").status, 200);

  EXPECT_EQ(visitd.stop(), 0);
  // One structured line per request: method, path, status, latency.
  auto log = visitd.log();
  EXPECT_TRUE(std::regex_search(
    log, std::regex{R"(http method=GET path=/no/such/thing status=404 latency_us=\d+)"}))
    << log;
  EXPECT_NE(log.find("stopped cleanly"), std::string::npos) << log;
  EXPECT_TRUE(
    std::regex_search(log, std::regex{R"(recovered tenants=0 endpoints=0 open_visits=0)"}))
    << log;
  EXPECT_NE(log.find("retention visits_purged=0"), std::string::npos) << log;
}

TEST(server, speaks_tls_1_2_and_1_3_and_rejects_unpinned_certificates) {
  temp_dir dir;
  running_server visitd{VISITD_BINARY, dir.path() / "data"};
  visitd.wait_ready();

  tls_connection modern{visitd.client()};
  EXPECT_EQ(modern.protocol(), "TLSv1.3");
  auto tls12_options = visitd.client();
  tls12_options.max_tls_version = TLS1_2_VERSION;
  tls_connection tls12{tls12_options};
  EXPECT_EQ(tls12.protocol(), "TLSv1.2");
  EXPECT_EQ(tls12.request("GET", "/healthz").status, 200);

  // A different certificate as the only trust anchor must fail verification.
  temp_dir other;
  running_server impostor{VISITD_BINARY, other.path() / "data"};
  auto wrong_pin = visitd.client();
  wrong_pin.pinned_certificate_pem = impostor.certificate();
  EXPECT_THROW(tls_connection{wrong_pin}, std::runtime_error);
  EXPECT_EQ(impostor.stop(), 0);
  EXPECT_EQ(visitd.stop(), 0);
}

TEST(server, plain_http_on_the_tls_port_gets_a_clear_rejection) {
  temp_dir dir;
  running_server visitd{VISITD_BINARY, dir.path() / "data"};
  visitd.wait_ready();

  auto reply =
    plain_tcp_exchange("127.0.0.1", visitd.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find(R"("code":"https_required")"), std::string::npos) << reply;
  // Garbage that is neither TLS nor HTTP: the connection just closes.
  plain_tcp_exchange("127.0.0.1", visitd.port(), std::string("\x00\x01\x02garbage\r\n\r\n", 14));

  // The server is unharmed.
  EXPECT_EQ(https_get(visitd.client(), "/healthz").status, 200);
  EXPECT_EQ(visitd.stop(), 0);
}

TEST(server, limits_are_enforced_before_parsing) {
  temp_dir dir;
  running_server visitd{
    VISITD_BINARY, dir.path() / "data", {"--body-limit", "1024", "--header-limit", "2048"}};
  visitd.wait_ready();

  tls_connection big_body{visitd.client()};
  auto too_large = big_body.request("POST", "/healthz", std::string(4096, 'x'));
  EXPECT_EQ(too_large.status, 413);
  EXPECT_NE(too_large.body.find(R"("code":"body_too_large")"), std::string::npos);

  tls_connection big_headers{visitd.client()};
  auto too_many =
    big_headers.request("GET", "/healthz", {}, {{"X-Filler", std::string(4096, 'y')}});
  EXPECT_EQ(too_many.status, 431);
  EXPECT_NE(too_many.body.find(R"("code":"headers_too_large")"), std::string::npos);

  tls_connection malformed{visitd.client()};
  auto bad = malformed.raw("GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find(R"("code":"bad_request")"), std::string::npos);

  EXPECT_EQ(https_get(visitd.client(), "/healthz").status, 200);
  EXPECT_EQ(visitd.stop(), 0);
}

TEST(server, connections_past_the_limit_and_requests_past_the_rate_are_told_why) {
  temp_dir dir;
  running_server visitd{VISITD_BINARY,
                        dir.path() / "data",
                        {"--max-connections", "2", "--request-rate", "5", "--request-burst", "5"}};
  visitd.wait_ready();  // its probes spent some of the burst; let it refill
  std::this_thread::sleep_for(1200ms);
  {
    tls_connection a{visitd.client()};
    tls_connection b{visitd.client()};
    EXPECT_EQ(a.request("GET", "/healthz").status, 200);
    EXPECT_EQ(b.request("GET", "/healthz").status, 200);
    tls_connection third{visitd.client()};
    auto refused = third.request("GET", "/healthz");
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(refused.headers["retry-after"], "1");
    EXPECT_NE(refused.body.find("too_many_connections"), std::string::npos) << refused.body;
    // The connections that were in keep serving.
    EXPECT_EQ(a.request("GET", "/healthz").status, 200);
  }
  std::this_thread::sleep_for(1200ms);  // the closed connections are gone; the bucket refilled
  tls_connection c{visitd.client()};
  int ok = 0;
  int limited = 0;
  for (int i = 0; i < 12; ++i) {
    auto r = c.request("GET", "/healthz");
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++limited;
      EXPECT_EQ(r.headers["retry-after"], "1");
      EXPECT_NE(r.body.find("rate_limited"), std::string::npos) << r.body;
    }
  }
  EXPECT_GE(ok, 5) << "the burst must pass";
  EXPECT_GE(limited, 5) << "beyond the burst, requests must be limited";
  std::this_thread::sleep_for(1200ms);
  EXPECT_EQ(c.request("GET", "/healthz").status, 200) << "the bucket refills";
  EXPECT_EQ(visitd.stop(), 0);
  EXPECT_NE(visitd.log().find("status=503"), std::string::npos);
  EXPECT_NE(visitd.log().find("status=429"), std::string::npos);
}

TEST(server, graceful_stop_and_restart_reuses_the_certificate_and_store) {
  temp_dir dir;
  auto data = dir.path() / "data";
  std::string first_cert;
  {
    running_server visitd{VISITD_BINARY, data};
    visitd.wait_ready();
    first_cert = visitd.certificate();
    EXPECT_EQ(visitd.stop(SIGTERM), 0);
  }
  EXPECT_TRUE(fs::exists(data / "db" / "CURRENT"));
  EXPECT_EQ(fs::status(data / "tls" / "key.pem").permissions() & fs::perms::others_all,
            fs::perms::none);
  {
    running_server visitd{VISITD_BINARY, data};
    visitd.wait_ready();
    EXPECT_EQ(visitd.certificate(), first_cert);
    // The server still presents the original certificate: pinning to it succeeds.
    auto client = visitd.client();
    client.pinned_certificate_pem = first_cert;
    EXPECT_EQ(https_get(client, "/readyz").status, 200);
    EXPECT_EQ(visitd.stop(SIGINT), 0);
  }
}

TEST(server, two_servers_side_by_side) {
  temp_dir dir;
  running_server a{VISITD_BINARY, dir.path() / "a"};
  running_server b{VISITD_BINARY, dir.path() / "b"};
  a.wait_ready();
  b.wait_ready();
  EXPECT_NE(a.port(), b.port());
  EXPECT_NE(a.certificate(), b.certificate());
  EXPECT_EQ(a.stop(), 0);
  EXPECT_EQ(https_get(b.client(), "/healthz").status, 200);
  EXPECT_EQ(b.stop(), 0);
}

TEST(server, second_server_on_a_used_data_dir_fails_clearly) {
  temp_dir dir;
  running_server first{VISITD_BINARY, dir.path() / "data"};
  first.wait_ready();
  auto second =
    run_to_completion(VISITD_BINARY, {"--port", "0", "--data-dir", (dir.path() / "data").string()});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.output.find("cannot start: store"), std::string::npos) << second.output;
  EXPECT_EQ(first.stop(), 0);
}

TEST(server, a_corrupt_store_stops_the_start_with_the_reason) {
  temp_dir dir;
  auto data = dir.path() / "data";
  fs::create_directories(data);
  {
    auto s = storage::open_rocksdb_store({(data / "db").string(), storage::durability::sync});
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->put(storage::column::tenants, "t-broken", "not a tenant record"));
  }
  auto start = run_to_completion(VISITD_BINARY, {"--port", "0", "--data-dir", data.string()});
  EXPECT_EQ(start.exit_code, 1);
  EXPECT_NE(start.output.find("cannot start: recovery"), std::string::npos) << start.output;
  EXPECT_NE(start.output.find("t-broken"), std::string::npos) << start.output;
}

TEST(command_line, help_version_and_bad_options) {
  auto version = run_to_completion(VISITD_BINARY, {"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(std::regex_search(version.output, std::regex{R"(^visitd \d+\.\d+\.\d+)"}));

  auto help = run_to_completion(VISITD_BINARY, {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (auto key : {"--port", "--bind", "--data-dir", "--config", "--durability", "--body-limit"})
    EXPECT_NE(help.output.find(key), std::string::npos) << key;

  auto bad_port = run_to_completion(VISITD_BINARY, {"--port", "99999"});
  EXPECT_EQ(bad_port.exit_code, 2);
  EXPECT_NE(bad_port.output.find("port"), std::string::npos) << bad_port.output;

  auto unknown = run_to_completion(VISITD_BINARY, {"--colour", "blue"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("colour"), std::string::npos) << unknown.output;

  auto bad_mode = run_to_completion(VISITD_BINARY, {"--durability", "fast"});
  EXPECT_EQ(bad_mode.exit_code, 2);
  EXPECT_NE(bad_mode.output.find("durability"), std::string::npos) << bad_mode.output;
}

TEST(command_line, shipped_config_file_starts_the_server) {
  temp_dir dir;
  running_server visitd{VISITD_BINARY,
                        dir.path() / "data",
                        {"--config", std::string{VISITD_SOURCE_DIR} + "/config/visitd.conf"}};
  visitd.wait_ready();
  EXPECT_EQ(visitd.stop(), 0);
}

}  // namespace
}  // namespace visitd::test
