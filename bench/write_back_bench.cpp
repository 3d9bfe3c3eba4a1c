// Write-back end to end: the real visitd and the test EHR (tests/ehr_fixture) on loopback over
// TLS, T tenants (default 100), each with one approved confidential endpoint `main` at its own
// EHR name `ehr-NNN`, and the tenants' admin linked as a provider in each. Every staff join or
// leave is one durable event and one AuditEvent to write back.
//
// 1. Throughput (R rounds, after one unmeasured warm-up pair per visit that gets every
//    endpoint its token and connections): C client threads make staff join/leave pairs on V visits
//    per tenant through the REST API as fast as visitd acknowledges them; resources/s from the
//    first event to the moment every outbox is drained (/metrics: every `visitd_write_back_pending`
//    0 and the delivered counts summed reach the events made). Baseline in the same run: the
//    fixture's control API storing as many AuditEvents (visitd's own body, as many EHR names, C
//    keep-alive connections, no visitd): what the fixture can take at all.
// 2. Write-back alone: every EHR answers writes 503 while one more burst is made (the backlog),
//    then all are released; resources/s while the backlog drains (from 20 % to 80 % delivered),
//    with no REST ingest competing for the CPU.
// 3. Outage: every tenant makes events at a steady rate; after a warm-up tenant t-000's EHR
//    answers every FHIR write 503 (or drops every FHIR connection) for the outage's length,
//    then recovers. From /metrics every 200 ms: the other tenants' oldest pending item's age and
//    their delivered rate against their event rate, before, during and after the outage; the
//    failing tenant's drain time: from the end of the outage until nothing made before that end
//    is pending any more.
// 4. Verification: every acknowledged event's AuditEvent is in its tenant's EHR exactly once
//    (by its `urn:visitd:event-key` tag), nothing else is there, no dead letters; else exit 1.
//    From the same AuditEvents, each event's delivery latency (`recorded` to the fixture's
//    `meta.lastUpdated`), per phase, for the others and the failing tenant.
//
// visitd runs with its defaults except: --write-back-max-delay and --write-back-breaker-open
// (options --max-delay, --breaker-open; default 1 s each, so the drain measures the backlog, not
// the backoff), --request-rate/--request-burst 1000000 (all load comes from 127.0.0.1) and
// --idle-timeout 600 (paced connections may idle).
//
// Usage: write_back_bench [--outage-seconds 120] [--tenants 100] [--visits 10] [--pairs 5]
//          [--rounds 5] [--clients 16] [--rate 200] [--warmup 10] [--tail 5]
//          [--outage 503|refuse] [--max-delay 1] [--breaker-open 1] [--drain-timeout 900]
// The last lines are the headline figures (after write_back_vs_fixture_alone= and
// write_back_backlog_resources_per_s=):
//   write_back_resources_per_s=<median of the rounds>
//   others_p99_delivery_ms_during_outage=<p99 of the other tenants' events made in the outage>
//   others_max_pending_age_s=<largest oldest-pending age seen, during the outage and the drain>
//   outage_drain_seconds=<failing tenant>

#include "api_client.hpp"
#include "running_ehr.hpp"
#include "running_server.hpp"
#include "tls_client.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace visitd::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;

const std::string operator_password = "bench operator secret";
const std::string admin_password = "bench admin secret";
const std::string approver_password = "bench approver secret";

// -- small helpers -----------------------------------------------------------------------------

/// Concatenation without `"lit" + std::string` (GCC 12 -Wrestrict false positive).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out.append(p);
  return out;
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "write_back_bench: %s\n", why.c_str());
  std::exit(1);
}

double seconds_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double seconds_since_epoch(wall::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string three_digits(int i) {
  auto text = std::to_string(i);
  if (text.size() < 3) text.insert(0, 3 - text.size(), '0');
  return text;
}

double wall_s() {
  return seconds_since_epoch(wall::now());
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (what visitd writes in
/// `recorded` and the fixture in `meta.lastUpdated`), or NaN.
double parse_instant(std::string_view text) {
  int y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0, se = 0;
  int used = 0;
  const std::string copy{text};
  if (std::sscanf(copy.c_str(), "%4d-%2u-%2uT%2u:%2u:%2u%n", &y, &mo, &d, &h, &mi, &se, &used) !=
        6 ||
      used != 19)
    return NAN;
  const std::chrono::sys_days day{std::chrono::year{y} / std::chrono::month{mo} /
                                  std::chrono::day{d}};
  double out =
    std::chrono::duration<double>(day.time_since_epoch()).count() + h * 3600.0 + mi * 60.0 + se;
  if (copy.size() > 20 && copy[19] == '.') out += std::strtod(copy.c_str() + 19, nullptr);
  return out;
}

/// The `q` quantile (0..1, nearest rank) of `v`, or NaN when empty.
double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct options {
  double outage_seconds = 120;
  int tenants = 100;
  int visits_per_tenant = 10;
  int pairs = 5;  ///< join/leave pairs per visit and round
  int rounds = 5;
  int clients = 16;   ///< more gave no more acknowledged events/s on 2 cores (32: the same)
  double rate = 200;  ///< events/s over all tenants in the outage phase
  double warmup_seconds = 10;
  double tail_seconds = 5;
  std::string outage = "503";  ///< "503" (fhir_status) or "refuse" (refuse_connections)
  int max_delay = 1;           ///< --write-back-max-delay
  int breaker_open = 1;        ///< --write-back-breaker-open
  double drain_timeout = 900;
};

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i];
    if (i + 1 >= argc) die(cat({"missing value for ", name}));
    std::string value = argv[++i];
    try {
      if (name == "--outage-seconds")
        o.outage_seconds = std::stod(value);
      else if (name == "--tenants")
        o.tenants = std::stoi(value);
      else if (name == "--visits")
        o.visits_per_tenant = std::stoi(value);
      else if (name == "--pairs")
        o.pairs = std::stoi(value);
      else if (name == "--rounds")
        o.rounds = std::stoi(value);
      else if (name == "--clients")
        o.clients = std::stoi(value);
      else if (name == "--rate")
        o.rate = std::stod(value);
      else if (name == "--warmup")
        o.warmup_seconds = std::stod(value);
      else if (name == "--tail")
        o.tail_seconds = std::stod(value);
      else if (name == "--outage")
        o.outage = value;
      else if (name == "--max-delay")
        o.max_delay = std::stoi(value);
      else if (name == "--breaker-open")
        o.breaker_open = std::stoi(value);
      else if (name == "--drain-timeout")
        o.drain_timeout = std::stod(value);
      else
        die(cat({"unknown option ", name}));
    } catch (const std::logic_error&) {
      die(cat({"bad value for ", name, ": ", value}));
    }
  }
  if (o.tenants < 2 || o.tenants > 999 || o.visits_per_tenant < 1 || o.pairs < 1 || o.rounds < 1 ||
      o.clients < 1 || o.rate <= 0 || o.outage_seconds <= 0 ||
      (o.outage != "503" && o.outage != "refuse"))
    die("options out of range (tenants 2..999, outage 503|refuse, the rest positive)");
  return o;
}

