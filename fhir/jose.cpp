#include "fhir/jose.hpp"

#include "fhir/authorization_secrets.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace visitd::fhir {

using domain::errc;
using domain::make_error;

namespace {

// -- OpenSSL ownership ---------------------------------------------------------------------------

template <auto Free>
struct openssl_deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, openssl_deleter<EVP_PKEY_CTX_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, openssl_deleter<EVP_MD_CTX_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free>>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, openssl_deleter<ECDSA_SIG_free>>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, openssl_deleter<OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, openssl_deleter<OSSL_PARAM_free>>;

}  // namespace

// -- key implementations ----------------------------------------------------------------------

struct signing_key::impl {
  jws_alg alg{};
  pkey_ptr pkey;
  std::string kid;
  std::string public_jwk;
};

struct verification_key::impl {
  key_type type{};
  pkey_ptr pkey;
  std::string kid;
  std::optional<jws_alg> alg;
  int bits = 0;
  std::string thumbprint;
};

namespace {

/// Clears OpenSSL's thread-local error queue when a public entry point returns: a failed
/// verification must not leave errors behind that an unrelated TLS call on this thread would
/// later report as its own.
struct openssl_error_scope {
  openssl_error_scope() = default;
  openssl_error_scope(const openssl_error_scope&) = delete;
  openssl_error_scope& operator=(const openssl_error_scope&) = delete;
  ~openssl_error_scope() { ERR_clear_error(); }
};

std::string_view bytes_view(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

const unsigned char* bytes_data(std::string_view bytes) {
  return reinterpret_cast<const unsigned char*>(bytes.data());
}

std::string sha256_base64url(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
    return {};
  return base64url_encode(bytes_view(digest.data(), length));
}

/// `bn` big-endian, base64url: minimal length when `width` is 0, else left-padded to `width`.
std::string bn_base64url(const BIGNUM* bn, int width = 0) {
  const int size = width > 0 ? width : BN_num_bytes(bn);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(bytes.data());
  const int written = width > 0 ? BN_bn2binpad(bn, out, width) : BN_bn2bin(bn, out);
  if (written != size) return {};
  return base64url_encode(bytes);
}

const EVP_MD* digest_of(jws_alg alg) {
  return alg == jws_alg::rs256 || alg == jws_alg::es256 ? EVP_sha256() : EVP_sha384();
}

bool is_ec(jws_alg alg) {
  return alg == jws_alg::es256 || alg == jws_alg::es384;
}

/// Bytes of one ECDSA coordinate (and of R and S) for an EC algorithm.
int coordinate_bytes(jws_alg alg) {
  return alg == jws_alg::es256 ? 32 : 48;
}

// -- JSON ---------------------------------------------------------------------------------------

/// Appends `text` (valid UTF-8) as a JSON string literal.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out.append("\\u00");
      out += hex[byte >> 4];
      out += hex[byte & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

/// Parses `text` as one JSON object (the DOM parser validates the whole document, including
/// UTF-8 and trailing content). The object lives in `parser`.
bool parse_object(simdjson::dom::parser& parser, std::string_view text,
                  simdjson::dom::object& out) {
  const simdjson::padded_string padded{text};
  return !parser.parse(padded).get_object().get(out);
}

/// Whether a member name occurs twice. RFC 7515 §5.2 lets a JWS parser reject such headers, and
/// it must: "last one wins" in one library and "first one wins" in another is how a forged `alg`
/// or `aud` slips past a check.
bool has_duplicate_names(simdjson::dom::object object) {
  std::vector<std::string_view> names;
  names.reserve(object.size());
  for (const auto field : object) names.push_back(field.key);
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) != names.end();
}

enum class lookup { missing, found, wrong_type };

lookup find_string(simdjson::dom::object object, std::string_view name, std::string_view& out) {
  simdjson::dom::element element;
  if (object.at_key(name).get(element)) return lookup::missing;
  return element.get_string().get(out) ? lookup::wrong_type : lookup::found;
}

/// `text` when it is short and plain enough to quote in an error message, else a placeholder:
/// algorithm names come from the attacker.
std::string quotable(std::string_view text) {
  const bool plain = text.size() <= 24 && std::all_of(text.begin(), text.end(), [](char c) {
                       return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '+';
                     });
  if (!plain) return "(not shown)";
  std::string out{"\""};
  out.append(text);
  out += '"';
  return out;
}

domain::error prefixed(errc code, std::string_view prefix, std::string_view what) {
  std::string message{prefix};
  message.append(": ");
  message.append(what);
  return make_error(code, std::move(message));
}

// -- public key components ------------------------------------------------------------------------

/// The members of a public JWK, each already base64url (so they never need JSON escaping).
struct public_components {
  std::string_view kty;  ///< "RSA" or "EC".
  std::string_view crv;  ///< "P-256" / "P-384" for EC.
  std::string n, e, x, y;

  /// RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
  [[nodiscard]] std::string canonical_json() const {
    std::string out;
    if (kty == "RSA") {
      out.append(R"({"e":")").append(e).append(R"(","kty":"RSA","n":")").append(n).append("\"}");
    } else {
      out.append(R"({"crv":")").append(crv).append(R"(","kty":"EC","x":")").append(x);
      out.append(R"(","y":")").append(y).append("\"}");
    }
    return out;
  }
};

domain::result<public_components> rsa_components(EVP_PKEY* pkey) {
  BIGNUM* n_raw = nullptr;
  BIGNUM* e_raw = nullptr;
  const bool got_n = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n_raw) == 1;
  const bn_ptr n{n_raw};
  const bool got_e = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e_raw) == 1;
  const bn_ptr e{e_raw};
  if (!got_n || !got_e) return make_error(errc::internal, "cannot read the RSA public key");
  public_components out;
  out.kty = "RSA";
  out.n = bn_base64url(n.get());
  out.e = bn_base64url(e.get());
  if (out.n.empty() || out.e.empty())
    return make_error(errc::internal, "cannot encode the RSA public key");
  return out;
}

