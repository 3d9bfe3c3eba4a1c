#pragma once

// The one-time secrets of a SMART App Launch authorization request (an EHR sign-in): the OAuth
// `state` that ties the redirect back to the request, the OpenID Connect `nonce` that ties the
// id_token to it, and the PKCE pair (RFC 7636, S256 only: SMART 2.x requires it).
//
// Every secret is 32 bytes from OpenSSL's CSPRNG (SMART asks for at least 128 bits of entropy),
// encoded as base64url without padding, so it is 43 characters of [A-Za-z0-9_-] and can go in a
// URL or cookie unescaped.

#include "domain/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace visitd::fhir {

/// Random bytes behind each secret (256 bits).
inline constexpr std::size_t authorization_secret_bytes = 32;

/// The secrets of one authorization request. All but `code_challenge` stay on the box (the
/// challenge goes into the authorize URL; the verifier into the token request).
struct authorization_secrets {
  std::string state;
  std::string nonce;
  std::string code_verifier;   ///< 43 characters (RFC 7636 allows 43..128).
  std::string code_challenge;  ///< base64url(SHA-256(code_verifier)): method S256.
};

/// Fresh, independent secrets. `unavailable` when OpenSSL cannot produce random bytes (an
/// unseeded or failing entropy source): a result rather than an exception because no exception
/// crosses a module boundary, and never a weaker fallback such as std::random_device.
[[nodiscard]] domain::result<authorization_secrets> make_authorization_secrets();

/// The PKCE S256 challenge of `verifier`: base64url(SHA-256(verifier)) without padding (43
/// characters). Empty only if OpenSSL cannot compute SHA-256 (out of memory).
[[nodiscard]] std::string pkce_challenge(std::string_view verifier);

/// `bytes` encoded as base64url (RFC 4648 §5) without padding.
[[nodiscard]] std::string base64url_encode(std::string_view bytes);

/// Whether `a` and `b` are equal, in time that depends only on their lengths (CRYPTO_memcmp):
/// use it to compare a presented secret with the expected one. The lengths are not secret (every
/// secret here has the same length), so unequal lengths return false at once.
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace visitd::fhir
