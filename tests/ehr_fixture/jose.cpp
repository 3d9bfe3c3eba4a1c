#include "jose.hpp"

#include <boost/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <stdexcept>
#include <vector>

namespace visitd::test_ehr {

namespace json = boost::json;

namespace {

// -- small RAII wrappers ------------------------------------------------------

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct md_ctx_free {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct bld_free {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct params_free {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free>;
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;
using bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, bld_free>;
using params_ptr = std::unique_ptr<OSSL_PARAM, params_free>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, ecdsa_sig_free>;

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::string bn_bytes(const BIGNUM* bn) {
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

/// A string member of `o`, or nullopt when absent or not a string.
std::optional<std::string> string_member(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string{v->get_string()};
}

pkey_ptr rsa_public_key(const json::object& jwk, std::string& why) {
  auto n_text = string_member(jwk, "n");
  auto e_text = string_member(jwk, "e");
  if (!n_text || !e_text) {
    why = "RSA JWK without n or e";
    return nullptr;
  }
  auto n = base64url_decode(*n_text);
  auto e = base64url_decode(*e_text);
  if (!n || !e || n->empty() || e->empty() || e->size() > 8) {
    why = "RSA JWK with a malformed n or e";
    return nullptr;
  }
  bn_ptr n_bn{BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                        static_cast<int>(n->size()), nullptr)};
  bn_ptr e_bn{BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                        static_cast<int>(e->size()), nullptr)};
  bld_ptr bld{OSSL_PARAM_BLD_new()};
  if (!n_bn || !e_bn || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get())) {
    why = "cannot build the RSA key";
    return nullptr;
  }
  params_ptr params{OSSL_PARAM_BLD_to_param(bld.get())};
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)};
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    why = "the RSA JWK is not a valid key";
    return nullptr;
  }
  pkey_ptr key{raw};
  if (EVP_PKEY_get_bits(key.get()) < 2048) {
    why = "RSA key shorter than 2048 bits";
    return nullptr;
  }
  return key;
}

pkey_ptr p384_public_key(const json::object& jwk, std::string& why) {
  if (string_member(jwk, "crv") != std::optional<std::string>{"P-384"}) {
    why = "EC JWK whose crv is not P-384";
    return nullptr;
  }
  auto x_text = string_member(jwk, "x");
  auto y_text = string_member(jwk, "y");
  std::optional<std::string> x, y;
  if (x_text) x = base64url_decode(*x_text);
  if (y_text) y = base64url_decode(*y_text);
  if (!x || !y || x->size() != 48 || y->size() != 48) {
    why = "EC JWK whose x or y is not 48 bytes of base64url";
    return nullptr;
  }
  std::string point = "\x04";
  point.append(*x);
  point.append(*y);
  bld_ptr bld{OSSL_PARAM_BLD_new()};
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    why = "cannot build the EC key";
    return nullptr;
  }
  params_ptr params{OSSL_PARAM_BLD_to_param(bld.get())};
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    why = "the EC JWK is not a point on P-384";
    return nullptr;
  }
  pkey_ptr key{raw};
  pkey_ctx_ptr check{EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr)};
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    why = "the EC JWK is not a point on P-384";
    return nullptr;
  }
  return key;
}