domain::result<public_components> ec_components(EVP_PKEY* pkey, std::string_view crv, int width) {
  BIGNUM* x_raw = nullptr;
  BIGNUM* y_raw = nullptr;
  const bool got_x = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x_raw) == 1;
  const bn_ptr x{x_raw};
  const bool got_y = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y_raw) == 1;
  const bn_ptr y{y_raw};
  if (!got_x || !got_y) return make_error(errc::internal, "cannot read the EC public key");
  public_components out;
  out.kty = "EC";
  out.crv = crv;
  out.x = bn_base64url(x.get(), width);
  out.y = bn_base64url(y.get(), width);
  if (out.x.empty() || out.y.empty())
    return make_error(errc::internal, "cannot encode the EC public key");
  return out;
}

std::string ec_group_name(EVP_PKEY* pkey) {
  std::array<char, 64> name{};
  std::size_t length = 0;
  if (EVP_PKEY_get_group_name(pkey, name.data(), name.size(), &length) != 1) return {};
  return std::string{name.data(), std::min(length, name.size())};
}

// -- signatures -----------------------------------------------------------------------------------

/// DER ECDSA-Sig-Value -> JOSE R||S, each left-padded to `width`. Empty on malformed input.
std::string der_to_raw(std::string_view der, int width) {
  const auto* p = bytes_data(der);
  const ecdsa_sig_ptr sig{d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()))};
  if (!sig) return {};
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(static_cast<std::size_t>(2 * width), '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, width) != width || BN_bn2binpad(s, out + width, width) != width)
    return {};
  return raw;
}

/// JOSE R||S (exactly 2 * width bytes, checked by the caller) -> DER. Empty on failure.
std::string raw_to_der(std::string_view raw, int width) {
  const auto* p = bytes_data(raw);
  bn_ptr r{BN_bin2bn(p, width, nullptr)};
  bn_ptr s{BN_bin2bn(p + width, width, nullptr)};
  ecdsa_sig_ptr sig{ECDSA_SIG_new()};
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return {};
  // ECDSA_SIG_set0 took ownership of r and s.
  (void)r.release();
  (void)s.release();
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0) return {};
  std::string out{bytes_view(der, static_cast<std::size_t>(length))};
  OPENSSL_free(der);
  return out;
}

domain::result<std::string> sign_bytes(EVP_PKEY* pkey, jws_alg alg, std::string_view input) {
  const md_ctx_ptr ctx{EVP_MD_CTX_new()};
  std::string signature(static_cast<std::size_t>(std::max(EVP_PKEY_get_size(pkey), 0)), '\0');
  std::size_t length = signature.size();
  if (!ctx || signature.empty() ||
      EVP_DigestSignInit(ctx.get(), nullptr, digest_of(alg), nullptr, pkey) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     bytes_data(input), input.size()) != 1)
    return make_error(errc::internal, "jws: signing failed (OpenSSL error " +
                                        std::to_string(ERR_peek_last_error()) + ")");
  signature.resize(length);
  if (!is_ec(alg)) return signature;
  auto raw = der_to_raw(signature, coordinate_bytes(alg));
  if (raw.empty()) return make_error(errc::internal, "jws: cannot convert the ECDSA signature");
  return raw;
}

bool verify_bytes(EVP_PKEY* pkey, jws_alg alg, std::string_view input, std::string_view signature) {
  std::string der;
  if (is_ec(alg)) {
    const int width = coordinate_bytes(alg);
    // Only the exact JOSE length is a signature; DER or truncated forms are not.
    if (signature.size() != 2 * static_cast<std::size_t>(width)) return false;
    der = raw_to_der(signature, width);
    if (der.empty()) return false;
    signature = der;
  }
  const md_ctx_ptr ctx{EVP_MD_CTX_new()};
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, digest_of(alg), nullptr, pkey) == 1 &&
         EVP_DigestVerify(ctx.get(), bytes_data(signature), signature.size(), bytes_data(input),
                          input.size()) == 1;
}

// -- compact serialization ------------------------------------------------------------------------