// -- /metrics ------------------------------------------------------------------------------------

/// One tenant endpoint's write-back metrics.
struct endpoint_metrics {
  double pending = 0, age = 0, delivered = 0, writes = 0, retries = 0, dead_letters = 0;
  double blocked = 0, breaker_open = 0;
};

/// Metrics by tenant (every tenant has the one endpoint `main`), and when the request was sent.
struct snapshot {
  std::map<std::string, endpoint_metrics> by_tenant;
  wall::time_point sent;
  steady::time_point sent_steady;
  long acked_others = 0;  ///< Set by the outage phase: the others' events acknowledged by then.
};

snapshot parse_metrics(const std::string& body) {
  snapshot s;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    std::string_view line{body.data() + pos, end - pos};
    pos = end + 1;
    if (line.empty() || line.front() == '#') continue;
    auto brace = line.find('{');
    auto tenant_at = line.find("tenant=\"");
    auto close = line.find("} ");
    if (brace == std::string_view::npos || tenant_at == std::string_view::npos ||
        close == std::string_view::npos)
      continue;
    auto name = line.substr(0, brace);
    tenant_at += 8;
    auto tenant = std::string{line.substr(tenant_at, line.find('"', tenant_at) - tenant_at)};
    // Boost.JSON may print 8 as "8E0": strtod reads both.
    auto value = std::strtod(std::string{line.substr(close + 2)}.c_str(), nullptr);
    auto& m = s.by_tenant[tenant];
    if (name == "visitd_write_back_pending")
      m.pending = value;
    else if (name == "visitd_write_back_oldest_pending_age_seconds")
      m.age = value;
    else if (name == "visitd_write_back_delivered_total")
      m.delivered = value;
    else if (name == "visitd_write_back_writes_total")
      m.writes = value;
    else if (name == "visitd_write_back_retries_total")
      m.retries = value;
    else if (name == "visitd_write_back_dead_letters")
      m.dead_letters = value;
    else if (name == "visitd_write_back_blocked")
      m.blocked = value;
    else if (name == "visitd_write_back_breaker_open")
      m.breaker_open = value;
  }
  return s;
}

/// A keep-alive connection to visitd that reconnects after an I/O error.
class visitd_client {
public:
  explicit visitd_client(tls_client_options options) : options_{std::move(options)} {}

  /// The reply, or nullopt after an I/O error (the connection is then made anew).
  std::optional<http_reply> request(const std::string& method, const std::string& path,
                                    const std::string& body = {}, const header_list& headers = {}) {
    try {
      if (!conn_) conn_ = std::make_unique<tls_connection>(options_);
      return conn_->request(method, path, body, headers);
    } catch (const std::exception& e) {
      last_error_ = e.what();
      conn_.reset();
      return std::nullopt;
    }
  }

  [[nodiscard]] const std::string& last_error() const { return last_error_; }

private:
  tls_client_options options_;
  std::unique_ptr<tls_connection> conn_;
  std::string last_error_;
};

snapshot poll_metrics(visitd_client& c) {
  auto sent = wall::now();
  auto sent_steady = steady::now();
  auto reply = c.request("GET", "/metrics");
  if (!reply || reply->status != 200)
    die(cat({"GET /metrics failed: ", reply ? reply->body : c.last_error()}));
  auto s = parse_metrics(reply->body);
  s.sent = sent;
  s.sent_steady = sent_steady;
  return s;
}

// -- the box -------------------------------------------------------------------------------------

struct visit_ref {
  int tenant = 0;
  std::string tenant_id;
  std::string id;
  bool joined = false;
};

/// Counts acknowledged events per tenant and keeps every acknowledged event key.
struct ledger {
  explicit ledger(int tenants) : acked(static_cast<std::size_t>(tenants)) {}

  std::vector<std::atomic<long>> acked;
  std::atomic<long> errors{0};
  std::mutex mutex;
  std::vector<std::string> keys;  ///< "{tenant}/{visit}/{seq}", under `mutex`
  std::vector<std::string> error_samples;

  [[nodiscard]] long total() const {
    long n = 0;
    for (const auto& a : acked) n += a.load();
    return n;
  }

  void add_keys(std::vector<std::string>& more) {
    std::lock_guard lock{mutex};
    keys.insert(keys.end(), std::make_move_iterator(more.begin()),
                std::make_move_iterator(more.end()));
    more.clear();
  }

  void error(std::string what) {
    ++errors;
    std::lock_guard lock{mutex};
    if (error_samples.size() < 10) error_samples.push_back(std::move(what));
  }
};

/// The last_seq of a staff join/leave reply, or -1.
long last_seq(const std::string& body) {
  auto at = body.find("\"last_seq\":");
  if (at == std::string::npos) return -1;
  return std::strtol(body.c_str() + at + 11, nullptr, 10);
}

