#pragma once

// The test EHR's HTTPS server (Beast, one io thread). The only translation unit with Beast.

#include "http_types.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace visitd::test_ehr {

struct server_options {
  std::uint16_t port = 0;  ///< 0: an ephemeral port.
  std::string cert_pem;    ///< Leaf certificate served.
  std::string key_pem;     ///< Its private key.
};

/// Makes the handler once the origin ("https://127.0.0.1:<port>") is known; `post` and `after`
/// run functions on the io thread (now, or after a delay).
using handler_factory = std::function<std::unique_ptr<http_handler>(const std::string& origin,
                                                                    post_fn post, after_fn after)>;

/// Binds 127.0.0.1:`port`, prints "test-ehr listening on https://127.0.0.1:<port>" on stdout
/// (flushed) and serves until SIGTERM or SIGINT. Returns the process exit code. Throws when it
/// cannot bind or load the certificate.
int serve(const server_options& options, const handler_factory& make_handler);

}  // namespace visitd::test_ehr
