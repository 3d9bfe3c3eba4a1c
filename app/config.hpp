#pragma once

// The command line and config file of `visitd`, read with Boost.ProgramOptions: typed values,
// unknown keys and bad values are errors that name the key (never silently ignored).

#include "domain/error.hpp"
#include "domain/regions.hpp"
#include "domain/write_back.hpp"
#include "http/server.hpp"
#include "storage/retention.hpp"
#include "storage/store.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace visitd::app {

/// Everything `visitd serve` needs. Defaults are the embedded defaults; config/visitd.conf
/// repeats them with comments (a unit test keeps the two equal).
struct config {
  http::server_options server;
  std::string data_dir = "./data";
  std::string tls_cert;  ///< Empty: use (or generate) <data-dir>/tls/cert.pem.
  std::string tls_key;
  /// The https URL EHRs and browsers reach this box at (integration records are built from it);
  /// empty: the listener's own address.
  std::string public_url;
  /// Extra CA bundles (PEM files) trusted for one tenant's EHR, on top of the system store: for
  /// test EHRs with a private CA. Tenant id -> path.
  std::map<std::string, std::string> ehr_ca;
  /// How long an EHR sign-in (validation or launch) may take between visitd sending the browser
  /// to the EHR and the EHR sending it back.
  std::chrono::seconds sign_in_timeout{600};
  /// Write-back (docs/write-back.md): what is written, the longest retry wait, how long a
  /// tripped circuit breaker stays open, and the writes in flight per endpoint.
  domain::write_back_targets write_back_writes;
  std::chrono::seconds write_back_max_delay{300};
  std::chrono::seconds write_back_breaker_open{30};
  std::size_t write_back_concurrency = 4;
  std::size_t actor_threads = 2;
  storage::durability durability = storage::durability::sync;
  std::string log_level = "info";
  storage::retention_policy retention;
  std::chrono::minutes retention_interval{60};
  /// The regions this box serves; a new tenant must be in one of them (`make_tenant_in`).
  domain::region_list regions = domain::make_region_list(default_regions).value();

  static constexpr std::string_view default_regions = "local";
};

enum class command { serve, help, version, create_operator };

struct invocation {
  command what = command::serve;
  config settings;
  std::string help_text;  ///< Filled for command::help.
  std::string login;      ///< Filled for command::create_operator.
};

/// Parses `visitd [serve] [--config FILE] [--key value ...]` and
/// `visitd admin create-operator LOGIN [--config FILE] [--key value ...]`. Command-line values
/// override the config file, which overrides the embedded defaults. Fails with invalid_argument
/// naming the offending option, key or value.
[[nodiscard]] domain::result<invocation> parse_command_line(const std::vector<std::string>& args);

/// The version string printed by --version.
[[nodiscard]] std::string version_string();

}  // namespace visitd::app
