#pragma once

// The token endpoint's replies in SMART App Launch 2.x: a successful access token response
// (RFC 6749 §5.1 plus SMART's launch context) and an OAuth error reply (RFC 6749 §5.2). Parsing
// is separate from the HTTP exchange so it can be unit-tested and fuzzed on its own.

#include "domain/error.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::fhir {

/// Largest token-endpoint reply parsed, and largest single string field in it.
inline constexpr std::size_t max_token_response_bytes = std::size_t{1024} * 1024;
inline constexpr std::size_t max_token_field_bytes = std::size_t{64} * 1024;
/// Most `fhirContext` entries accepted.
inline constexpr std::size_t max_fhir_context_entries = 128;
/// Longest `expires_in` kept: larger values (some servers send 2^31-1 for "never") are clamped
/// so that `now + expires_in` cannot overflow a timestamp.
inline constexpr std::chrono::seconds max_expires_in{std::chrono::days{366}};

/// One SMART 2.x `fhirContext` entry that names a resource by `reference`.
struct fhir_context_item {
  std::string reference;  ///< e.g. "Appointment/123" (relative or absolute).
  std::string type;       ///< FHIR resource type, empty when absent.
  std::string role;       ///< URI for the role, empty when absent.
};

/// A successful token response. Strings the server did not send are empty.
struct token_response {
  std::string access_token;  ///< Required, non-empty. A secret: never log it.
  std::string token_type;    ///< Always "Bearer" (the only type accepted, normalised).
  std::optional<std::chrono::seconds> expires_in;  ///< At most max_expires_in (clamped).
  std::string scope;  ///< Space-separated scopes granted (SMART requires it; RFC 6749 does not).
  std::optional<std::string> refresh_token;     ///< A secret.
  std::optional<std::string> id_token;          ///< Compact JWS; verify with verify_id_token.
  std::string patient;                          ///< Launch context: Patient id.
  std::string encounter;                        ///< Launch context: Encounter id.
  std::vector<fhir_context_item> fhir_context;  ///< Entries without `reference` are dropped.
  std::optional<bool> need_patient_banner;
  std::string intent;           ///< e.g. "reconcile-medications"; EHR-defined.
  std::string smart_style_url;  ///< Styling hints URL for embedded apps.
  std::string tenant;           ///< Tenant id, when the EHR reports one.
};

/// Parses a token endpoint's 200 reply. `invalid_argument`, naming the field, when the input is
/// not a JSON object (or over max_token_response_bytes), has a duplicate member, lacks
/// `access_token` or `token_type`, has `token_type` other than "Bearer" (case-insensitive: RFC
/// 6749 §5.1), has a known field of the wrong type (e.g. `expires_in` that is not a non-negative
/// integer, `need_patient_banner` that is not a boolean), or a string field longer than
/// max_token_field_bytes. Unknown fields are ignored.
[[nodiscard]] domain::result<token_response> parse_token_response(std::string_view json);

/// An OAuth error reply (RFC 6749 §5.2), usually with HTTP 400 or 401.
struct oauth_error {
  std::string error;              ///< e.g. "invalid_grant", "invalid_client".
  std::string error_description;  ///< Human-readable; from the remote side: escape when shown.
  std::string error_uri;
};

/// Parses an OAuth error reply. `invalid_argument` when it is not a JSON object, `error` is
/// missing, not a string or empty, or a field is of the wrong type or too long.
[[nodiscard]] domain::result<oauth_error> parse_oauth_error(std::string_view json);

}  // namespace visitd::fhir
