#include "app/config.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace visitd::app {
namespace {

const std::string shipped_config = std::string{VISITD_SOURCE_DIR} + "/config/visitd.conf";

void expect_same(const config& a, const config& b) {
  EXPECT_EQ(a.server.bind_address, b.server.bind_address);
  EXPECT_EQ(a.server.port, b.server.port);
  EXPECT_EQ(a.server.io_threads, b.server.io_threads);
  EXPECT_EQ(a.server.request_limits.body_bytes, b.server.request_limits.body_bytes);
  EXPECT_EQ(a.server.request_limits.header_bytes, b.server.request_limits.header_bytes);
  EXPECT_EQ(a.server.request_limits.idle_timeout, b.server.request_limits.idle_timeout);
  EXPECT_EQ(a.server.request_limits.handshake_timeout, b.server.request_limits.handshake_timeout);
  EXPECT_EQ(a.server.request_limits.max_connections, b.server.request_limits.max_connections);
  EXPECT_EQ(a.server.request_limits.requests_per_second,
            b.server.request_limits.requests_per_second);
  EXPECT_EQ(a.server.request_limits.request_burst, b.server.request_limits.request_burst);
  EXPECT_EQ(a.server.request_limits.websocket_message_bytes,
            b.server.request_limits.websocket_message_bytes);
  EXPECT_EQ(a.server.request_limits.websocket_idle_timeout,
            b.server.request_limits.websocket_idle_timeout);
  EXPECT_EQ(a.server.request_limits.websocket_send_queue,
            b.server.request_limits.websocket_send_queue);
  EXPECT_EQ(a.server.shutdown_grace, b.server.shutdown_grace);
  EXPECT_EQ(a.server.access_log, b.server.access_log);
  EXPECT_EQ(a.data_dir, b.data_dir);
  EXPECT_EQ(a.tls_cert, b.tls_cert);
  EXPECT_EQ(a.tls_key, b.tls_key);
  EXPECT_EQ(a.actor_threads, b.actor_threads);
  EXPECT_EQ(a.sign_in_timeout, b.sign_in_timeout);
  EXPECT_EQ(a.write_back_writes, b.write_back_writes);
  EXPECT_EQ(a.write_back_max_delay, b.write_back_max_delay);
  EXPECT_EQ(a.write_back_breaker_open, b.write_back_breaker_open);
  EXPECT_EQ(a.write_back_concurrency, b.write_back_concurrency);
  EXPECT_EQ(a.durability, b.durability);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.retention.ended_visit_events, b.retention.ended_visit_events);
  EXPECT_EQ(a.retention.report_rows, b.retention.report_rows);
  EXPECT_EQ(a.retention.audit_entries, b.retention.audit_entries);
  EXPECT_EQ(a.retention_interval, b.retention_interval);
  EXPECT_EQ(a.regions, b.regions);
}

TEST(config, shipped_file_states_exactly_the_embedded_defaults) {
  auto defaults = parse_command_line({});
  ASSERT_TRUE(defaults) << defaults.err().message;
  auto from_file = parse_command_line({"--config", shipped_config});
  ASSERT_TRUE(from_file) << from_file.err().message;
  expect_same(defaults->settings, from_file->settings);
  // And the defaults are the documented ones.
  EXPECT_EQ(defaults->settings.server.port, 8443);
  EXPECT_EQ(defaults->settings.server.bind_address, "127.0.0.1");
  EXPECT_EQ(defaults->settings.data_dir, "./data");
  EXPECT_EQ(defaults->settings.durability, storage::durability::sync);
  EXPECT_EQ(defaults->settings.retention.audit_entries, std::chrono::days(2555));
  EXPECT_EQ(defaults->settings.regions.values(), std::vector<std::string>{"local"});
  // A default-constructed config (used without parsing) has the same defaults.
  const config unparsed;
  expect_same(unparsed, defaults->settings);
}

TEST(config, command_line_wins_over_the_file) {
  auto parsed = parse_command_line({"serve", "--config", shipped_config, "--port", "9443",
                                    "--data-dir", "/tmp/x", "--durability", "relaxed"});
  ASSERT_TRUE(parsed) << parsed.err().message;
  EXPECT_EQ(parsed->what, command::serve);
  EXPECT_EQ(parsed->settings.server.port, 9443);
  EXPECT_EQ(parsed->settings.data_dir, "/tmp/x");
  EXPECT_EQ(parsed->settings.durability, storage::durability::relaxed);
}

