#pragma once

// JOSE for the test EHR, written from RFC 7515/7517/7518/7638 with OpenSSL 3 (no Beast): the
// fixture's RS256 id_token key and verification of client assertions (RS384, ES384) with a
// client's public JWK.

#include <boost/json/object.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace visitd::test_ehr {

/// Base64url without padding (RFC 7515 §2).
[[nodiscard]] std::string base64url_encode(std::string_view bytes);

/// Strict base64url: no padding, no whitespace, canonical trailing bits; nullopt otherwise.
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);

/// `bytes` bytes from the OpenSSL CSPRNG, base64url-encoded. Throws if the RNG fails.
[[nodiscard]] std::string random_urlsafe(std::size_t bytes);

/// SHA-256 of `data` (raw 32 bytes).
[[nodiscard]] std::string sha256(std::string_view data);

/// The fixture's id_token signing key (RSA 2048, RS256), made once at start.
class signing_key {
public:
  /// Generates a fresh key; throws std::runtime_error when OpenSSL fails.
  static std::unique_ptr<signing_key> generate();
  ~signing_key();
  signing_key(const signing_key&) = delete;
  signing_key& operator=(const signing_key&) = delete;

  /// The RFC 7638 thumbprint of the public key.
  [[nodiscard]] const std::string& kid() const noexcept { return kid_; }

  /// {"kty":"RSA","use":"sig","alg":"RS256","kid",...,"n","e"}.
  [[nodiscard]] boost::json::object public_jwk() const;

  /// A compact JWS of `claims` with header {"alg":"RS256","typ":"JWT","kid":kid}. `kid_override`
  /// replaces the kid when not empty; `tamper` flips one bit of the signature.
  [[nodiscard]] std::string sign_jwt(const boost::json::object& claims,
                                     const std::string& kid_override = {},
                                     bool tamper = false) const;

private:
  struct impl;
  explicit signing_key(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
  std::string kid_;
};

/// A decoded compact JWS; signature not yet checked.
struct compact_jws {
  boost::json::object header;
  boost::json::object claims;
  std::string signing_input;  ///< "<header>.<payload>" as sent.
  std::string signature;      ///< Raw bytes.
};

/// Splits and decodes a compact JWS (three base64url parts, header and payload JSON objects).
/// Nullopt with the reason in `why` when malformed.
[[nodiscard]] std::optional<compact_jws> parse_jws(std::string_view token, std::string& why);

/// Checks `signature` over `input` for `alg` ("RS384": RSASSA-PKCS1-v1_5 SHA-384 with an RSA key
/// of at least 2048 bits; "ES384": raw R||S, 96 bytes, with a P-384 key) using the public JWK
/// `jwk`. False with the reason in `why`.
[[nodiscard]] bool verify_jws_signature(const boost::json::object& jwk, std::string_view alg,
                                        std::string_view input, std::string_view signature,
                                        std::string& why);

}  // namespace visitd::test_ehr
