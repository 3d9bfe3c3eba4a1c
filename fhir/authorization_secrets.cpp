#include "fhir/authorization_secrets.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

namespace visitd::fhir {

namespace {

/// 32 fresh random bytes, base64url: one secret. `unavailable` if the CSPRNG fails.
domain::result<std::string> random_secret() {
  std::array<unsigned char, authorization_secret_bytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // Clear OpenSSL's thread-local error queue so the failure does not surface later in an
    // unrelated TLS call; the code is kept for the message.
    const auto code = ERR_get_error();
    ERR_clear_error();
    return domain::make_error(domain::errc::unavailable,
                              "the random number generator failed (OpenSSL error " +
                                std::to_string(code) + "); no authorization secrets issued");
  }
  auto out =
    base64url_encode(std::string_view{reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return out;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  static constexpr char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  // No padding: the last group keeps only the characters that carry bits.
  if (const auto rest = bytes.size() - i; rest == 1) {
    const unsigned v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

std::string pkce_challenge(std::string_view verifier) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // EVP_Digest with the default provider's SHA-256 fails only on memory exhaustion; then the
  // challenge is empty (which make_authorization_secrets refuses), never a guessable value.
  if (EVP_Digest(verifier.data(), verifier.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
      1)
    length = 0;
  return base64url_encode(std::string_view{reinterpret_cast<const char*>(digest.data()), length});
}

domain::result<authorization_secrets> make_authorization_secrets() {
  authorization_secrets out;
  for (auto* field : {&out.state, &out.nonce, &out.code_verifier}) {
    auto secret = random_secret();
    if (!secret) return std::move(secret).err();
    *field = std::move(*secret);
  }
  out.code_challenge = pkce_challenge(out.code_verifier);
  if (out.code_challenge.empty())
    return domain::make_error(domain::errc::internal, "SHA-256 of the PKCE verifier failed");
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace visitd::fhir
