#pragma once

// JOSE for SMART App Launch 2.x: the box's own signing keys (SMART Backend Services /
// private_key_jwt client authentication, published as a JWK Set), compact JWS signing and
// verification, and OpenID Connect id_token validation for EHR sign-in.
//
// Pure computation over OpenSSL 3 EVP: no I/O, no clock (every check takes `now`), and no
// exception crosses the module boundary. Keys are immutable once made, so a `signing_key` or a
// `jwk_set` may be shared between threads; copies share the underlying EVP_PKEY.
//
// Deliberately unsupported: `alg: none`, HMAC (HS*), RSA-PSS, EdDSA, JWE, keys embedded in a
// JWS header (`jwk`, `jku`, `x5u`, `x5c` are ignored: verification only ever uses the `jwk_set`
// the caller fetched from the issuer's `jwks_uri`), and any `crit` header extension.

#include "domain/error.hpp"
#include "domain/time.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace visitd::fhir {

// -- algorithms --------------------------------------------------------------------------------

/// The JWS algorithms visitd understands (RFC 7518 §3.1). The box signs with RS384 or ES384
/// (what SMART Backend Services requires servers to accept); it verifies all four (EHRs commonly
/// sign id_tokens with RS256).
enum class jws_alg { rs256, rs384, es256, es384 };

/// "RS256", "RS384", "ES256" or "ES384".
[[nodiscard]] std::string_view to_string(jws_alg alg) noexcept;

/// The algorithm named `name` (exact, case-sensitive), or nullopt for anything else, including
/// "none" and "HS256".
[[nodiscard]] std::optional<jws_alg> parse_jws_alg(std::string_view name) noexcept;

/// Every algorithm `verify_jws` accepts by default.
inline constexpr std::array<jws_alg, 4> verification_algs{jws_alg::rs256, jws_alg::rs384,
                                                          jws_alg::es256, jws_alg::es384};

/// Largest compact JWS accepted by the verifiers and largest JWK Set accepted by parse_jwks.
inline constexpr std::size_t max_jws_bytes = std::size_t{64} * 1024;
inline constexpr std::size_t max_jwks_bytes = std::size_t{256} * 1024;

/// Most keys a JWK Set may hold: a token without `kid` is tried against every compatible key, so
/// the set size bounds the work an attacker-chosen token can cause.
inline constexpr std::size_t max_jwks_keys = 64;

/// `text` decoded from base64url (RFC 4648 §5) without padding, or nullopt when it contains `=`,
/// whitespace or any character outside [A-Za-z0-9_-], has an impossible length (4k+1), or has
/// non-zero bits after the last byte (so every byte string has exactly one accepted encoding).
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);

// -- the box's signing keys --------------------------------------------------------------------

/// A private key the box owns: RS384 over RSA 3072 or ES384 over P-384. Immutable and never
/// empty: copies (and "moves", which copy) share the key, so there is no moved-from state. Not
/// default-constructible: use std::optional for "no key yet".
class signing_key {
public:
  struct impl;

  signing_key(const signing_key&) = default;
  signing_key& operator=(const signing_key&) = default;
  ~signing_key() = default;

  /// RS384 or ES384.
  [[nodiscard]] jws_alg alg() const noexcept;

  /// RFC 7638 JWK thumbprint of the public key: base64url(SHA-256) of the canonical JWK, 43
  /// characters. Stable across PEM round trips, so it identifies the key in the JWK Set.
  [[nodiscard]] const std::string& kid() const noexcept;

  /// The public JWK as a JSON object text: `kty`, `kid`, `alg`, `use:"sig"` and either `n`,`e`
  /// (RSA) or `crv:"P-384"`,`x`,`y` (48-byte coordinates, left-padded). Never private material.
  [[nodiscard]] const std::string& public_jwk() const noexcept;

  /// The private key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"), for the caller to store
  /// (encrypted at rest: this is the box's client credential). The caller should wipe the
  /// returned string (OPENSSL_cleanse) once stored. `internal` only on memory exhaustion.
  [[nodiscard]] domain::result<std::string> to_pem() const;

  /// Internal: the key material. Callers never need it; jose.cpp and tests of jose do.
  [[nodiscard]] const impl& get_impl() const noexcept { return *impl_; }

  explicit signing_key(std::shared_ptr<const impl> key) noexcept : impl_(std::move(key)) {}

private:
  std::shared_ptr<const impl> impl_;
};

