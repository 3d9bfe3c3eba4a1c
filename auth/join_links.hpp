#pragma once

// Join links for patients and guests: the join grant (domain/join_grant.hpp) sealed with
// XChaCha20-Poly1305 under a key kept in the data directory. The token is opaque (no id or
// deadline readable in it) and cannot be forged or altered without the key (the AEAD tag is
// the signature); a fresh random nonce per link makes two links for one grant differ.
// Format: base64url( version(1) | nonce(24) | ciphertext+tag ), the version byte also bound as
// associated data.

#include "auth/secret_key.hpp"
#include "domain/error.hpp"
#include "domain/join_grant.hpp"

#include <string>
#include <string_view>

namespace visitd::auth {

/// Longest token `open_join_link` looks at; longer input is refused before any work.
inline constexpr std::size_t max_join_token_chars = 512;

[[nodiscard]] std::string seal_join_link(const secret_key& key, const domain::join_grant& grant);

/// The grant a token carries. `unauthenticated` ("join link is not valid") for anything not
/// sealed by `key` (forged, altered, truncated, not base64url, too long), and ("join link has
/// expired") once `now` is at or past the grant's `expires_at`.
[[nodiscard]] domain::result<domain::join_grant> open_join_link(const secret_key& key,
                                                                std::string_view token,
                                                                domain::timestamp now);

}  // namespace visitd::auth