/// One staff join or leave on `v`; on success counts it and appends its event key to `keys`.
bool staff_event(visitd_client& c, const header_list& headers, visit_ref& v, ledger& book,
                 std::vector<std::string>& keys) {
  auto path = cat(
    {"/api/v1/tenants/", v.tenant_id, "/visits/", v.id, v.joined ? "/staff/leave" : "/staff/join"});
  auto reply = c.request("POST", path, "", headers);
  if (!reply) {
    book.error(cat({"POST ", path, ": ", c.last_error()}));
    return false;
  }
  auto seq = last_seq(reply->body);
  if (reply->status != 200 || seq < 0) {
    book.error(cat({"POST ", path, ": ", std::to_string(reply->status), " ", reply->body}));
    return false;
  }
  v.joined = !v.joined;
  keys.push_back(cat({v.tenant_id, "/", v.id, "/", std::to_string(seq)}));
  ++book.acked[static_cast<std::size_t>(v.tenant)];
  return true;
}

class bench_box {
public:
  explicit bench_box(const options& o)
    : o_{o},
      ehr_{VISITD_TEST_EHR, dir_.path() / "ehr"},
      data_{(create_operator(VISITD_BINARY, dir_.path() / "data", "ops", operator_password),
             dir_.path() / "data")},
      server_{VISITD_BINARY, data_, server_args(o, ehr_.ca_path())},
      conn_{(server_.wait_ready(), server_.client())} {}

  static std::string tenant_id(int i) { return cat({"t-", three_digits(i)}); }
  static std::string ehr_name(int i) { return cat({"ehr-", three_digits(i)}); }

  static std::vector<std::string> server_args(const options& o, const std::string& ca) {
    std::vector<std::string> args{"--write-back-max-delay", std::to_string(o.max_delay),
                                  "--write-back-breaker-open", std::to_string(o.breaker_open),
                                  // All of the bench's connections come from 127.0.0.1: the
                                  // per-address limit would turn the load into 429s.
                                  "--request-rate", "1000000", "--request-burst", "1000000",
                                  // The outage phase's connections may idle between paced events.
                                  "--idle-timeout", "600"};
    for (int i = 0; i < o.tenants; ++i)
      args.insert(args.end(), {"--ehr-ca", cat({tenant_id(i), "=", ca})});
    return args;
  }

  std::string args_text() const {
    std::string out;
    auto args = server_args(o_, "<ca.pem>");
    for (std::size_t i = 0; i < args.size() && i < 12; ++i) out.append(args[i]).append(" ");
    out.append("--ehr-ca t-NNN=<ca.pem> (x").append(std::to_string(o_.tenants)).append(")");
    return out;
  }

  http_reply must(const std::string& method, const std::string& path, const std::string& body,
                  header_list headers, int want) {
    headers.emplace_back("Content-Type", "application/json");
    auto reply = conn_.request(method, path, body, headers);
    if (reply.status != want)
      die(cat({method, " ", path, ": ", std::to_string(reply.status), " ", reply.body}));
    return reply;
  }

  /// Accounts, tenants, endpoints (registered at the EHR, approved), provider links.
  void set_up() {
    auto op = sign_in(conn_, "ops", operator_password);
    auto admin =
      must("POST", "/api/v1/accounts",
           cat({R"({"login":"admin1","password":")", admin_password, R"("})"}), op.headers(), 201);
    auto approver = must("POST", "/api/v1/accounts",
                         cat({R"({"login":"approver1","password":")", approver_password, R"("})"}),
                         op.headers(), 201);
    auto admin_id = json_string_field(admin.body, "id");
    auto approver_id = json_string_field(approver.body, "id");
    auto t0 = steady::now();
    for (int i = 0; i < o_.tenants; ++i)
      must("POST", "/api/v1/tenants",
           cat({R"({"id":")", tenant_id(i), R"(","display_name":"Bench )", three_digits(i),
                R"(","region":"local","admins":[")", admin_id, R"("],"approver":")", approver_id,
                R"(","ehr":"oracle_health"})"}),
           op.headers(), 201);
    auto t1 = steady::now();
    admin_ = sign_in(conn_, "admin1", admin_password);
    const auto port = std::to_string(server_.port());
    for (int i = 0; i < o_.tenants; ++i) {
      const auto t = tenant_id(i);
      const auto base = cat({"/api/v1/tenants/", t});
      must("POST", cat({base, "/endpoints"}),
           cat({R"({"id":"main","base_url":")", ehr_.fhir_base(ehr_name(i)),
                R"(","environment":"test","client_id":"visitd-main",)",
                R"("client_type":"confidential_private_key_jwt"})"}),
           admin_.headers(), 201);
      must("POST", cat({base, "/endpoints/main/revisions/1/submit"}), "", admin_.headers(), 200);
      auto jwks = conn_.request("GET", cat({"/smart/", t, "/jwks.json"}));
      if (jwks.status != 200) die(cat({"jwks of ", t, ": ", jwks.body}));
      ehr_.control(
        "POST", cat({"/control/ehr/", ehr_name(i), "/clients"}),
        cat({R"({"client_id":"visitd-main","redirect_uris":["https://127.0.0.1:)", port, "/smart/",
             t, R"(/main/callback"],"type":"confidential","jwks":)", jwks.body, "}"}));
      must("POST", cat({base, "/endpoints/main/revisions/1/approve"}), "", admin_.headers(), 200);
      must("POST", cat({base, "/providers"}),
           cat({R"({"account":")", admin_id, R"(","ehr_user":"Practitioner/7"})"}),
           admin_.headers(), 200);
    }
    // Signed in again: the session carries the provider links made above.
    admin_ = sign_in(conn_, "admin1", admin_password);
    auto t2 = steady::now();
    // Every endpoint has read the EHR's CapabilityStatement and may deliver.
    auto deadline = steady::now() + 60s;
    for (int i = 0; i < o_.tenants; ++i) {
      std::string status;
      while (true) {
        status =
          conn_
            .request("GET", cat({"/api/v1/tenants/", tenant_id(i), "/endpoints/main/write-back"}),
                     {}, admin_.headers())
            .body;
        if (status.find(R"("state":"delivering")") != std::string::npos) break;
        if (steady::now() > deadline) die(cat({"endpoint never delivering: ", status}));
        std::this_thread::sleep_for(50ms);
      }
    }
    std::printf(
      "set-up: %d tenants created in %.1f s; endpoints registered, approved and "
      "providers linked in %.1f s; all delivering after %.1f s more\n",
      o_.tenants, seconds_between(t0, t1), seconds_between(t1, t2),
      seconds_between(t2, steady::now()));
  }

  /// V visits per tenant, interleaved by tenant (so each client thread serves every tenant).
  std::vector<visit_ref> open_visits() {
    std::vector<visit_ref> visits;
    for (int v = 0; v < o_.visits_per_tenant; ++v)
      for (int i = 0; i < o_.tenants; ++i) {
        auto t = tenant_id(i);
        auto made = must("POST", cat({"/api/v1/tenants/", t, "/visits"}),
                         cat({R"({"endpoint":"main","appointment":"Appointment/a-)",
                              std::to_string(v), R"(","scheduled_start":"2099-01-01T10:00:00Z"})"}),
                         admin_.headers(), 201);
        visits.push_back({i, t, json_string_field(made.body, "id"), false});
      }
    return visits;
  }

  void behave(int tenant, const std::string& json) {
    ehr_.control("POST", cat({"/control/ehr/", ehr_name(tenant), "/behaviour"}), json);
  }

  const options& o_;
  temp_dir dir_;
  running_ehr ehr_;
  std::filesystem::path data_;
  running_server server_;
  tls_connection conn_;
  signed_in_caller admin_;
};

