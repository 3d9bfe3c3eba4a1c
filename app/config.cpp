#include "app/config.hpp"

#include <boost/program_options.hpp>

#include <fstream>
#include <set>
#include <sstream>

#ifndef VISITD_VERSION
#define VISITD_VERSION "0.0.0"
#endif

namespace visitd::app {

namespace po = boost::program_options;
using domain::errc;
using domain::make_error;

std::string version_string() {
  return "visitd " VISITD_VERSION;
}

namespace {

// Plain holders for values whose type in `config` is not what the user types.
struct raw_values {
  std::string durability = "sync";
  std::size_t idle_timeout_s = 30;
  std::size_t handshake_timeout_s = 10;
  std::size_t websocket_idle_timeout_s = 30;
  std::size_t shutdown_grace_ms = 5000;
  std::size_t retention_event_days = 30;
  std::size_t retention_report_days = 730;
  std::size_t retention_audit_days =
    static_cast<std::size_t>(storage::retention_policy{}.audit_entries.count());
  std::size_t retention_interval_minutes = 60;
  std::string regions{config::default_regions};
  std::vector<std::string> ehr_ca;
  std::size_t sign_in_timeout_s = 600;
  std::size_t write_back_max_delay_s = 300;
  std::size_t write_back_breaker_open_s = 30;
  std::size_t write_back_concurrency = 4;
  std::string write_back_writes = "audit-events,encounters,appointments";
};

/// "audit-events,encounters,appointments" (any subset, in any order) or "none".
domain::result<domain::write_back_targets> parse_write_back_writes(std::string_view text) {
  domain::write_back_targets t{false, false, false};
  if (text == "none") return t;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    if (item == "audit-events")
      t.audit_events = true;
    else if (item == "encounters")
      t.encounters = true;
    else if (item == "appointments")
      t.appointments = true;
    else
      return make_error(errc::invalid_argument,
                        "write-back-writes must list audit-events, encounters, appointments or "
                        "be none; got \"" +
                          std::string{text} + "\"");
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return t;
}

// A century: longer is a typo, and it keeps `now - days` far from overflowing.
constexpr std::size_t max_retention_audit_days = 36500;

po::options_description server_options(config& c, raw_values& raw) {
  po::options_description d{"Server options (command line or config file)"};
  auto& s = c.server;
  auto& l = s.request_limits;
  // One statement per option: clang-format keeps these readable, unlike one long chain.
  auto add = d.add_options();
  add("bind", po::value(&s.bind_address)->default_value(s.bind_address), "IP address to listen on");
  add("port", po::value(&s.port)->default_value(s.port), "TCP port for HTTPS (0: pick a free one)");
  add("data-dir", po::value(&c.data_dir)->default_value(c.data_dir),
      "directory of the RocksDB store and the generated TLS certificate");
  add("tls-cert", po::value(&c.tls_cert),
      "PEM certificate chain (default: generated under data-dir/tls)");
  add("tls-key", po::value(&c.tls_key), "PEM private key matching tls-cert");
  add("public-url", po::value(&c.public_url),
      "https URL EHRs and browsers reach this box at, for the integration records (default: "
      "the listener's address)");
  add("ehr-ca", po::value(&raw.ehr_ca)->composing(),
      "TENANT=FILE: trust the CA certificates in the PEM FILE for that tenant's EHR, besides "
      "the system store (repeatable; for test EHRs with a private CA)");
  add("sign-in-timeout", po::value(&raw.sign_in_timeout_s)->default_value(raw.sign_in_timeout_s),
      "seconds an EHR sign-in (validation or launch) may take before its state expires (1..3600)");
  add("write-back-writes", po::value(&raw.write_back_writes)->default_value(raw.write_back_writes),
      "what the box allows to be written back to EHRs: a comma list of audit-events, "
      "encounters, appointments, or none (each tenant's policy chooses within it; each write "
      "only where the EHR's CapabilityStatement allows it)");
  add("write-back-max-delay",
      po::value(&raw.write_back_max_delay_s)->default_value(raw.write_back_max_delay_s),
      "longest wait in seconds between two attempts of a failing write-back (1..3600)");
  add("write-back-breaker-open",
      po::value(&raw.write_back_breaker_open_s)->default_value(raw.write_back_breaker_open_s),
      "seconds an EHR's circuit breaker stays open after repeated failures (1..3600)");
  add("write-back-concurrency",
      po::value(&raw.write_back_concurrency)->default_value(raw.write_back_concurrency),
      "write-backs in flight per EHR endpoint (1..64)");
  add("io-threads", po::value(&s.io_threads)->default_value(s.io_threads), "socket threads");
  add("actor-threads", po::value(&c.actor_threads)->default_value(c.actor_threads),
      "CAF scheduler threads");
  add("durability", po::value(&raw.durability)->default_value(raw.durability),
      "sync: fsync every acknowledged write batch; relaxed: no fsync per batch");
  add("body-limit", po::value(&l.body_bytes)->default_value(l.body_bytes),
      "largest request body in bytes (413 beyond)");
  add("header-limit", po::value(&l.header_bytes)->default_value(l.header_bytes),
      "largest request header block in bytes (431 beyond)");
  add("idle-timeout", po::value(&raw.idle_timeout_s)->default_value(raw.idle_timeout_s),
      "seconds within which each request must be received and answered (and an idle "
      "keep-alive connection is closed)");
  add("handshake-timeout",
      po::value(&raw.handshake_timeout_s)->default_value(raw.handshake_timeout_s),
      "seconds to complete the TLS handshake");
  add("max-connections", po::value(&l.max_connections)->default_value(l.max_connections),
      "open connections at most (503 with Retry-After beyond)");
  add("request-rate", po::value(&l.requests_per_second)->default_value(l.requests_per_second),
      "requests per second one client address may make on average (429 beyond)");
  add("request-burst", po::value(&l.request_burst)->default_value(l.request_burst),
      "requests one client address may make at once before request-rate applies");
  add("websocket-message-limit",
      po::value(&l.websocket_message_bytes)->default_value(l.websocket_message_bytes),
      "largest WebSocket message a client may send, in bytes (closed with 1009 beyond)");
  add("websocket-idle-timeout",
      po::value(&raw.websocket_idle_timeout_s)->default_value(raw.websocket_idle_timeout_s),
      "seconds of WebSocket silence before a ping, doubled before the socket is closed");
  add("websocket-send-queue",
      po::value(&l.websocket_send_queue)->default_value(l.websocket_send_queue),
      "messages that may wait for a slow WebSocket client before it is closed (4008)");
  add("shutdown-grace", po::value(&raw.shutdown_grace_ms)->default_value(raw.shutdown_grace_ms),
      "milliseconds in-flight requests get to finish on SIGTERM");
  add("retention-event-days",
      po::value(&raw.retention_event_days)->default_value(raw.retention_event_days),
      "days the raw events of an ended visit are kept (its report row stays)");
  add("retention-report-days",
      po::value(&raw.retention_report_days)->default_value(raw.retention_report_days),
      "days report rows are kept, counted from the visit's day");
  add("retention-audit-days",
      po::value(&raw.retention_audit_days)->default_value(raw.retention_audit_days),
      "days admin audit log entries are kept (1..36500)");
  add("retention-interval",
      po::value(&raw.retention_interval_minutes)->default_value(raw.retention_interval_minutes),
      "minutes between retention passes (one also runs at start)");
  add("regions", po::value(&raw.regions)->default_value(raw.regions),
      "comma-separated region tags this box serves; a new tenant must be in one");
  add("access-log", po::value(&s.access_log)->default_value(s.access_log),
      "log one line per request (true/false)");
  add("log-level", po::value(&c.log_level)->default_value(c.log_level),
      "trace, debug, info, warn, error or off");
  return d;
}

domain::result<void> apply_raw(config& c, const raw_values& raw) {
  auto mode = storage::parse_durability(raw.durability);
  if (!mode) return std::move(mode).err();
  c.durability = *mode;
  c.server.request_limits.idle_timeout = std::chrono::seconds(raw.idle_timeout_s);
  c.server.request_limits.handshake_timeout = std::chrono::seconds(raw.handshake_timeout_s);
  c.server.request_limits.websocket_idle_timeout =
    std::chrono::seconds(raw.websocket_idle_timeout_s);
  c.server.shutdown_grace = std::chrono::milliseconds(raw.shutdown_grace_ms);
  c.retention.ended_visit_events = std::chrono::days(raw.retention_event_days);
  c.retention.report_rows = std::chrono::days(raw.retention_report_days);
  c.retention.audit_entries = std::chrono::days(raw.retention_audit_days);
  c.retention_interval = std::chrono::minutes(raw.retention_interval_minutes);
  if (raw.retention_event_days == 0 || raw.retention_report_days < raw.retention_event_days ||
      raw.retention_interval_minutes == 0)
    return make_error(errc::invalid_argument,
                      "retention-event-days must be at least 1, retention-report-days at least "
                      "retention-event-days, and retention-interval at least 1");
  if (raw.retention_audit_days == 0 || raw.retention_audit_days > max_retention_audit_days)
    return make_error(errc::invalid_argument, "retention-audit-days must be 1.." +
                                                std::to_string(max_retention_audit_days) +
                                                "; got " +
                                                std::to_string(raw.retention_audit_days));
  if (raw.sign_in_timeout_s == 0 || raw.sign_in_timeout_s > 3600)
    return make_error(errc::invalid_argument, "sign-in-timeout must be 1..3600 seconds; got " +
                                                std::to_string(raw.sign_in_timeout_s));
  c.sign_in_timeout = std::chrono::seconds(raw.sign_in_timeout_s);
  if (raw.write_back_max_delay_s == 0 || raw.write_back_max_delay_s > 3600)
    return make_error(errc::invalid_argument, "write-back-max-delay must be 1..3600 seconds; got " +
                                                std::to_string(raw.write_back_max_delay_s));
  if (raw.write_back_breaker_open_s == 0 || raw.write_back_breaker_open_s > 3600)
    return make_error(errc::invalid_argument,
                      "write-back-breaker-open must be 1..3600 seconds; got " +
                        std::to_string(raw.write_back_breaker_open_s));
  if (raw.write_back_concurrency == 0 || raw.write_back_concurrency > 64)
    return make_error(errc::invalid_argument, "write-back-concurrency must be 1..64; got " +
                                                std::to_string(raw.write_back_concurrency));
  c.write_back_max_delay = std::chrono::seconds(raw.write_back_max_delay_s);
  c.write_back_breaker_open = std::chrono::seconds(raw.write_back_breaker_open_s);
  c.write_back_concurrency = raw.write_back_concurrency;
  auto writes = parse_write_back_writes(raw.write_back_writes);
  if (!writes) return std::move(writes).err();
  c.write_back_writes = *writes;
  for (const auto& entry : raw.ehr_ca) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size())
      return make_error(errc::invalid_argument,
                        "ehr-ca must be TENANT=FILE; got \"" + entry + "\"");
    c.ehr_ca[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  // The domain's messages start with "regions", the key's name.
  auto regions = domain::make_region_list(raw.regions);
  if (!regions) return std::move(regions).err();
  c.regions = std::move(regions).value();
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.contains(c.log_level))
    return make_error(errc::invalid_argument,
                      "log-level must be one of trace, debug, info, warn, "
                      "error, off; got \"" +
                        c.log_level + "\"");
  if (c.server.io_threads == 0 || c.actor_threads == 0)
    return make_error(errc::invalid_argument, "io-threads and actor-threads must be at least 1");
  // Zero would expire every request before it is read: the server would answer nothing.
  if (raw.idle_timeout_s < 1 || raw.handshake_timeout_s < 1)
    return make_error(errc::invalid_argument,
                      "idle-timeout and handshake-timeout must be at least 1 second");
  const auto& l = c.server.request_limits;
  if (l.websocket_message_bytes == 0 || l.websocket_send_queue == 0 ||
      raw.websocket_idle_timeout_s < 2)
    return make_error(errc::invalid_argument,
                      "websocket-message-limit and websocket-send-queue must be at least 1, and "
                      "websocket-idle-timeout at least 2 seconds");
  if (l.max_connections == 0 || l.requests_per_second == 0 ||
      l.request_burst < l.requests_per_second)
    return make_error(errc::invalid_argument,
                      "max-connections and request-rate must be at least 1, and request-burst at "
                      "least request-rate");
  if (c.server.request_limits.body_bytes == 0 || c.server.request_limits.header_bytes < 1024)
    return make_error(errc::invalid_argument,
                      "body-limit must be positive and header-limit at least 1024 bytes");
  return {};
}

}  // namespace