bool digest_verify(EVP_PKEY* key, const EVP_MD* md, std::string_view input,
                   std::string_view signature) {
  md_ctx_ptr ctx{EVP_MD_CTX_new()};
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

std::optional<json::object> parse_object(const std::string& text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

}  // namespace

// -- encodings ----------------------------------------------------------------

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  if (bytes.size() - i == 1) {
    unsigned v = at(i) << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
  } else if (bytes.size() - i == 2) {
    unsigned v = (at(i) << 16) | (at(i + 1) << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = decode_char(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical
  return out;
}

std::string random_urlsafe(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return base64url_encode(raw);
}

std::string sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return std::string(reinterpret_cast<char*>(digest), length);
}

// -- signing_key --------------------------------------------------------------

struct signing_key::impl {
  pkey_ptr key;
  std::string n, e;  // base64url
};

signing_key::signing_key(std::unique_ptr<impl> i) : impl_(std::move(i)) {
  // RFC 7638: members in lexicographic order, no whitespace.
  std::string canonical = R"({"e":")";
  canonical.append(impl_->e).append(R"(","kty":"RSA","n":")").append(impl_->n).append("\"}");
  kid_ = base64url_encode(sha256(canonical));
}

signing_key::~signing_key() = default;

std::unique_ptr<signing_key> signing_key::generate() {
  auto i = std::make_unique<impl>();
  i->key.reset(EVP_RSA_gen(2048));
  if (!i->key) throw std::runtime_error("RSA key generation failed");
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(i->key.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(i->key.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    BN_free(e);
    throw std::runtime_error("cannot read the RSA public key");
  }
  bn_ptr n_owner{n}, e_owner{e};
  i->n = base64url_encode(bn_bytes(n));
  i->e = base64url_encode(bn_bytes(e));
  return std::unique_ptr<signing_key>(new signing_key(std::move(i)));
}

json::object signing_key::public_jwk() const {
  return {{"kty", "RSA"}, {"use", "sig"},  {"alg", "RS256"},
          {"kid", kid_},  {"n", impl_->n}, {"e", impl_->e}};
}

std::string signing_key::sign_jwt(const json::object& claims, const std::string& kid_override,
                                  bool tamper) const {
  json::object header{
    {"alg", "RS256"}, {"typ", "JWT"}, {"kid", kid_override.empty() ? kid_ : kid_override}};
  std::string input = base64url_encode(json::serialize(header));
  input.push_back('.');
  input.append(base64url_encode(json::serialize(claims)));

  md_ctx_ptr ctx{EVP_MD_CTX_new()};
  std::size_t length = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw std::runtime_error("RS256 signing failed");
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw std::runtime_error("RS256 signing failed");
  signature.resize(length);
  if (tamper)
    signature[signature.size() / 2] = static_cast<char>(signature[signature.size() / 2] ^ 0x01);
  input.push_back('.');
  input.append(base64url_encode(signature));
  return input;
}

// -- verification -------------------------------------------------------------

std::optional<compact_jws> parse_jws(std::string_view token, std::string& why) {
  if (token.size() > 16 * 1024) {
    why = "JWT longer than 16 KiB";
    return std::nullopt;
  }
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    why = "not a compact JWS (three dot-separated parts)";
    return std::nullopt;
  }
  auto header = base64url_decode(token.substr(0, first));
  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  auto signature = base64url_decode(token.substr(second + 1));
  if (!header || !payload || !signature) {
    why = "a JWS part is not base64url";
    return std::nullopt;
  }
  auto header_object = parse_object(*header);
  auto claims_object = parse_object(*payload);
  if (!header_object || !claims_object) {
    why = "the JWS header or payload is not a JSON object";
    return std::nullopt;
  }
  return compact_jws{std::move(*header_object), std::move(*claims_object),
                     std::string{token.substr(0, second)}, std::move(*signature)};
}

bool verify_jws_signature(const json::object& jwk, std::string_view alg, std::string_view input,
                          std::string_view signature, std::string& why) {
  // OpenSSL leaves its reasons on a thread-local queue; a rejected key must not leave them.
  struct clear_errors {
    ~clear_errors() { ERR_clear_error(); }
  } guard;
  auto kty = string_member(jwk, "kty");
  bool ok = false;
  if (alg == "RS384") {
    if (kty != std::optional<std::string>{"RSA"}) {
      why = "RS384 needs an RSA key";
      return false;
    }
    auto key = rsa_public_key(jwk, why);
    if (!key) return false;
    ok = digest_verify(key.get(), EVP_sha384(), input, signature);
  } else if (alg == "ES384") {
    if (kty != std::optional<std::string>{"EC"}) {
      why = "ES384 needs an EC key";
      return false;
    }
    auto key = p384_public_key(jwk, why);
    if (!key) return false;
    // JWS carries R||S (RFC 7518 §3.4); OpenSSL verifies DER.
    if (signature.size() != 96) {
      why = "ES384 signature is not 96 bytes (R||S)";
      return false;
    }
    auto* data = reinterpret_cast<const unsigned char*>(signature.data());
    bn_ptr r{BN_bin2bn(data, 48, nullptr)};
    bn_ptr s{BN_bin2bn(data + 48, 48, nullptr)};
    ecdsa_sig_ptr sig{ECDSA_SIG_new()};
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
      why = "cannot decode the ES384 signature";
      return false;
    }
    r.release();  // owned by sig now
    s.release();
    unsigned char* der = nullptr;
    int der_length = i2d_ECDSA_SIG(sig.get(), &der);
    if (der_length <= 0) {
      why = "cannot encode the ES384 signature";
      return false;
    }
    ok = digest_verify(
      key.get(), EVP_sha384(), input,
      std::string_view{reinterpret_cast<char*>(der), static_cast<std::size_t>(der_length)});
    OPENSSL_free(der);
  } else {
    why = "unsupported alg";
    return false;
  }
  if (!ok) why = "signature does not verify";
  return ok;
}

}  // namespace visitd::test_ehr