// -- phase 1: throughput -------------------------------------------------------------------------

double delivered_sum(const snapshot& s) {
  double sum = 0;
  for (const auto& [t, m] : s.by_tenant) sum += m.delivered;
  return sum;
}

double pending_sum(const snapshot& s) {
  double sum = 0;
  for (const auto& [t, m] : s.by_tenant) sum += m.pending;
  return sum;
}

/// Waits until every outbox is empty and at least `delivered` items were delivered in all; the
/// time of the poll that saw it.
steady::time_point wait_all_drained(visitd_client& metrics, long delivered, double limit_s) {
  auto deadline = steady::now() + std::chrono::duration<double>(limit_s);
  while (steady::now() < deadline) {
    auto s = poll_metrics(metrics);
    if (pending_sum(s) == 0 && delivered_sum(s) >= static_cast<double>(delivered))
      return s.sent_steady;
    std::this_thread::sleep_for(50ms);
  }
  auto s = poll_metrics(metrics);
  double dead = 0;
  for (const auto& [t, m] : s.by_tenant) dead += m.dead_letters;
  die(cat({"write-back did not drain: delivered ", std::to_string(delivered_sum(s)), " of ",
           std::to_string(delivered), ", pending ", std::to_string(pending_sum(s)),
           ", dead letters ", std::to_string(dead)}));
}

/// The fixture alone: `count` AuditEvents (the same body) PUT through its control API over
/// `clients` keep-alive connections, spread over as many EHR names as there are tenants.
/// Resources/s.
double fixture_baseline(const bench_box& box, const std::string& body, long count, int round) {
  std::atomic<long> next{0};
  std::atomic<long> failed{0};
  auto start = steady::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(box.o_.clients));
  for (int k = 0; k < box.o_.clients; ++k)
    threads.emplace_back([&] {
      try {
        tls_connection c{box.ehr_.client()};
        const header_list headers{{"Content-Type", "application/json"}};
        for (long i = next++; i < count; i = next++) {
          auto name = cat({"base-", three_digits(static_cast<int>(i % box.o_.tenants))});
          auto id = cat({"b", std::to_string(round), "-", std::to_string(i)});
          auto reply = c.request("PUT", cat({"/control/ehr/", name, "/resources/AuditEvent/", id}),
                                 body, headers);
          if (reply.status != 201) ++failed;
        }
      } catch (const std::exception&) {
        ++failed;
      }
    });
  for (auto& t : threads) t.join();
  auto elapsed = seconds_between(start, steady::now());
  if (failed > 0) die("the fixture baseline failed");
  return static_cast<double>(count) / elapsed;
}

/// `clients` threads make `pairs` staff join/leave pairs on every visit, each as soon as the
/// previous one of its thread is acknowledged. The events acknowledged.
long burst(const bench_box& box, std::vector<visit_ref>& visits, ledger& book, int pairs) {
  const auto& o = box.o_;
  const long before = book.total();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(o.clients));
  for (int k = 0; k < o.clients; ++k)
    threads.emplace_back([&, k] {
      visitd_client c{box.server_.client()};
      auto headers = box.admin_.headers();
      std::vector<std::string> keys;
      for (int p = 0; p < pairs; ++p)
        for (std::size_t i = static_cast<std::size_t>(k); i < visits.size();
             i += static_cast<std::size_t>(o.clients))
          for (int side = 0; side < 2; ++side)
            if (!staff_event(c, headers, visits[i], book, keys)) break;
      book.add_keys(keys);
    });
  for (auto& t : threads) t.join();
  return book.total() - before;
}

/// When each phase ran (wall clock, seconds since the epoch), for the latency report.
struct timeline {
  std::vector<std::pair<double, double>> rounds;
  double outage_phase_start = 0, outage_start = 0, outage_end = 0, drained = 0;
};

struct round_result {
  long events = 0;
  double ingest_s = 0;  ///< first event to the last acknowledgement
  double drain_s = 0;   ///< first event to every outbox empty
  double baseline_per_s = 0;
};

