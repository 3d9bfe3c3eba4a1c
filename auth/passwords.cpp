#include "auth/passwords.hpp"

#include "auth/sodium.hpp"

#include <sodium.h>

#include <string>

namespace visitd::auth {

namespace {

/// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

}  // namespace

domain::result<void> check_password_rules(std::string_view password) {
  if (password.size() < min_password_bytes)
    return domain::make_error(
      domain::errc::invalid_argument,
      "password: at least " + std::to_string(min_password_bytes) + " characters");
  if (password.size() > max_password_bytes)
    return domain::make_error(domain::errc::invalid_argument,
                              "password: at most " + std::to_string(max_password_bytes) + " bytes");
  if (!valid_utf8(password))
    return domain::make_error(domain::errc::invalid_argument, "password: not valid UTF-8");
  return {};
}

domain::result<std::string> hash_password(std::string_view password, const password_cost& cost) {
  if (auto ok = check_password_rules(password); !ok) return std::move(ok).err();
  ensure_sodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), cost.ops, cost.memory_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return domain::make_error(domain::errc::internal,
                              "password hashing failed (out of memory for its cost)");
  return std::string{out};
}

bool verify_password(std::string_view stored, std::string_view password) {
  if (password.size() > max_password_bytes || stored.size() >= crypto_pwhash_STRBYTES) return false;
  ensure_sodium();
  std::string terminated{stored};  // libsodium wants a NUL-terminated string
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

bool needs_rehash(std::string_view stored, const password_cost& cost) {
  if (stored.size() >= crypto_pwhash_STRBYTES) return true;
  ensure_sodium();
  std::string terminated{stored};
  return crypto_pwhash_str_needs_rehash(terminated.c_str(), cost.ops, cost.memory_bytes) != 0;
}

}  // namespace visitd::auth
