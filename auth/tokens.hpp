#pragma once

// Secrets handed to clients (session ids, CSRF tokens, API tokens) and the form they are kept in
// at rest. A token carries 256 random bits, so a plain cryptographic hash is enough at rest (no
// password stretching): whoever reads the store cannot present the token.

#include <string>
#include <string_view>

namespace visitd::auth {

/// 32 random bytes (libsodium's generator), base64url without padding: 43 characters.
[[nodiscard]] std::string random_token();

/// BLAKE2b-256 of `token`, lowercase hex (64 characters): what the store keeps.
[[nodiscard]] std::string token_digest(std::string_view token);

/// Compares in time that depends only on the lengths (for secrets an attacker may probe).
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace visitd::auth