struct compact_parts {
  std::string_view header, payload, signature;  ///< Still base64url.
  std::string_view signing_input;               ///< header '.' payload
};

std::optional<compact_parts> split_compact(std::string_view compact) {
  const auto first = compact.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = compact.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (compact.find('.', second + 1) != std::string_view::npos) return std::nullopt;
  compact_parts parts;
  parts.header = compact.substr(0, first);
  parts.payload = compact.substr(first + 1, second - first - 1);
  parts.signature = compact.substr(second + 1);
  parts.signing_input = compact.substr(0, second);
  return parts;
}

struct decoded_header {
  jws_header fields;
  bool has_kid = false;
};

domain::result<decoded_header> decode_header(std::string_view encoded, std::string_view prefix) {
  const auto json = base64url_decode(encoded);
  if (!json) return prefixed(errc::invalid_argument, prefix, "header is not base64url");
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (!parse_object(parser, *json, object))
    return prefixed(errc::invalid_argument, prefix, "header is not a JSON object");
  if (has_duplicate_names(object))
    return prefixed(errc::invalid_argument, prefix, "header has a duplicate member");
  decoded_header out;
  std::string_view value;
  switch (find_string(object, "alg", value)) {
    case lookup::found: out.fields.alg = value; break;
    case lookup::missing: return prefixed(errc::invalid_argument, prefix, "header has no alg");
    case lookup::wrong_type:
      return prefixed(errc::invalid_argument, prefix, "header alg must be a string");
  }
  switch (find_string(object, "kid", value)) {
    case lookup::found:
      out.fields.kid = value;
      out.has_kid = true;
      break;
    case lookup::missing: break;
    case lookup::wrong_type:
      return prefixed(errc::invalid_argument, prefix, "header kid must be a string");
  }
  if (find_string(object, "typ", value) == lookup::found) out.fields.typ = value;
  // RFC 7515 §4.1.11: a recipient that does not understand every listed extension must reject
  // the JWS, and visitd understands none.
  simdjson::dom::element crit;
  if (!object.at_key("crit").get(crit))
    return prefixed(errc::unauthenticated, prefix, "header has unsupported crit extensions");
  return out;
}

domain::result<std::string> verify_compact(std::string_view compact, const jwk_set& keys,
                                           std::span<const jws_alg> allowed,
                                           std::string_view prefix) {
  const openssl_error_scope clear_errors;
  if (compact.size() > max_jws_bytes)
    return prefixed(errc::invalid_argument, prefix, "token is too large");
  const auto parts = split_compact(compact);
  if (!parts)
    return prefixed(errc::invalid_argument, prefix, "not a compact JWS (three parts expected)");
  auto header = decode_header(parts->header, prefix);
  if (!header) return std::move(header).err();

  const auto alg = parse_jws_alg(header->fields.alg);
  if (!alg || std::find(allowed.begin(), allowed.end(), *alg) == allowed.end())
    return prefixed(errc::unauthenticated, prefix,
                    "algorithm " + quotable(header->fields.alg) + " is not allowed");

  auto payload = base64url_decode(parts->payload);
  if (!payload) return prefixed(errc::invalid_argument, prefix, "payload is not base64url");
  const auto signature = base64url_decode(parts->signature);
  if (!signature) return prefixed(errc::invalid_argument, prefix, "signature is not base64url");

  bool any_key = false;
  for (const auto& key : keys.keys) {
    if (!key.compatible_with(*alg)) continue;
    if (header->has_kid && key.kid() != header->fields.kid) continue;
    any_key = true;
    if (verify_bytes(key.get_impl().pkey.get(), *alg, parts->signing_input, *signature))
      return std::move(*payload);
  }
  if (!any_key)
    return prefixed(errc::unauthenticated, prefix,
                    header->has_kid ? "no key matches kid for " + std::string{to_string(*alg)}
                                    : "no key for " + std::string{to_string(*alg)});
  return prefixed(errc::unauthenticated, prefix, "bad signature");
}

// -- JWK Set parsing ------------------------------------------------------------------------------

domain::error jwks_error(std::size_t index, std::string_view what) {
  std::string message{"jwks: keys["};
  message.append(std::to_string(index)).append("] ").append(what);
  return make_error(errc::invalid_argument, std::move(message));
}

/// A base64url member that must be present; the error names it.
domain::result<std::string> required_bytes(simdjson::dom::object object, std::size_t index,
                                           std::string_view name) {
  std::string_view encoded;
  if (find_string(object, name, encoded) != lookup::found) {
    std::string what{name};
    return jwks_error(index, what.append(" must be a string"));
  }
  auto bytes = base64url_decode(encoded);
  if (!bytes) {
    std::string what{name};
    return jwks_error(index, what.append(" is not base64url"));
  }
  return std::move(*bytes);
}

std::string_view strip_leading_zeros(std::string_view bytes) {
  while (!bytes.empty() && bytes.front() == '\0') bytes.remove_prefix(1);
  return bytes;
}

