#pragma once

// Password hashing for local accounts: argon2id (libsodium's crypto_pwhash_str), stored as the
// self-describing PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash), so cost settings can
// be raised later and old hashes still verify (and report that they need a rehash).

#include "domain/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace visitd::auth {

/// Argon2id cost. The defaults are libsodium's "interactive" limits (2 passes, 64 MiB): a
/// sign-in costs ~50-100 ms of one core, and sign-ins are rate-limited per account and address.
struct password_cost {
  unsigned long long ops = 2;
  std::size_t memory_bytes = std::size_t{64} * 1024 * 1024;
};

/// Shortest and longest accepted passwords (in bytes). The upper bound keeps hashing a bounded
/// amount of work whatever a client sends.
inline constexpr std::size_t min_password_bytes = 12;
inline constexpr std::size_t max_password_bytes = 1024;

/// `invalid_argument` naming `password` when it is shorter than `min_password_bytes`, longer
/// than `max_password_bytes`, or not valid UTF-8.
[[nodiscard]] domain::result<void> check_password_rules(std::string_view password);

/// Hashes a password that passes `check_password_rules`; `internal` if libsodium fails (it only
/// does when it cannot allocate the memory the cost asks for).
[[nodiscard]] domain::result<std::string> hash_password(std::string_view password,
                                                        const password_cost& cost = {});

/// True when `password` matches `stored` (a string from `hash_password`). Runs in time that does
/// not depend on where a mismatch is. False for a malformed `stored`.
[[nodiscard]] bool verify_password(std::string_view stored, std::string_view password);

/// True when `stored` was made with other costs than `cost` (or is not an argon2id string):
/// rehash on the next successful sign-in.
[[nodiscard]] bool needs_rehash(std::string_view stored, const password_cost& cost = {});

}  // namespace visitd::auth