/// A fresh key from OpenSSL's CSPRNG: RSA 3072 for RS384 (takes ~0.1-1 s), P-384 for ES384.
/// `invalid_argument` for RS256/ES256 (the box does not sign with them), `unavailable` if key
/// generation fails.
[[nodiscard]] domain::result<signing_key> generate_signing_key(jws_alg alg);

/// Loads a key written by `signing_key::to_pem` (any PKCS#8 or traditional private-key PEM).
/// `invalid_argument` when the PEM does not parse, is not a private key, or does not fit `alg`
/// (RS384: an RSA key of at least 2048 bits, not RSA-PSS; ES384: a P-384 key). When
/// `expected_kid` is not empty the key's thumbprint must equal it (it was stored beside the PEM:
/// a mismatch means the wrong or a corrupted key).
[[nodiscard]] domain::result<signing_key> signing_key_from_pem(std::string_view pem, jws_alg alg,
                                                               std::string_view expected_kid = {});

/// `{"keys":[...]}`: the public JWKs of `keys` in order (what the box serves at
/// /.well-known/jwks.json; during rotation it holds the new and the old key). Null pointers are
/// skipped.
[[nodiscard]] std::string jwks_json(std::span<const signing_key* const> keys);

// -- signing -----------------------------------------------------------------------------------

/// A compact JWS (JWT) over `claims_json` with protected header
/// `{"alg":<key alg>,"typ":"JWT","kid":<key kid>}`. ES384 signatures are the 96-byte JOSE form
/// R||S (RFC 7518 §3.4), never DER. `invalid_argument` when `claims_json` is not a JSON object;
/// `internal` if OpenSSL fails to sign.
[[nodiscard]] domain::result<std::string> sign_jwt(const signing_key& key,
                                                   std::string_view claims_json);

/// `client_assertion_type` value for private_key_jwt (RFC 7523 §2.2).
inline constexpr std::string_view client_assertion_type =
  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest lifetime SMART Backend Services allows for a client assertion.
inline constexpr std::chrono::minutes max_client_assertion_lifetime{5};

/// A SMART Backend Services / private_key_jwt client assertion: claims `iss` = `sub` =
/// `client_id`, `aud` = `token_endpoint`, `iat` = now, `exp` = now + lifetime (whole seconds),
/// `jti`, signed with `key`. `jti` must be unique per assertion (use `random_jti()`): the EHR
/// rejects a replayed one. `invalid_argument` when an argument is empty or not valid UTF-8, or
/// `lifetime` is not in (0, 5 min].
[[nodiscard]] domain::result<std::string> make_client_assertion(
  const signing_key& key, std::string_view client_id, std::string_view token_endpoint,
  domain::timestamp now, std::chrono::seconds lifetime, std::string_view jti);

/// 32 bytes from OpenSSL's CSPRNG, base64url (43 characters); `unavailable` if it fails.
[[nodiscard]] domain::result<std::string> random_jti();

// -- verification ------------------------------------------------------------------------------

/// One public verification key from a JWK Set. Immutable and never empty, like signing_key.
class verification_key {
public:
  struct impl;
  enum class key_type { rsa, ec_p256, ec_p384 };

  verification_key(const verification_key&) = default;
  verification_key& operator=(const verification_key&) = default;
  ~verification_key() = default;

  [[nodiscard]] key_type type() const noexcept;
  /// The JWK's `kid` (empty when it has none).
  [[nodiscard]] const std::string& kid() const noexcept;
  /// The JWK's `alg` when it names one; nullopt when the JWK has no `alg`.
  [[nodiscard]] std::optional<jws_alg> alg() const noexcept;
  /// Modulus size for RSA, 256 or 384 for EC.
  [[nodiscard]] int bits() const noexcept;
  /// RFC 7638 thumbprint of the key (base64url SHA-256 of its canonical JWK).
  [[nodiscard]] const std::string& thumbprint() const noexcept;
  /// Whether this key may verify a JWS with `alg`: its kty/curve fits, and its `alg`, when
  /// present, is `alg`.
  [[nodiscard]] bool compatible_with(jws_alg alg) const noexcept;

  [[nodiscard]] const impl& get_impl() const noexcept { return *impl_; }
  explicit verification_key(std::shared_ptr<const impl> key) noexcept : impl_(std::move(key)) {}

private:
  std::shared_ptr<const impl> impl_;
};

/// The usable keys of a JWK Set, in document order.
struct jwk_set {
  std::vector<verification_key> keys;

  /// Whether some key has this `kid`. A caller that gets "no key matches kid" from a verifier
  /// may re-fetch the issuer's JWKS once (key rotation), but must rate-limit that.
  [[nodiscard]] bool contains_kid(std::string_view kid) const;
};