domain::result<pkey_ptr> pkey_from_params(const char* type, OSSL_PARAM_BLD* builder) {
  const params_ptr params{OSSL_PARAM_BLD_to_param(builder)};
  const pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr)};
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return make_error(errc::invalid_argument, "not a valid public key");
  pkey_ptr pkey{raw};
  // For EC this checks that the point is on the curve and in the right subgroup, so a crafted
  // key cannot turn verification into an invalid-curve oracle.
  const pkey_ctx_ptr check{EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr)};
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    return make_error(errc::invalid_argument, "not a valid public key");
  return pkey;
}

/// Checks that `pkey` (a private key) fits `alg` and wraps it with its kid and public JWK.
domain::result<signing_key> make_signing_key(pkey_ptr pkey, jws_alg alg) {
  domain::result<public_components> components =
    make_error(errc::invalid_argument, "signing key: unsupported algorithm");
  if (alg == jws_alg::rs384) {
    // EVP_PKEY_is_a("RSA") is false for RSA-PSS keys, whose PSS restriction RS384 would break.
    if (EVP_PKEY_is_a(pkey.get(), "RSA") != 1)
      return make_error(errc::invalid_argument, "signing key: RS384 needs an RSA key");
    if (EVP_PKEY_get_bits(pkey.get()) < 2048)
      return make_error(errc::invalid_argument, "signing key: RSA key under 2048 bits");
    components = rsa_components(pkey.get());
  } else if (alg == jws_alg::es384) {
    if (EVP_PKEY_is_a(pkey.get(), "EC") != 1 || ec_group_name(pkey.get()) != "secp384r1")
      return make_error(errc::invalid_argument, "signing key: ES384 needs a P-384 key");
    components = ec_components(pkey.get(), "P-384", 48);
  }
  if (!components) return std::move(components).err();

  auto out = std::make_shared<signing_key::impl>();
  out->alg = alg;
  out->pkey = std::move(pkey);
  out->kid = sha256_base64url(components->canonical_json());
  if (out->kid.empty()) return make_error(errc::internal, "signing key: SHA-256 failed");
  // kty, kid, alg, use, then the key members: all base64url or fixed names, so no escaping.
  auto& jwk = out->public_jwk;
  jwk.append(R"({"kty":")").append(components->kty);
  jwk.append(R"(","kid":")").append(out->kid);
  jwk.append(R"(","alg":")").append(to_string(alg)).append(R"(","use":"sig",)");
  if (components->kty == "RSA") {
    jwk.append(R"("n":")").append(components->n).append(R"(","e":")").append(components->e);
  } else {
    jwk.append(R"("crv":")").append(components->crv).append(R"(","x":")").append(components->x);
    jwk.append(R"(","y":")").append(components->y);
  }
  jwk.append("\"}");
  return signing_key{std::move(out)};
}

/// The JWK members every key keeps besides its material.
struct jwk_meta {
  std::string_view kid;
  std::optional<jws_alg> alg;
};

