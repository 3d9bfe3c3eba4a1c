#pragma once

// The server's TLS certificate and key: the operator's own, or a self-signed pair made with
// OpenSSL 3 on first start and reused afterwards.

#include "domain/error.hpp"

#include <string>
#include <vector>

namespace visitd::http {

struct tls_identity {
  std::string certificate_pem;  ///< Leaf certificate (plus chain, if the operator gave one).
  std::string private_key_pem;
  std::string certificate_path;  ///< Where it was read from or written to.
  bool generated = false;        ///< True when this call created the pair.
};

struct tls_identity_options {
  /// Operator-provided files; when both are set they are used as they are (never generated).
  std::string certificate_path;
  std::string private_key_path;
  /// Otherwise `<generated_dir>/cert.pem` and `key.pem` are used, created on first start.
  std::string generated_dir;
  /// Extra DNS names or IP addresses for the generated certificate's subjectAltName; localhost,
  /// 127.0.0.1 and ::1 are always included.
  std::vector<std::string> extra_names;
};

/// Loads the configured pair, or the generated one, creating it if neither file exists. Fails
/// (never overwrites) when only one of the generated pair's files exists, or a file is not PEM
/// or the key does not match the certificate.
[[nodiscard]] domain::result<tls_identity> load_or_create_tls_identity(
  const tls_identity_options& options);

/// A new self-signed certificate (ECDSA P-256, SHA-256) for `names`, as a PEM pair.
[[nodiscard]] domain::result<tls_identity> make_self_signed_identity(
  const std::vector<std::string>& names);

}  // namespace visitd::http
