#pragma once

// SMART App Launch 2.x discovery: the document an EHR serves at
// `{iss}/.well-known/smart-configuration`. Parsing is separate from fetching so the parser can be
// unit-tested and fuzzed on its own.

#include "domain/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace visitd::fhir {

/// The fields of a SMART configuration that visitd relies on.
struct smart_configuration {
  std::string issuer;                  ///< Optional in the spec; required when openid is used.
  std::string jwks_uri;                ///< Where the issuer's id_token keys are published.
  std::string authorization_endpoint;  ///< Required.
  std::string token_endpoint;          ///< Required.
  std::vector<std::string> grant_types_supported;
  std::vector<std::string> token_endpoint_auth_methods_supported;
  /// For private_key_jwt: the assertion algorithms the EHR accepts (SMART 2.x: RS384, ES384).
  std::vector<std::string> token_endpoint_auth_signing_alg_values_supported;
  std::vector<std::string> scopes_supported;
  std::vector<std::string> code_challenge_methods_supported;  ///< Must contain "S256".
  std::vector<std::string> capabilities;                      ///< Required.

  [[nodiscard]] bool has_capability(std::string_view name) const;
};

/// Parses a smart-configuration JSON document. Fails with invalid_argument, naming the field,
/// when the input is not JSON, a required field is missing or of the wrong type, an endpoint is
/// not an absolute https URL, or PKCE S256 is not supported (SMART 2.x requires it and visitd
/// never downgrades to "plain").
[[nodiscard]] domain::result<smart_configuration> parse_smart_configuration(std::string_view json);

}  // namespace visitd::fhir