domain::result<verification_key> rsa_verification_key(simdjson::dom::object object,
                                                      std::size_t index, const jwk_meta& meta) {
  auto n_bytes = required_bytes(object, index, "n");
  if (!n_bytes) return std::move(n_bytes).err();
  auto e_bytes = required_bytes(object, index, "e");
  if (!e_bytes) return std::move(e_bytes).err();
  const auto n_digits = strip_leading_zeros(*n_bytes);
  const auto e_digits = strip_leading_zeros(*e_bytes);
  if (n_digits.size() > 8192 / 8) return jwks_error(index, "RSA modulus is over 8192 bits");
  // An exponent of at most 64 bits, odd and > 1 (OpenSSL refuses larger ones for big moduli).
  if (e_digits.empty() || e_digits.size() > 8 || (e_digits.back() & 1) == 0 ||
      (e_digits.size() == 1 && static_cast<unsigned char>(e_digits.back()) < 3))
    return jwks_error(index, "RSA exponent is invalid");

  const bn_ptr n{BN_bin2bn(bytes_data(n_digits), static_cast<int>(n_digits.size()), nullptr)};
  const bn_ptr e{BN_bin2bn(bytes_data(e_digits), static_cast<int>(e_digits.size()), nullptr)};
  if (!n || !e) return make_error(errc::internal, "jwks: out of memory");
  const int bits = BN_num_bits(n.get());
  if (bits < 2048)
    return jwks_error(index, "RSA modulus is " + std::to_string(bits) + " bits (minimum 2048)");

  const param_bld_ptr builder{OSSL_PARAM_BLD_new()};
  if (!builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
    return make_error(errc::internal, "jwks: out of memory");
  auto pkey = pkey_from_params("RSA", builder.get());
  if (!pkey) return jwks_error(index, pkey.err().message);

  auto out = std::make_shared<verification_key::impl>();
  out->type = verification_key::key_type::rsa;
  out->pkey = std::move(*pkey);
  out->kid = meta.kid;
  out->alg = meta.alg;
  out->bits = bits;
  public_components components;
  components.kty = "RSA";
  components.n = bn_base64url(n.get());
  components.e = bn_base64url(e.get());
  out->thumbprint = sha256_base64url(components.canonical_json());
  return verification_key{std::move(out)};
}

domain::result<verification_key> ec_verification_key(simdjson::dom::object object,
                                                     std::size_t index, bool p384,
                                                     const jwk_meta& meta) {
  const std::size_t width = p384 ? 48 : 32;
  auto x = required_bytes(object, index, "x");
  if (!x) return std::move(x).err();
  auto y = required_bytes(object, index, "y");
  if (!y) return std::move(y).err();
  // RFC 7518 §6.2.1.2: the coordinates are the full field size, never shortened.
  if (x->size() != width || y->size() != width)
    return jwks_error(index, "EC coordinates have the wrong length");

  std::string point{"\x04"};  // SEC 1 uncompressed point
  point.append(*x).append(*y);
  const param_bld_ptr builder{OSSL_PARAM_BLD_new()};
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      p384 ? "secp384r1" : "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1)
    return make_error(errc::internal, "jwks: out of memory");
  auto pkey = pkey_from_params("EC", builder.get());
  if (!pkey) return jwks_error(index, pkey.err().message);

  auto out = std::make_shared<verification_key::impl>();
  out->type = p384 ? verification_key::key_type::ec_p384 : verification_key::key_type::ec_p256;
  out->pkey = std::move(*pkey);
  out->kid = meta.kid;
  out->alg = meta.alg;
  out->bits = p384 ? 384 : 256;
  public_components components;
  components.kty = "EC";
  components.crv = p384 ? "P-384" : "P-256";
  components.x = base64url_encode(*x);
  components.y = base64url_encode(*y);
  out->thumbprint = sha256_base64url(components.canonical_json());
  return verification_key{std::move(out)};
}

/// One member of the `keys` array: a key, nullopt for a key visitd skips, or an error.
domain::result<std::optional<verification_key>> parse_jwk(simdjson::dom::element element,
                                                          std::size_t index) {
  using skipped = std::optional<verification_key>;
  simdjson::dom::object object;
  if (element.get_object().get(object)) return jwks_error(index, "is not an object");
  if (has_duplicate_names(object)) return jwks_error(index, "has a duplicate member");

  std::string_view kty;
  std::string_view use;
  std::string_view kid;
  std::string_view alg_name;
  std::string_view crv;
  if (find_string(object, "kty", kty) != lookup::found) return skipped{};
  if (kty != "RSA" && kty != "EC") return skipped{};
  switch (find_string(object, "use", use)) {
    case lookup::found:
      if (use != "sig") return skipped{};
      break;
    case lookup::missing: break;
    case lookup::wrong_type: return jwks_error(index, "use must be a string");
  }
  simdjson::dom::element ops_element;
  if (!object.at_key("key_ops").get(ops_element)) {
    simdjson::dom::array ops;
    if (ops_element.get_array().get(ops)) return jwks_error(index, "key_ops must be an array");
    bool verify = false;
    for (const auto op : ops) {
      std::string_view name;
      if (op.get_string().get(name)) return jwks_error(index, "key_ops must hold strings");
      verify = verify || name == "verify";
    }
    if (!verify) return skipped{};
  }
  if (find_string(object, "kid", kid) == lookup::wrong_type)
    return jwks_error(index, "kid must be a string");
  std::optional<jws_alg> alg;
  switch (find_string(object, "alg", alg_name)) {
    case lookup::found:
      alg = parse_jws_alg(alg_name);
      if (!alg) return skipped{};  // PS256, RS512, EdDSA, ...: not ours
      break;
    case lookup::missing: break;
    case lookup::wrong_type: return jwks_error(index, "alg must be a string");
  }

  const jwk_meta meta{kid, alg};
  domain::result<verification_key> key = jwks_error(index, "unsupported");
  if (kty == "RSA") {
    if (alg && is_ec(*alg)) return skipped{};
    key = rsa_verification_key(object, index, meta);
  } else {
    if (find_string(object, "crv", crv) != lookup::found) return skipped{};
    if (crv != "P-256" && crv != "P-384") return skipped{};
    const bool p384 = crv == "P-384";
    if (alg && *alg != (p384 ? jws_alg::es384 : jws_alg::es256)) return skipped{};
    key = ec_verification_key(object, index, p384, meta);
  }
  if (!key) return std::move(key).err();
  return std::optional<verification_key>{std::move(*key)};
}

// -- id_token claims ------------------------------------------------------------------------------

/// RFC 7519 NumericDate bounds: year 9999 keeps every conversion to microseconds far from
/// overflow.
constexpr std::int64_t max_numeric_date = 253402300799;

enum class date_read { ok, wrong_type, out_of_range };

date_read read_numeric_date(simdjson::dom::element element, domain::timestamp& out) {
  std::int64_t seconds = 0;
  switch (element.type()) {
    case simdjson::dom::element_type::INT64: seconds = element.get_int64().value_unsafe(); break;
    case simdjson::dom::element_type::UINT64: return date_read::out_of_range;
    case simdjson::dom::element_type::DOUBLE: {
      const double value = element.get_double().value_unsafe();
      if (!std::isfinite(value) || std::fabs(value) > static_cast<double>(max_numeric_date))
        return date_read::out_of_range;
      seconds = static_cast<std::int64_t>(std::floor(value));
      break;
    }
    default: return date_read::wrong_type;
  }
  if (seconds > max_numeric_date || seconds < -max_numeric_date) return date_read::out_of_range;
  out = domain::timestamp{std::chrono::seconds{seconds}};
  return date_read::ok;
}

struct parsed_claims {
  id_token_claims claims;
  bool has_exp = false, has_iat = false, has_nbf = false, has_nonce = false;
  domain::timestamp nbf{};
};

domain::result<parsed_claims> parse_id_token_claims(std::string_view json) {
  constexpr std::string_view prefix = "id_token";
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (!parse_object(parser, json, object))
    return prefixed(errc::invalid_argument, prefix, "claims are not a JSON object");
  if (has_duplicate_names(object))
    return prefixed(errc::invalid_argument, prefix, "claims have a duplicate member");

  parsed_claims out;
  auto& c = out.claims;
  struct string_claim {
    std::string_view name;
    std::string* target;
    bool* present;
  };
  const string_claim strings[] = {
    {"iss", &c.iss, nullptr},
    {"sub", &c.sub, nullptr},
    {"azp", &c.azp, nullptr},
    {"nonce", &c.nonce, &out.has_nonce},
    {"fhirUser", &c.fhir_user, nullptr},
    {"profile", &c.profile, nullptr},
  };
  for (const auto& claim : strings) {
    std::string_view value;
    switch (find_string(object, claim.name, value)) {
      case lookup::found:
        *claim.target = value;
        if (claim.present != nullptr) *claim.present = true;
        break;
      case lookup::missing: break;
      case lookup::wrong_type:
        return prefixed(errc::invalid_argument, prefix,
                        "claim " + std::string{claim.name} + " must be a string");
    }
  }

  simdjson::dom::element aud;
  if (!object.at_key("aud").get(aud)) {
    std::string_view single;
    simdjson::dom::array many;
    if (!aud.get_string().get(single)) {
      c.aud.emplace_back(single);
    } else if (!aud.get_array().get(many)) {
      for (const auto entry : many) {
        if (entry.get_string().get(single))
          return prefixed(errc::invalid_argument, prefix, "claim aud must hold strings");
        c.aud.emplace_back(single);
      }
    } else {
      return prefixed(errc::invalid_argument, prefix, "claim aud must be a string or array");
    }
  }

  struct date_claim {
    std::string_view name;
    domain::timestamp* target;
    bool* present;
  };
  const date_claim dates[] = {
    {"exp", &c.exp, &out.has_exp}, {"iat", &c.iat, &out.has_iat}, {"nbf", &out.nbf, &out.has_nbf}};
  for (const auto& claim : dates) {
    simdjson::dom::element element;
    if (object.at_key(claim.name).get(element)) continue;
    switch (read_numeric_date(element, *claim.target)) {
      case date_read::ok: *claim.present = true; break;
      case date_read::wrong_type:
        return prefixed(errc::invalid_argument, prefix,
                        "claim " + std::string{claim.name} + " must be a number");
      case date_read::out_of_range:
        return prefixed(errc::invalid_argument, prefix,
                        "claim " + std::string{claim.name} + " is out of range");
    }
  }

  // SMART 1.0 called fhirUser `profile`; 2.x servers may still send only that.
  if (c.fhir_user.empty()) c.fhir_user = c.profile;
  return out;
}

}  // namespace

