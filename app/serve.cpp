#include "app/serve.hpp"

#include "actors/runtime.hpp"
#include "app/allocator.hpp"
#include "app/retention_runner.hpp"
#include "app/routes.hpp"
#include "auth/secret_key.hpp"
#include "fhir/https_client.hpp"
#include "fhir/key_ring.hpp"
#include "fhir/pending_authorizations.hpp"
#include "fhir/smart_client.hpp"
#include "fhir/write_back_client.hpp"
#include "http/server.hpp"
#include "http/tls_identity.hpp"
#include "storage/accounts.hpp"
#include "storage/journal.hpp"
#include "storage/recovery.hpp"
#include "storage/store.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <pthread.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace visitd::app {

namespace fs = std::filesystem;

namespace {

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void init_logging(const std::string& level) {
  // Logs go to stderr, one line per event, UTC timestamps; stdout carries only the start banner.
  auto logger = spdlog::stderr_logger_mt("visitd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

/// The io_context of calls to EHRs and its one thread. Declared before everything that holds
/// the client, so it is destroyed after them.
struct outbound_io {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::shared_ptr<fhir::https_client> client = fhir::make_https_client(io);
  std::thread thread{[this] { io.run(); }};

  outbound_io() = default;
  outbound_io(const outbound_io&) = delete;
  outbound_io& operator=(const outbound_io&) = delete;
  ~outbound_io() { stop(); }

  /// Fails what is in flight and joins the thread. The io_context itself lives until the
  /// destructor: every holder of the client (the SMART services, the routes) must be gone
  /// first, since the client's timers are destroyed against it.
  void stop() {
    client->shutdown();
    work.reset();
    if (thread.joinable()) thread.join();
  }
};

/// The box's public base URL, read by request handlers and set once the listener's port is
/// known (when none is configured).
class public_url_holder {
public:
  explicit public_url_holder(std::string url) : url_(std::move(url)) {}
  [[nodiscard]] std::string get() const {
    std::lock_guard lock{mutex_};
    return url_;
  }
  void set(std::string url) {
    std::lock_guard lock{mutex_};
    url_ = std::move(url);
  }

private:
  mutable std::mutex mutex_;
  std::string url_;
};

std::string url_for(const std::string& address, std::uint16_t port) {
  bool ipv6 = address.find(':') != std::string::npos;
  std::string host = address == "0.0.0.0" ? "127.0.0.1" : address == "::" ? "[::1]" : address;
  if (ipv6 && host.front() != '[') host = "[" + host + "]";
  return "https://" + host + ":" + std::to_string(port);
}

int fail_start(const std::string& what, const domain::error& err) {
  spdlog::critical("cannot start: {}: {}", what, err.message);
  std::cerr << "visitd: cannot start: " << what << ": " << err.message << "\n";
  return 1;
}

}  // namespace

void block_shutdown_signals() {
  auto set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int serve(const config& settings) {
  init_logging(settings.log_level);
  auto started = std::chrono::steady_clock::now();
  fs::path data_dir{settings.data_dir};

  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec)
    return fail_start("data dir", domain::make_error(domain::errc::storage_failure,
                                                     data_dir.string() + ": " + ec.message()));

  auto store = storage::open_rocksdb_store({(data_dir / "db").string(), settings.durability});
  if (!store) return fail_start("store", store.err());

  // Recovery reads back everything the actors resume from, and proves it decodes and folds:
  // a corrupt store stops the start here rather than serving half of it.
  auto recovery_started = std::chrono::steady_clock::now();
  auto recovered = storage::recover(**store);
  if (!recovered) return fail_start("recovery", recovered.err());
  spdlog::info("recovered tenants={} endpoints={} open_visits={} ended_visits={} events={} ms={}",
               recovered->tenants.size(), recovered->endpoints.size(),
               recovered->open_visits.size(), recovered->ended_visits, recovered->events_read,
               std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - recovery_started)
                 .count());
  auto accounts = storage::load_accounts(**store);
  if (!accounts) return fail_start("accounts", accounts.err());
  spdlog::info("accounts={} sessions={}", accounts->accounts.size(), accounts->sessions.size());
  if (accounts->accounts.empty())
    spdlog::warn(
      "no accounts yet: create the first operator with `visitd admin "
      "create-operator LOGIN` (with the server stopped)");

  std::vector<std::string> extra_names;
  if (settings.server.bind_address != "0.0.0.0" && settings.server.bind_address != "::")
    extra_names.push_back(settings.server.bind_address);
  auto identity = http::load_or_create_tls_identity(
    {settings.tls_cert, settings.tls_key, (data_dir / "tls").string(), extra_names});
  if (!identity) return fail_start("TLS identity", identity.err());
  spdlog::info("tls certificate={} generated={}", identity->certificate_path, identity->generated);

  // Join links are sealed with a key of this box, made on first start (auth/join_links.hpp).
  fs::create_directories(data_dir / "keys", ec);
  fs::permissions(data_dir / "keys", fs::perms::owner_all, ec);
  auto join_link_key = auth::load_or_create_key(data_dir / "keys" / "join-link.key");
  if (!join_link_key) return fail_start("join-link key", join_link_key.err());

  // The public URL is configured, or the listener's own (known once it listens: port 0).
  auto public_url = std::make_shared<public_url_holder>(settings.public_url);

  // Calls to EHRs run on their own io thread, so a slow EHR never holds a socket thread.
  auto outbound = std::make_unique<outbound_io>();
  auto trusted = std::make_shared<std::set<std::string>>();
  for (const auto& [tenant, path] : settings.ehr_ca) {
    std::ifstream in{path};
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in)
      return fail_start("ehr-ca",
                        domain::make_error(domain::errc::invalid_argument, "cannot read " + path));
    if (auto added = outbound->client->add_trust(tenant, pem.str()); !added)
      return fail_start("ehr-ca " + path, added.err());
    trusted->insert(tenant);
  }
  auto key_ring = fhir::open_key_ring(data_dir / "keys" / "smart");
  if (!key_ring) return fail_start("SMART signing keys", key_ring.err());
  http::smart_services smart{.client = std::make_shared<fhir::smart_client>(outbound->client),
                             .pending = std::make_shared<fhir::pending_authorizations>(),
                             .keys = *key_ring,
                             .public_url = [public_url] { return public_url->get(); },
                             .trust_for =
                               [trusted](const domain::tenant_id& t) {
                                 return trusted->contains(t.str()) ? t.str() : std::string{};
                               },
                             .sign_in_ttl = settings.sign_in_timeout,
                             .clock = {}};

