#pragma once

// Blocking HTTPS GET for a client's registered jwks_url (SMART Backend Services: the server
// fetches the client's JWK Set when it checks an assertion). Uses the tests' pinned-trust
// client, so it runs on a worker thread, never on the io thread.

#include <string>

namespace visitd::test_ehr {

struct fetch_result {
  bool ok = false;
  std::string body;   ///< The 200 response body when ok.
  std::string error;  ///< Why not, otherwise.
};

/// GETs `url` (https, host an IPv4 literal or "localhost", which means 127.0.0.1) trusting only
/// `ca_pem`. Never throws; a non-200 status is an error.
[[nodiscard]] fetch_result fetch_https(const std::string& url, const std::string& ca_pem);

}  // namespace visitd::test_ehr