// -- algorithms ---------------------------------------------------------------------------------

std::string_view to_string(jws_alg alg) noexcept {
  switch (alg) {
    case jws_alg::rs256: return "RS256";
    case jws_alg::rs384: return "RS384";
    case jws_alg::es256: return "ES256";
    case jws_alg::es384: return "ES384";
  }
  return "?";
}

std::optional<jws_alg> parse_jws_alg(std::string_view name) noexcept {
  for (const auto alg : verification_algs)
    if (to_string(alg) == name) return alg;
  return std::nullopt;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // A length of 4k+1 cannot come from whole bytes.
  if (text.size() % 4 == 1) return std::nullopt;
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int value = value_of(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  // Leftover bits (2 or 4) must be zero: otherwise several encodings decode to the same bytes.
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

// -- signing_key --------------------------------------------------------------------------------

jws_alg signing_key::alg() const noexcept {
  return impl_->alg;
}
const std::string& signing_key::kid() const noexcept {
  return impl_->kid;
}
const std::string& signing_key::public_jwk() const noexcept {
  return impl_->public_jwk;
}

domain::result<std::string> signing_key::to_pem() const {
  const openssl_error_scope clear_errors;
  // A secure-heap memory BIO: the PEM is wiped when the BIO is freed.
  const bio_ptr bio{BIO_new(BIO_s_secmem())};
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->pkey.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1)
    return make_error(errc::internal, "signing key: cannot write PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  if (length <= 0 || data == nullptr)
    return make_error(errc::internal, "signing key: cannot write PEM");
  return std::string{data, static_cast<std::size_t>(length)};
}

domain::result<signing_key> generate_signing_key(jws_alg alg) {
  const openssl_error_scope clear_errors;
  EVP_PKEY* raw = nullptr;
  if (alg == jws_alg::rs384)
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(3072));
  else if (alg == jws_alg::es384)
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  else
    return make_error(errc::invalid_argument, "signing key: the box signs with RS384 or ES384");
  if (raw == nullptr)
    return make_error(errc::unavailable, "signing key: key generation failed (OpenSSL error " +
                                           std::to_string(ERR_peek_last_error()) + ")");
  return make_signing_key(pkey_ptr{raw}, alg);
}

domain::result<signing_key> signing_key_from_pem(std::string_view pem, jws_alg alg,
                                                 std::string_view expected_kid) {
  const openssl_error_scope clear_errors;
  if (alg != jws_alg::rs384 && alg != jws_alg::es384)
    return make_error(errc::invalid_argument, "signing key: the box signs with RS384 or ES384");
  if (pem.size() > max_jws_bytes)
    return make_error(errc::invalid_argument, "signing key: PEM too big");
  const bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  // A callback that refuses to supply a passphrase: the default one would prompt on the
  // terminal for an encrypted PEM.
  auto no_passphrase = [](char*, int, int, void*) -> int { return -1; };
  pkey_ptr pkey{bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                    : nullptr};
  if (!pkey)
    return make_error(errc::invalid_argument, "signing key: not an unencrypted private-key PEM");
  auto key = make_signing_key(std::move(pkey), alg);
  if (!key) return key;
  if (!expected_kid.empty() && key->kid() != expected_kid)
    return make_error(errc::invalid_argument,
                      "signing key: the PEM's thumbprint does not match the stored kid");
  return key;
}

std::string jwks_json(std::span<const signing_key* const> keys) {
  std::string out{R"({"keys":[)"};
  bool first = true;
  for (const auto* key : keys) {
    if (key == nullptr) continue;
    if (!first) out += ',';
    first = false;
    out.append(key->public_jwk());
  }
  out.append("]}");
  return out;
}

// -- signing ------------------------------------------------------------------------------------

domain::result<std::string> sign_jwt(const signing_key& key, std::string_view claims_json) {
  const openssl_error_scope clear_errors;
  if (claims_json.size() > max_jws_bytes / 2)
    return make_error(errc::invalid_argument, "jws: claims are too large");
  {
    simdjson::dom::parser parser;
    simdjson::dom::object object;
    if (!parse_object(parser, claims_json, object))
      return make_error(errc::invalid_argument, "jws: claims are not a JSON object");
  }
  std::string header{R"({"alg":")"};
  header.append(to_string(key.alg())).append(R"(","typ":"JWT","kid":")");
  header.append(key.kid()).append("\"}");

  std::string token = base64url_encode(header);
  token += '.';
  token.append(base64url_encode(claims_json));
  auto signature = sign_bytes(key.get_impl().pkey.get(), key.alg(), token);
  if (!signature) return std::move(signature).err();
  token += '.';
  token.append(base64url_encode(*signature));
  return token;
}

domain::result<std::string> make_client_assertion(
  const signing_key& key, std::string_view client_id, std::string_view token_endpoint,
  domain::timestamp now, std::chrono::seconds lifetime, std::string_view jti) {
  const std::pair<std::string_view, std::string_view> inputs[] = {
    {"client_id", client_id}, {"token_endpoint", token_endpoint}, {"jti", jti}};
  for (const auto& [name, value] : inputs) {
    if (value.empty() || value.size() > 4096 ||
        !simdjson::validate_utf8(value.data(), value.size())) {
      std::string message{"client assertion: "};
      message.append(name).append(" must be non-empty UTF-8 (at most 4096 bytes)");
      return make_error(errc::invalid_argument, std::move(message));
    }
  }
  if (lifetime <= std::chrono::seconds::zero() || lifetime > max_client_assertion_lifetime)
    return make_error(errc::invalid_argument, "client assertion: lifetime must be in (0, 5 min]");

  const auto iat = std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
  const auto exp = iat + lifetime.count();
  std::string claims{R"({"iss":)"};
  append_json_string(claims, client_id);
  claims.append(R"(,"sub":)");
  append_json_string(claims, client_id);
  claims.append(R"(,"aud":)");
  append_json_string(claims, token_endpoint);
  claims.append(R"(,"exp":)").append(std::to_string(exp));
  claims.append(R"(,"iat":)").append(std::to_string(iat));
  claims.append(R"(,"jti":)");
  append_json_string(claims, jti);
  claims += '}';
  return sign_jwt(key, claims);
}

domain::result<std::string> random_jti() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    ERR_clear_error();
    return make_error(errc::unavailable, "the random number generator failed; no jti issued");
  }
  return base64url_encode(bytes_view(bytes.data(), bytes.size()));
}