TEST(config, bad_values_and_unknown_keys_name_the_key) {
  auto dir = std::filesystem::temp_directory_path();
  int files = 0;
  auto write = [&](const std::string& text) {
    auto path = (dir / ("visitd-config-test-" + std::to_string(++files) + ".conf")).string();
    std::ofstream{path} << text;
    return path;
  };
  struct case_t {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<case_t> cases{
    {{"--port", "99999"}, "port"},
    {{"--port", "abc"}, "port"},
    {{"--durability", "fast"}, "durability"},
    {{"--log-level", "loud"}, "log-level"},
    {{"--io-threads", "0"}, "io-threads"},
    {{"--max-connections", "0"}, "max-connections"},
    {{"--websocket-idle-timeout", "1"}, "websocket-idle-timeout"},
    {{"--idle-timeout", "0"}, "idle-timeout"},
    {{"--handshake-timeout", "0"}, "handshake-timeout"},
    {{"--request-rate", "10", "--request-burst", "5"}, "request-burst"},
    {{"--retention-event-days", "0"}, "retention-event-days"},
    {{"--sign-in-timeout", "0"}, "sign-in-timeout"},
    {{"--write-back-max-delay", "0"}, "write-back-max-delay"},
    {{"--write-back-breaker-open", "3601"}, "write-back-breaker-open"},
    {{"--write-back-concurrency", "65"}, "write-back-concurrency"},
    {{"--write-back-writes", "audit-events,faxes"}, "write-back-writes"},
    {{"--ehr-ca", "no-equals-sign"}, "ehr-ca"},
    {{"--nonsense", "1"}, "nonsense"},
    {{"frobnicate"}, "frobnicate"},
    {{"--config", write("port = 8443\ncolour = blue\n")}, "colour"},
    {{"--config", write("idle-timeout = soon\n")}, "idle-timeout"},
    {{"--config", "/no/such/visitd.conf"}, "/no/such/visitd.conf"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_command_line(c.args);
    ASSERT_FALSE(parsed) << c.args.front();
    EXPECT_EQ(parsed.err().code, domain::errc::invalid_argument);
    EXPECT_NE(parsed.err().message.find(c.mentions), std::string::npos)
      << c.mentions << " not in: " << parsed.err().message;
  }
}

TEST(config, retention_audit_days_is_one_to_36500) {
  for (const std::string good : {"1", "2555", "36500"}) {
    auto parsed = parse_command_line({"--retention-audit-days", good});
    ASSERT_TRUE(parsed) << good << ": " << parsed.err().message;
    EXPECT_EQ(parsed->settings.retention.audit_entries, std::chrono::days(std::stoi(good)));
  }
  // "-1" reaches the check as a huge unsigned value (Boost's lexical_cast wraps it).
  for (const std::string bad : {"0", "36501", "-1", "forever", "7y"}) {
    auto parsed = parse_command_line({"--retention-audit-days", bad});
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.err().code, domain::errc::invalid_argument);
    EXPECT_NE(parsed.err().message.find("retention-audit-days"), std::string::npos)
      << bad << ": " << parsed.err().message;
  }
}

TEST(config, regions_are_a_comma_separated_list_of_tags) {
  auto parsed = parse_command_line({"--regions", "eu-west, us-east,ap-1"});
  ASSERT_TRUE(parsed) << parsed.err().message;
  EXPECT_EQ(parsed->settings.regions.values(),
            (std::vector<std::string>{"eu-west", "us-east", "ap-1"}));

  auto dir = std::filesystem::temp_directory_path();
  auto path = (dir / "visitd-config-test-regions.conf").string();
  std::ofstream{path} << "regions = eu-west , eu-central\n";
  parsed = parse_command_line({"--config", path});
  std::filesystem::remove(path);
  ASSERT_TRUE(parsed) << parsed.err().message;
  EXPECT_EQ(parsed->settings.regions.values(), (std::vector<std::string>{"eu-west", "eu-central"}));

  const std::vector<std::string> bad_lists{"",    " ",        "EU",      "eu,,us",
                                           "eu,", "eu,us,eu", "eu west", std::string(33, 'a')};
  for (const auto& bad : bad_lists) {
    parsed = parse_command_line({"--regions", bad});
    ASSERT_FALSE(parsed) << '"' << bad << '"';
    EXPECT_EQ(parsed.err().code, domain::errc::invalid_argument);
    EXPECT_EQ(parsed.err().message.rfind("regions", 0), 0u) << bad << ": " << parsed.err().message;
  }
}

TEST(config, admin_create_operator_takes_a_login) {
  auto parsed = parse_command_line({"admin", "create-operator", "ops", "--data-dir", "/tmp/x"});
  ASSERT_TRUE(parsed) << parsed.err().message;
  EXPECT_EQ(parsed->what, command::create_operator);
  EXPECT_EQ(parsed->login, "ops");
  EXPECT_EQ(parsed->settings.data_dir, "/tmp/x");
  for (std::vector<std::string> bad :
       {std::vector<std::string>{"admin"}, std::vector<std::string>{"admin", "create-operator"},
        std::vector<std::string>{"admin", "drop-all", "x"}}) {
    auto refused = parse_command_line(bad);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.err().message.find("create-operator LOGIN"), std::string::npos);
  }
}

TEST(config, help_and_version) {
  auto help = parse_command_line({"--help"});
  ASSERT_TRUE(help);
  EXPECT_EQ(help->what, command::help);
  EXPECT_NE(help->help_text.find("--retention-event-days"), std::string::npos);
  EXPECT_NE(help->help_text.find("--retention-audit-days"), std::string::npos);
  EXPECT_NE(help->help_text.find("--regions"), std::string::npos);
  EXPECT_NE(help->help_text.find("admin create-operator"), std::string::npos);
  auto version = parse_command_line({"--version"});
  ASSERT_TRUE(version);
  EXPECT_EQ(version->what, command::version);
  EXPECT_EQ(version_string().rfind("visitd ", 0), 0u);
}

}  // namespace
}  // namespace visitd::app