/// Parses a JWK Set (RFC 7517 §5) into verification keys: `kty:"RSA"` with `n`,`e` and
/// `kty:"EC"` with `crv` P-256 or P-384 and `x`,`y` (exactly 32/48 bytes each, a point on the
/// curve). Keys are skipped, not rejected, when their kty or crv is something else, their `use`
/// is not "sig", their `key_ops` lacks "verify", or their `alg` is not one of `jws_alg` or does
/// not fit the key. `invalid_argument` (naming the key index) when the input is not JSON, has no
/// `keys` array, exceeds max_jwks_bytes / max_jwks_keys, or a supported key is malformed, has an
/// RSA modulus under 2048 bits (or over 8192) or a bad exponent. An empty result is not an
/// error.
[[nodiscard]] domain::result<jwk_set> parse_jwks(std::string_view json);

/// The protected header of a compact JWS, decoded but NOT verified: use it only to pick keys
/// (e.g. whether to re-fetch a JWKS for an unknown kid), never to trust anything.
struct jws_header {
  std::string alg;  ///< As written, possibly "none" or "HS256".
  std::string kid;  ///< Empty when absent.
  std::string typ;  ///< Empty when absent.
};

/// `invalid_argument` when `compact` is not three base64url parts or the header is not a JSON
/// object with string `alg`.
[[nodiscard]] domain::result<jws_header> peek_jws_header(std::string_view compact);

/// Verifies a compact JWS and returns its decoded payload (bytes as signed; not checked to be
/// JSON). Rules:
///  - at most max_jws_bytes; exactly three parts of strict base64url (no padding);
///  - the header is a JSON object without duplicate names or `crit`, whose string `alg` is in
///    `allowed` (so `none`, HS*, PS*, ... are always refused);
///  - with a header `kid`, only keys with that kid and compatible with alg are tried; without
///    one, every compatible key is tried;
///  - RS*: RSASSA-PKCS1-v1_5; ES*: the signature must be exactly 64/96 bytes of R||S.
/// `invalid_argument` for malformed input, `unauthenticated` for a refused algorithm, no
/// matching key or a bad signature; messages start with "jws: ".
[[nodiscard]] domain::result<std::string> verify_jws(
  std::string_view compact, const jwk_set& keys,
  std::span<const jws_alg> allowed = verification_algs);

// -- OpenID Connect id_token -------------------------------------------------------------------

/// The id_token claims visitd uses. `fhir_user` is SMART's `fhirUser` (a Patient, Practitioner,
/// RelatedPerson or Person URL); `profile` is the SMART 1.0 name for it.
struct id_token_claims {
  std::string iss;
  std::string sub;
  std::vector<std::string> aud;  ///< A string `aud` becomes a one-element list.
  std::string azp;               ///< Empty when absent.
  domain::timestamp exp{};
  domain::timestamp iat{};
  std::string nonce;
  std::string fhir_user;  ///< `fhirUser`, or `profile` when fhirUser is absent.
  std::string profile;    ///< The legacy `profile` claim as sent (may be empty).
};

/// Validates an id_token (OpenID Connect Core §3.1.3.7 as SMART App Launch 2.x uses it), in this
/// order, and returns its claims:
///  1. signature (verify_jws with all four algorithms) — "id_token: bad signature", etc.;
///  2. `iss` equals `expected_issuer` exactly (no normalisation) — "id_token: wrong iss";
///  3. `aud` (string or array) contains `expected_client_id`, and when it is an array of several
///     and `azp` is present, `azp` equals it — "id_token: wrong aud" / "id_token: wrong azp";
///  4. `exp` > now - leeway — "id_token: expired"; `nbf`, if present, <= now + leeway;
///  5. `iat` <= now + leeway — "id_token: issued in the future";
///  6. `nonce` equals `expected_nonce` (constant time) — "id_token: nonce mismatch";
///  7. `sub` non-empty; `fhirUser` (or `profile`) non-empty — "id_token: missing fhirUser".
/// Failed checks are `unauthenticated`; malformed input (not a JWS, claims not a JSON object,
/// a claim of the wrong type, a time out of range) is `invalid_argument`. Messages start with
/// "id_token: ". `expected_nonce` must be non-empty (visitd always sends one).
[[nodiscard]] domain::result<id_token_claims> verify_id_token(
  std::string_view compact, const jwk_set& keys, std::string_view expected_issuer,
  std::string_view expected_client_id, std::string_view expected_nonce, domain::timestamp now,
  domain::duration leeway = std::chrono::seconds{60});

}  // namespace visitd::fhir