// -- verification ---------------------------------------------------------------------------------

verification_key::key_type verification_key::type() const noexcept {
  return impl_->type;
}
const std::string& verification_key::kid() const noexcept {
  return impl_->kid;
}
std::optional<jws_alg> verification_key::alg() const noexcept {
  return impl_->alg;
}
int verification_key::bits() const noexcept {
  return impl_->bits;
}
const std::string& verification_key::thumbprint() const noexcept {
  return impl_->thumbprint;
}

bool verification_key::compatible_with(jws_alg alg) const noexcept {
  if (impl_->alg && *impl_->alg != alg) return false;
  switch (impl_->type) {
    case key_type::rsa: return alg == jws_alg::rs256 || alg == jws_alg::rs384;
    case key_type::ec_p256: return alg == jws_alg::es256;
    case key_type::ec_p384: return alg == jws_alg::es384;
  }
  return false;
}

bool jwk_set::contains_kid(std::string_view kid) const {
  return std::any_of(keys.begin(), keys.end(), [&](const auto& key) { return key.kid() == kid; });
}

domain::result<jwk_set> parse_jwks(std::string_view json) {
  const openssl_error_scope clear_errors;
  if (json.size() > max_jwks_bytes) return make_error(errc::invalid_argument, "jwks: too large");
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (!parse_object(parser, json, object))
    return make_error(errc::invalid_argument, "jwks: not a JSON object");
  simdjson::dom::array array;
  if (object.at_key("keys").get_array().get(array))
    return make_error(errc::invalid_argument, "jwks: no \"keys\" array");
  if (array.size() > max_jwks_keys)
    return make_error(errc::invalid_argument,
                      "jwks: more than " + std::to_string(max_jwks_keys) + " keys");
  jwk_set out;
  std::size_t index = 0;
  for (const auto element : array) {
    auto key = parse_jwk(element, index++);
    if (!key) return std::move(key).err();
    if (*key) out.keys.push_back(std::move(**key));
  }
  return out;
}

