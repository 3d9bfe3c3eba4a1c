#include "auth/join_links.hpp"

#include "auth/sodium.hpp"

#include <sodium.h>

#include <array>
#include <vector>

namespace visitd::auth {

namespace {

constexpr unsigned char token_version = 1;
constexpr std::size_t nonce_bytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t tag_bytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr int base64_variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

domain::error not_valid() {
  return domain::make_error(domain::errc::unauthenticated, "join link is not valid");
}

}  // namespace

std::string seal_join_link(const secret_key& key, const domain::join_grant& grant) {
  ensure_sodium();
  auto plain = domain::encode_join_grant(grant);
  std::vector<unsigned char> sealed(1 + nonce_bytes + plain.size() + tag_bytes);
  sealed[0] = token_version;
  unsigned char* nonce = sealed.data() + 1;
  randombytes_buf(nonce, nonce_bytes);
  unsigned long long cipher_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    nonce + nonce_bytes, &cipher_len, reinterpret_cast<const unsigned char*>(plain.data()),
    plain.size(), sealed.data(), 1, nullptr, nonce, key.data());
  sodium_memzero(plain.data(), plain.size());
  std::string out(sodium_base64_ENCODED_LEN(sealed.size(), base64_variant), '\0');
  sodium_bin2base64(out.data(), out.size(), sealed.data(), sealed.size(), base64_variant);
  out.resize(out.find('\0'));
  return out;
}

domain::result<domain::join_grant> open_join_link(const secret_key& key, std::string_view token,
                                                  domain::timestamp now) {
  if (token.empty() || token.size() > max_join_token_chars) return not_valid();
  ensure_sodium();
  std::vector<unsigned char> sealed(token.size());
  std::size_t sealed_len = 0;
  if (sodium_base642bin(sealed.data(), sealed.size(), token.data(), token.size(), nullptr,
                        &sealed_len, nullptr, base64_variant) != 0)
    return not_valid();
  if (sealed_len < 1 + nonce_bytes + tag_bytes || sealed[0] != token_version) return not_valid();
  const unsigned char* nonce = sealed.data() + 1;
  const unsigned char* cipher = nonce + nonce_bytes;
  const std::size_t cipher_len = sealed_len - 1 - nonce_bytes;
  std::string plain(cipher_len - tag_bytes, '\0');
  unsigned long long plain_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()),
                                                 &plain_len, nullptr, cipher, cipher_len,
                                                 sealed.data(), 1, nonce, key.data()) != 0)
    return not_valid();
  auto grant = domain::decode_join_grant(plain);
  // Sealed by us but not decodable: an older format this build no longer reads.
  if (!grant) return not_valid();
  if (now >= grant->expires_at)
    return domain::make_error(domain::errc::unauthenticated, "join link has expired");
  return grant;
}

}  // namespace visitd::auth