round_result throughput_round(bench_box& box, std::vector<visit_ref>& visits, ledger& book,
                              visitd_client& metrics, timeline& marks) {
  const auto errors_before = book.errors.load();
  auto start_wall = wall_s();
  auto start = steady::now();
  round_result r;
  r.events = burst(box, visits, book, box.o_.pairs);
  auto ingested = steady::now();
  if (book.errors.load() != errors_before) std::fprintf(stderr, "some events failed (see end)\n");
  auto drained = std::max(wait_all_drained(metrics, book.total(), 600), ingested);
  r.ingest_s = seconds_between(start, ingested);
  r.drain_s = seconds_between(start, drained);
  marks.rounds.emplace_back(start_wall, start_wall + r.drain_s);
  return r;
}

// -- phase 2: write-back alone, from a backlog ---------------------------------------------------

/// Sets behaviour `json` on every tenant's EHR, from `clients` threads at once.
void behave_all(const bench_box& box, const std::string& json) {
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(box.o_.clients));
  for (int k = 0; k < box.o_.clients; ++k)
    threads.emplace_back([&, k] {
      for (int i = k; i < box.o_.tenants; i += box.o_.clients)
        box.ehr_.control("POST", cat({"/control/ehr/", bench_box::ehr_name(i), "/behaviour"}),
                         json);
    });
  for (auto& t : threads) t.join();
}

struct backlog_result {
  long events = 0;
  double first_delivery_s = NAN;  ///< release to the first delivery seen
  double release_to_drain_s = NAN;
  double middle_per_s = NAN;  ///< from 20 % to 80 % of the backlog delivered
};