  // The single path for durable writes; actors reach it through completions, never blocking.
  auto journal = storage::start_journal(**store);
  actors::runtime_options runtime_options{.actor_threads = settings.actor_threads,
                                          .regions = settings.regions};
  // Write-back goes out on the same outbound io thread, with the tenant's keys and CA.
  fhir::write_back_client_options write_back_options;
  if (!settings.public_url.empty()) write_back_options.observer = settings.public_url;
  auto write_back = std::make_shared<fhir::write_back_client>(outbound->client, smart.client,
                                                              *key_ring, write_back_options);
  runtime_options.write_back_tuning.allowed = settings.write_back_writes;
  runtime_options.write_back_tuning.max_in_flight = settings.write_back_concurrency;
  runtime_options.write_back_tuning.retry.max_delay = settings.write_back_max_delay;
  runtime_options.write_back_tuning.breaker.open_for = settings.write_back_breaker_open;
  // The actors know endpoints, not trust stores: the tenant's EHR CA is named here.
  auto with_trust = [trust_for = smart.trust_for](fhir::write_back_endpoint endpoint) {
    endpoint.trust = trust_for(endpoint.tenant);
    return endpoint;
  };
  runtime_options.write_back = {
    .check =
      [write_back, with_trust](const fhir::write_back_endpoint& endpoint,
                               const actors::write_back_transport::check_reply& done) {
        write_back->check(with_trust(endpoint), done);
      },
    .deliver =
      [write_back, with_trust](const fhir::write_back_endpoint& endpoint,
                               const fhir::write_back_plan& plan,
                               const domain::write_back_item& item, domain::fhir_write write,
                               const actors::write_back_transport::deliver_reply& done) {
        write_back->deliver(with_trust(endpoint), plan, item, write, done);
      }};
  auto runtime = actors::start_runtime(runtime_options, **store, *journal, std::move(*recovered),
                                       std::move(*accounts));
  auto retention =
    std::make_unique<retention_runner>(**store, settings.retention, settings.retention_interval);

  http::router routes;
  add_all_routes(
    routes, *runtime, runtime_options.session_lifetime, *join_link_key,
    [public_url] { return public_url->get(); }, smart);

  auto server = http::start_server(settings.server, *identity, routes);
  if (!server) {
    retention.reset();
    runtime->shutdown();
    journal->stop();
    (void)(*store)->close();
    return fail_start("listener", server.err());
  }

  auto url = url_for(settings.server.bind_address, (*server)->port());
  if (settings.public_url.empty()) public_url->set(url);
  auto startup_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  spdlog::info(
    "listening url={} data_dir={} durability={} io_threads={} actor_threads={} allocator=\"{}\" "
    "startup_ms={}",
    url, settings.data_dir, storage::to_string(settings.durability), settings.server.io_threads,
    settings.actor_threads, allocator_name(), startup_ms);
  std::cout << "visitd listening on " << url << "\n"
            << "  health:    " << url << "/healthz   readiness: " << url << "/readyz\n"
            << "  data:      " << fs::absolute(data_dir).lexically_normal().string() << "\n"
            << "  TLS:       " << identity->certificate_path
            << (identity->generated ? " (self-signed, made now)" : "") << "\n"
            << "  First sign-in: create an operator with `visitd admin create-operator LOGIN`,\n"
            << "  then POST " << url << "/api/v1/session (docs/operations.md); the certificate\n"
            << "  is self-signed: trust the PEM above.\n"
            << "  Stop with Ctrl-C or SIGTERM.\n"
            << std::flush;

  auto signals = shutdown_signals();
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("stopping signal={}", received == SIGTERM ? "SIGTERM" : "SIGINT");

  // Reverse order of start: no new requests, then no actors, then close the store (flushes
  // the WAL). The server object itself goes last: late responders may still post to it.
  (*server)->stop();
  // Threads that call into the actors end before the actor system does: one that ever did holds
  // CAF's logger, and the actor system's destructor waits for the logger (a hang at stop).
  outbound->stop();
  smart.keys->stop();
  retention.reset();
  runtime->shutdown();
  journal->stop();  // commits and acknowledges whatever the actors appended last
  auto closed = (*store)->close();
  server->reset();
  if (!closed) {
    spdlog::error("closing the store failed: {}", closed.err().message);
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace visitd::app