domain::result<jws_header> peek_jws_header(std::string_view compact) {
  if (compact.size() > max_jws_bytes)
    return make_error(errc::invalid_argument, "jws: token is too large");
  const auto parts = split_compact(compact);
  if (!parts)
    return make_error(errc::invalid_argument, "jws: not a compact JWS (three parts expected)");
  auto header = decode_header(parts->header, "jws");
  if (!header) return std::move(header).err();
  return std::move(header->fields);
}

domain::result<std::string> verify_jws(std::string_view compact, const jwk_set& keys,
                                       std::span<const jws_alg> allowed) {
  return verify_compact(compact, keys, allowed, "jws");
}

// -- id_token -------------------------------------------------------------------------------------

domain::result<id_token_claims> verify_id_token(std::string_view compact, const jwk_set& keys,
                                                std::string_view expected_issuer,
                                                std::string_view expected_client_id,
                                                std::string_view expected_nonce,
                                                domain::timestamp now, domain::duration leeway) {
  constexpr std::string_view prefix = "id_token";
  if (expected_issuer.empty() || expected_client_id.empty() || expected_nonce.empty())
    return prefixed(errc::invalid_argument, prefix,
                    "expected issuer, client_id and nonce must not be empty");
  auto payload = verify_compact(compact, keys, verification_algs, prefix);
  if (!payload) return std::move(payload).err();
  auto parsed = parse_id_token_claims(*payload);
  if (!parsed) return std::move(parsed).err();
  auto& claims = parsed->claims;

  if (claims.iss != expected_issuer) return prefixed(errc::unauthenticated, prefix, "wrong iss");
  if (std::find(claims.aud.begin(), claims.aud.end(), expected_client_id) == claims.aud.end())
    return prefixed(errc::unauthenticated, prefix, "wrong aud");
  if (claims.aud.size() > 1 && !claims.azp.empty() && claims.azp != expected_client_id)
    return prefixed(errc::unauthenticated, prefix, "wrong azp");
  if (!parsed->has_exp) return prefixed(errc::unauthenticated, prefix, "missing exp");
  if (claims.exp <= now - leeway) return prefixed(errc::unauthenticated, prefix, "expired");
  if (parsed->has_nbf && parsed->nbf > now + leeway)
    return prefixed(errc::unauthenticated, prefix, "not yet valid (nbf)");
  if (!parsed->has_iat) return prefixed(errc::unauthenticated, prefix, "missing iat");
  if (claims.iat > now + leeway)
    return prefixed(errc::unauthenticated, prefix, "issued in the future (iat)");
  if (!parsed->has_nonce || !constant_time_equal(claims.nonce, expected_nonce))
    return prefixed(errc::unauthenticated, prefix, "nonce mismatch");
  if (claims.sub.empty()) return prefixed(errc::unauthenticated, prefix, "missing sub");
  if (claims.fhir_user.empty()) return prefixed(errc::unauthenticated, prefix, "missing fhirUser");
  return std::move(claims);
}

}  // namespace visitd::fhir