/// Every EHR answers writes 503 while one burst of events is made; then all are released at
/// once and the backlog drains: the write-back path alone, without the REST ingest beside it.
backlog_result backlog_phase(bench_box& box, std::vector<visit_ref>& visits, ledger& book,
                             visitd_client& metrics) {
  backlog_result r;
  const double base = delivered_sum(poll_metrics(metrics));
  behave_all(box, R"({"fhir_status":503})");
  r.events = burst(box, visits, book, box.o_.pairs);
  const double events = static_cast<double>(r.events);
  behave_all(box, R"({"fhir_status":0})");
  auto release = steady::now();
  std::optional<steady::time_point> t20, t80;
  auto deadline = release + 600s;
  while (steady::now() < deadline) {
    auto s = poll_metrics(metrics);
    const double done = delivered_sum(s) - base;
    if (done > 0 && std::isnan(r.first_delivery_s))
      r.first_delivery_s = seconds_between(release, s.sent_steady);
    if (!t20 && done >= 0.2 * events) t20 = s.sent_steady;
    if (!t80 && done >= 0.8 * events) t80 = s.sent_steady;
    if (done >= events && pending_sum(s) == 0) {
      r.release_to_drain_s = seconds_between(release, s.sent_steady);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  if (std::isnan(r.release_to_drain_s)) die("the backlog did not drain in 600 s");
  if (t20 && t80 && *t80 > *t20) r.middle_per_s = 0.6 * events / seconds_between(*t20, *t80);
  return r;
}

// -- phase 3: outage -----------------------------------------------------------------------------

long acked_others(const ledger& book, int failing) {
  long n = 0;
  for (std::size_t i = 0; i < book.acked.size(); ++i)
    if (static_cast<int>(i) != failing) n += book.acked[i].load();
  return n;
}

/// The other tenants' state over a window of polls.
struct window {
  std::vector<double> max_age;  ///< per poll: the largest oldest-pending age of the others
  double others_delivered_0 = 0, others_delivered_1 = 0;
  long others_acked_0 = 0, others_acked_1 = 0;
  steady::time_point t0, t1;

  void open(const snapshot& s, int failing) {
    others_delivered_0 = delivered_others(s, failing);
    others_acked_0 = s.acked_others;
    t0 = s.sent_steady;
  }
  void close(const snapshot& s, int failing) {
    others_delivered_1 = delivered_others(s, failing);
    others_acked_1 = s.acked_others;
    t1 = s.sent_steady;
  }
  void add(const snapshot& s, int failing) {
    double m = 0;
    for (const auto& [t, e] : s.by_tenant)
      if (t != bench_box::tenant_id(failing)) m = std::max(m, e.age);
    max_age.push_back(m);
  }
  static double delivered_others(const snapshot& s, int failing) {
    double sum = 0;
    for (const auto& [t, e] : s.by_tenant)
      if (t != bench_box::tenant_id(failing)) sum += e.delivered;
    return sum;
  }
  [[nodiscard]] double max() const {
    return max_age.empty() ? NAN : *std::max_element(max_age.begin(), max_age.end());
  }
  [[nodiscard]] double duration() const { return seconds_between(t0, t1); }
  void print(const char* name) const {
    auto d = duration();
    std::printf(
      "  %-7s %6.1f s: others' oldest pending age: max %.3f s, median of %zu polls %.3f s; "
      "others' events %.1f/s, delivered %.1f/s\n",
      name, d, max(), max_age.size(), median(max_age),
      static_cast<double>(others_acked_1 - others_acked_0) / d,
      (others_delivered_1 - others_delivered_0) / d);
  }
};

struct outage_result {
  double drain_s = NAN;
  double others_max_age_s = 0;
  double failing_max_pending = 0;
  double failing_retries = 0;  ///< from the outage's start to the end of the drain
  double achieved_rate = 0;
};

outage_result outage_phase(bench_box& box, std::vector<visit_ref>& visits, ledger& book,
                           visitd_client& metrics, timeline& marks) {
  const auto& o = box.o_;
  const int failing = 0;
  const auto failing_id = bench_box::tenant_id(failing);
  // The others' acknowledged events are read right after each poll's answer.
  auto poll = [&] {
    auto s = poll_metrics(metrics);
    s.acked_others = acked_others(book, failing);
    return s;
  };
  std::atomic<bool> stop{false};
  const long before = book.total();
  marks.outage_phase_start = wall_s();
  auto start = steady::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(o.clients));
  const double per_thread = o.rate / o.clients;
  for (int k = 0; k < o.clients; ++k)
    threads.emplace_back([&, k] {
      visitd_client c{box.server_.client()};
      auto headers = box.admin_.headers();
      std::vector<std::string> keys;
      std::vector<std::size_t> mine;
      for (std::size_t i = static_cast<std::size_t>(k); i < visits.size();
           i += static_cast<std::size_t>(o.clients))
        mine.push_back(i);
      // Staggered so the threads do not send in lockstep.
      auto first = start + std::chrono::duration_cast<steady::duration>(
                             std::chrono::duration<double>(k / o.rate));
      for (long n = 0; !stop.load(); ++n) {
        std::this_thread::sleep_until(
          first + std::chrono::duration_cast<steady::duration>(
                    std::chrono::duration<double>(static_cast<double>(n) / per_thread)));
        if (stop.load()) break;
        staff_event(c, headers, visits[mine[static_cast<std::size_t>(n) % mine.size()]], book,
                    keys);
      }
      book.add_keys(keys);
    });

  outage_result r;
  window before_w, during_w, drain_w;
  auto run_until = [&](window& w, steady::time_point until) {
    snapshot last;
    while (true) {
      last = poll();
      w.add(last, failing);
      r.failing_max_pending = std::max(r.failing_max_pending, last.by_tenant[failing_id].pending);
      if (steady::now() + 200ms >= until) break;
      std::this_thread::sleep_for(200ms);
    }
    std::this_thread::sleep_until(until);
    return last;
  };

  // Warm-up: all tenants healthy (the baseline for "undisturbed").
  std::this_thread::sleep_for(1s);
  before_w.open(poll(), failing);
  auto last = run_until(before_w, start + std::chrono::duration_cast<steady::duration>(
                                            std::chrono::duration<double>(o.warmup_seconds)));
  before_w.close(last, failing);

  // The outage.
  box.behave(failing,
             o.outage == "503" ? R"({"fhir_status":503})" : R"({"refuse_connections":true})");
  marks.outage_start = wall_s();
  auto outage_start = steady::now();
  std::printf("outage: %s's EHR %s for %.0f s while all %d tenants make %.0f events/s\n",
              failing_id.c_str(),
              o.outage == "503" ? "answers every write 503" : "drops every FHIR connection",
              o.outage_seconds, o.tenants, o.rate);
  std::fflush(stdout);
  auto at_start = poll();
  const double retries_before = at_start.by_tenant[failing_id].retries;
  during_w.open(at_start, failing);
  last = run_until(during_w, outage_start + std::chrono::duration_cast<steady::duration>(
                                              std::chrono::duration<double>(o.outage_seconds)));
  during_w.close(last, failing);
  box.behave(failing,
             o.outage == "503" ? R"({"fhir_status":0})" : R"({"refuse_connections":false})");
  auto outage_end = steady::now();
  marks.outage_end = wall_s();
  const long failing_acked_at_end = book.acked[failing].load();

  // The drain: nothing made before the outage's end is pending any more (newer events keep
  // coming), and at least as many items were delivered as were acknowledged by then.
  drain_w.open(poll(), failing);
  auto deadline = outage_end + std::chrono::duration_cast<steady::duration>(
                                 std::chrono::duration<double>(o.drain_timeout));
  while (steady::now() < deadline) {
    auto s = poll();
    drain_w.add(s, failing);
    const auto& f = s.by_tenant[failing_id];
    r.failing_max_pending = std::max(r.failing_max_pending, f.pending);
    r.failing_retries = f.retries - retries_before;
    // The oldest held item's event time, no later than the truth (the request's send time).
    double oldest = seconds_since_epoch(s.sent) - f.age;
    bool backlog_gone = f.pending == 0 || oldest > marks.outage_end;
    if (backlog_gone && f.delivered >= static_cast<double>(failing_acked_at_end)) {
      r.drain_s = seconds_between(outage_end, s.sent_steady);
      marks.drained = seconds_since_epoch(s.sent);
      drain_w.close(s, failing);
      break;
    }
    std::this_thread::sleep_for(s.sent_steady - outage_end < 5s ? 50ms : 200ms);
  }
  if (std::isnan(r.drain_s)) drain_w.close(poll(), failing);

  // A short tail at the steady rate, then everything must drain.
  std::this_thread::sleep_for(std::chrono::duration<double>(o.tail_seconds));
  stop = true;
  for (auto& t : threads) t.join();
  auto events = book.total() - before;
  r.achieved_rate = static_cast<double>(events) / seconds_between(start, steady::now());
  (void)wait_all_drained(metrics, book.total(), o.drain_timeout);

  std::printf(
    "outage phase: %ld events at %.1f/s (target %.0f/s); failing tenant %s: %ld "
    "events, at most %.0f pending, %.0f retries in the outage and drain\n",
    events, r.achieved_rate, o.rate, failing_id.c_str(), book.acked[failing].load(),
    r.failing_max_pending, r.failing_retries);
  before_w.print("before");
  during_w.print("outage");
  drain_w.print("drain");
  r.others_max_age_s = std::max(during_w.max(), drain_w.max());
  return r;
}

// -- verification and delivery latency ----------------------------------------------------------

/// One AuditEvent found in an EHR: its tenant, its event's time and when the EHR stored it.
struct delivery {
  int tenant = 0;
  double recorded = NAN;
  double stored = NAN;
};

/// Every acknowledged event's AuditEvent exactly once, nothing else, no dead letters; collects
/// every AuditEvent's times into `out`. The number of problems.
long verify(const bench_box& box, const ledger& book, const snapshot& final_metrics,
            std::vector<delivery>& out) {
  std::map<std::string, int> expected;
  for (const auto& k : book.keys) ++expected[k];
  long problems = 0;
  for (const auto& [k, n] : expected)
    if (n != 1) {
      if (problems++ < 10) std::printf("  acknowledged twice: %s\n", k.c_str());
    }
  std::size_t found_total = 0;
  for (int i = 0; i < box.o_.tenants; ++i) {
    auto body =
      box.ehr_
        .control("GET", cat({"/control/ehr/", bench_box::ehr_name(i), "/resources/AuditEvent"}), "")
        .body;
    std::map<std::string, int> found;
    const auto list = boost::json::parse(body);
    for (const auto& r : list.as_array()) {
      const auto& o = r.as_object();
      const auto* meta = o.if_contains("meta");
      const auto* tags = meta == nullptr ? nullptr : meta->as_object().if_contains("tag");
      const auto* updated =
        meta == nullptr ? nullptr : meta->as_object().if_contains("lastUpdated");
      const auto* recorded = o.if_contains("recorded");
      if (tags == nullptr || updated == nullptr || recorded == nullptr) {
        if (problems++ < 10) std::printf("  an AuditEvent without tags or times in %d\n", i);
        continue;
      }
      out.push_back({i, parse_instant(recorded->as_string()), parse_instant(updated->as_string())});
      for (const auto& tag : tags->as_array()) {
        const auto& t = tag.as_object();
        if (t.at("system").as_string() == "urn:visitd:event-key")
          ++found[std::string{t.at("code").as_string()}];
      }
    }
    found_total += found.size();
    const auto prefix = cat({bench_box::tenant_id(i), "/"});
    for (const auto& [k, n] : found) {
      if (n != 1 && problems++ < 10) std::printf("  %d AuditEvents for %s\n", n, k.c_str());
      if (!expected.contains(k) && problems++ < 10)
        std::printf("  an AuditEvent for an unknown event %s\n", k.c_str());
    }
    for (auto it = expected.lower_bound(prefix);
         it != expected.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
      if (!found.contains(it->first) && problems++ < 10)
        std::printf("  missing in the EHR: %s\n", it->first.c_str());
  }
  double dead = 0;
  for (const auto& [t, m] : final_metrics.by_tenant) dead += m.dead_letters;
  if (dead > 0) {
    std::printf("  %.0f dead letters\n", dead);
    ++problems;
  }
  std::printf(
    "verified: %zu events acknowledged, %zu distinct event keys in the EHRs, %ld "
    "problems\n",
    expected.size(), found_total, problems);
  return problems;
}

/// Delivery latency (event time to stored in the EHR) of the AuditEvents `keep` selects,
/// printed in ms; its p99 (NaN when none).
double print_latency(const std::vector<delivery>& all, const char* what,
                     const std::function<bool(const delivery&)>& keep) {
  std::vector<double> ms;
  for (const auto& d : all)
    if (keep(d)) ms.push_back(std::max(0.0, (d.stored - d.recorded) * 1000));
  auto n = ms.size();
  auto p50 = quantile(ms, 0.5);
  auto p99 = quantile(ms, 0.99);
  auto p999 = quantile(ms, 0.999);
  auto max = quantile(ms, 1.0);
  std::printf("  %-44s %6zu events: p50 %8.1f  p99 %8.1f  p99.9 %8.1f  max %8.1f\n", what, n, p50,
              p99, p999, max);
  return p99;
}

/// The other tenants' delivery latency over the outage phase in 10 s buckets of event time, so a
/// disturbance can be told from the outage (it starts with bucket `o`, ends with `e`) or not.
void print_buckets(const std::vector<delivery>& all, const timeline& marks) {
  constexpr double width = 10;
  std::map<long, std::vector<double>> buckets;
  for (const auto& d : all)
    if (d.tenant != 0 && d.recorded >= marks.outage_phase_start)
      buckets[static_cast<long>((d.recorded - marks.outage_phase_start) / width)].push_back(
        std::max(0.0, (d.stored - d.recorded) * 1000));
  const auto start_bucket =
    static_cast<long>((marks.outage_start - marks.outage_phase_start) / width);
  const auto end_bucket = static_cast<long>((marks.outage_end - marks.outage_phase_start) / width);
  std::printf(
    "  others per 10 s of the outage phase, p99/max ms (o: outage starts, e: ends):\n   ");
  int on_line = 0;
  for (auto& [b, ms] : buckets) {
    const char* mark = b == start_bucket ? "o" : b == end_bucket ? "e" : " ";
    auto p99 = quantile(ms, 0.99);
    auto max = quantile(ms, 1.0);
    std::printf(" %s%.0f/%.0f", mark, p99, max);
    if (++on_line % 12 == 0) std::printf("\n   ");
  }
  std::printf("\n");
}

/// Warnings and errors in visitd's log, counted, with a few samples.
void log_summary(const running_server& server) {
  auto log = server.log();
  long warnings = 0, errors = 0;
  std::vector<std::string> samples;
  std::size_t pos = 0;
  while (pos < log.size()) {
    auto end = log.find('\n', pos);
    if (end == std::string::npos) end = log.size();
    std::string_view line{log.data() + pos, end - pos};
    pos = end + 1;
    // "<time> <level> <message>" (app/serve.cpp's pattern).
    auto first = line.find(' ');
    auto level = first == std::string_view::npos ? std::string_view{} : line.substr(first + 1);
    level = level.substr(0, level.find(' '));
    bool w = level == "warning";
    bool e = level == "error" || level == "critical";
    warnings += w ? 1 : 0;
    errors += e ? 1 : 0;
    if ((w || e) && samples.size() < 8) samples.emplace_back(line.substr(0, 300));
  }
  std::printf("visitd log: %zu bytes, %ld warnings, %ld errors\n", log.size(), warnings, errors);
  for (const auto& s : samples) std::printf("  %s\n", s.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse_options(argc, argv);
  bench_box box{o};
  std::printf("visitd %s\n", box.args_text().c_str());
  auto setup_start = steady::now();
  box.set_up();
  auto visits = box.open_visits();
  std::printf("set up %d tenants (endpoint approved, provider linked) and %zu visits in %.1f s\n",
              o.tenants, visits.size(), seconds_between(setup_start, steady::now()));
  std::fflush(stdout);

  ledger book{o.tenants};
  visitd_client metrics{box.server_.client()};
  timeline marks;

  // -- throughput, after a warm-up (tokens, connections) that is not measured
  {
    auto start = steady::now();
    auto events = burst(box, visits, book, 1);
    (void)wait_all_drained(metrics, book.total(), 600);
    std::printf("warm-up: %ld events written back in %.2f s\n", events,
                seconds_between(start, steady::now()));
  }
  std::vector<double> rates, ratios;
  std::string audit_body;
  for (int round = 1; round <= o.rounds; ++round) {
    auto r = throughput_round(box, visits, book, metrics, marks);
    if (audit_body.empty()) {
      // The fixture baseline stores what visitd wrote: one of its AuditEvents.
      auto list = boost::json::parse(
        box.ehr_.control("GET", "/control/ehr/ehr-000/resources/AuditEvent", "").body);
      auto one = list.as_array().at(0).as_object();
      one.erase("id");
      audit_body = boost::json::serialize(one);
    }
    r.baseline_per_s = fixture_baseline(box, audit_body, r.events, round);
    auto rate = static_cast<double>(r.events) / r.drain_s;
    rates.push_back(rate);
    ratios.push_back(rate / r.baseline_per_s);
    std::printf(
      "round %d: %ld events from %d clients, acknowledged in %.2f s (%.0f/s), all "
      "written back in %.2f s: %.0f resources/s; fixture alone %.0f resources/s "
      "(ratio %.2f)\n",
      round, r.events, o.clients, r.ingest_s, static_cast<double>(r.events) / r.ingest_s, r.drain_s,
      rate, r.baseline_per_s, rate / r.baseline_per_s);
    std::fflush(stdout);
  }
  std::printf(
    "throughput: median %.0f resources/s (min %.0f, max %.0f); vs fixture alone: "
    "median %.2f (AuditEvent of %zu bytes)\n",
    median(rates), *std::min_element(rates.begin(), rates.end()),
    *std::max_element(rates.begin(), rates.end()), median(ratios), audit_body.size());
  std::fflush(stdout);

  // -- write-back alone
  auto backlog = backlog_phase(box, visits, book, metrics);
  std::printf(
    "backlog: %ld events made while every EHR answered 503, then released: first "
    "delivery after %.2f s, drained in %.2f s (%.0f resources/s), %.0f resources/s "
    "from 20 %% to 80 %% delivered\n",
    backlog.events, backlog.first_delivery_s, backlog.release_to_drain_s,
    static_cast<double>(backlog.events) / backlog.release_to_drain_s, backlog.middle_per_s);
  std::fflush(stdout);

  // -- outage
  auto outage = outage_phase(box, visits, book, metrics, marks);

  // -- verification
  auto final_metrics = poll_metrics(metrics);
  std::vector<delivery> deliveries;
  auto problems = verify(box, book, final_metrics, deliveries);
  std::printf(
    "delivery latency, event time (AuditEvent.recorded) to stored in the EHR "
    "(meta.lastUpdated), ms:\n");
  for (std::size_t i = 0; i < marks.rounds.size(); ++i) {
    const auto [from, to] = marks.rounds[i];
    auto name = cat({"throughput round ", std::to_string(i + 1), ", all tenants"});
    (void)print_latency(deliveries, name.c_str(), [from = from, to = to](const delivery& d) {
      return d.recorded >= from && d.recorded <= to;
    });
  }
  (void)print_latency(deliveries, "outage phase, before the outage, others",
                      [&](const delivery& d) {
                        return d.tenant != 0 && d.recorded >= marks.outage_phase_start + 1 &&
                               d.recorded < marks.outage_start;
                      });
  auto others_p99 = print_latency(deliveries, "during the outage, others", [&](const delivery& d) {
    return d.tenant != 0 && d.recorded >= marks.outage_start && d.recorded < marks.outage_end;
  });
  (void)print_latency(deliveries, "during the outage, the failing tenant", [&](const delivery& d) {
    return d.tenant == 0 && d.recorded >= marks.outage_start && d.recorded < marks.outage_end;
  });
  (void)print_latency(
    deliveries, "from the outage's end to drained, others", [&](const delivery& d) {
      return d.tenant != 0 && d.recorded >= marks.outage_end && d.recorded < marks.drained;
    });
  (void)print_latency(
    deliveries, "from the outage's end to drained, failing", [&](const delivery& d) {
      return d.tenant == 0 && d.recorded >= marks.outage_end && d.recorded < marks.drained;
    });
  (void)print_latency(deliveries, "after the drain, others", [&](const delivery& d) {
    return d.tenant != 0 && d.recorded >= marks.drained;
  });
  (void)print_latency(deliveries, "after the drain, the failing tenant", [&](const delivery& d) {
    return d.tenant == 0 && d.recorded >= marks.drained;
  });
  print_buckets(deliveries, marks);
  log_summary(box.server_);
  if (book.errors.load() > 0) {
    std::printf("%ld requests failed, e.g.:\n", book.errors.load());
    for (const auto& e : book.error_samples) std::printf("  %s\n", e.c_str());
  }
  auto stopped = box.server_.stop();
  if (stopped != 0) std::printf("visitd exited with %d on SIGTERM\n", stopped);

  std::printf("write_back_vs_fixture_alone=%.2f\n", median(ratios));
  std::printf("write_back_backlog_resources_per_s=%.0f\n", backlog.middle_per_s);
  std::printf("write_back_resources_per_s=%.0f\n", median(rates));
  std::printf("others_p99_delivery_ms_during_outage=%.1f\n", others_p99);
  std::printf("others_max_pending_age_s=%.3f\n", outage.others_max_age_s);
  std::printf("outage_drain_seconds=%.2f\n", outage.drain_s);
  return problems == 0 && book.errors.load() == 0 && stopped == 0 && !std::isnan(outage.drain_s)
           ? 0
           : 1;
}
