#pragma once

// The test EHR's throwaway TLS material: a CA made at start and a leaf for 127.0.0.1/localhost.

#include <string>

namespace visitd::test_ehr {

struct tls_material {
  std::string ca_pem;    ///< The CA certificate clients must trust (written to <dir>/ca.pem).
  std::string cert_pem;  ///< The leaf: SAN IP:127.0.0.1, DNS:localhost; serverAuth.
  std::string key_pem;   ///< The leaf's private key (PKCS#8).
};

/// A fresh P-256 CA (valid an hour back to a week ahead) and a leaf signed by it. Throws
/// std::runtime_error when OpenSSL fails.
[[nodiscard]] tls_material make_tls_material();

}  // namespace visitd::test_ehr