domain::result<invocation> parse_command_line(const std::vector<std::string>& args) {
  invocation out;
  raw_values raw;
  std::string config_file;
  std::vector<std::string> positional;

  po::options_description general{"General options"};
  general.add_options()("help,h", "print this help and exit")("version",
                                                              "print the version and exit")(
    "config", po::value(&config_file), "read settings from FILE (INI: key = value, # comments)");
  auto settings = server_options(out.settings, raw);
  po::options_description hidden;
  hidden.add_options()("command", po::value(&positional));
  po::positional_options_description positions;
  positions.add("command", -1);

  po::options_description all;
  all.add(general).add(settings).add(hidden);

  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(all).positional(positions).run(), vm);
    if (vm.count("config")) {
      const auto& path = vm["config"].as<std::string>();
      std::ifstream file{path};
      if (!file) return make_error(errc::invalid_argument, "cannot read config file " + path);
      // Command-line values were stored first, so they win over the file's.
      po::store(po::parse_config_file(file, settings, /*allow_unregistered=*/false), vm);
    }
    po::notify(vm);

    if (vm.count("help")) {
      std::ostringstream text;
      text << "Usage: visitd [serve] [--config FILE] [--key value ...]\n"
           << "       visitd admin create-operator LOGIN [--config FILE] [--key value ...]\n\n"
           << "serve (the default) runs the visitd HTTPS server.\n"
           << "admin create-operator makes the first operator account (or another one) with the\n"
           << "password read from stdin; the server must be stopped while it runs.\n\n"
           << general << "\n"
           << settings;
      out.what = command::help;
      out.help_text = text.str();
      return out;
    }
    if (vm.count("version")) {
      out.what = command::version;
      return out;
    }
  } catch (const po::error& e) {
    return make_error(errc::invalid_argument, e.what());
  }

  if (!positional.empty() && positional.front() == "admin") {
    if (positional.size() != 3 || positional[1] != "create-operator")
      return make_error(errc::invalid_argument,
                        "usage: visitd admin create-operator LOGIN (try --help)");
    out.what = command::create_operator;
    out.login = positional[2];
  } else if (positional.size() > 1 || (positional.size() == 1 && positional.front() != "serve")) {
    return make_error(errc::invalid_argument,
                      "unknown command \"" + positional.back() + "\" (try --help)");
  }
  if (auto ok = apply_raw(out.settings, raw); !ok) return std::move(ok).err();
  return out;
}

}  // namespace visitd::app
