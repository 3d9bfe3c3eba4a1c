#include "fhir/jose.hpp"

#include "fhir/authorization_secrets.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <map>
#include <memory>

namespace visitd::fhir {
namespace {

using namespace std::chrono_literals;

// -- independent OpenSSL helpers ----------------------------------------------------------------
// These build keys, JWKs and tokens with raw EVP calls, not through jose.cpp, so the verifier is
// checked against a second implementation rather than against itself.

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::string b64(std::string_view bytes) {
  return base64url_encode(bytes);
}

std::string bn_param_b64(EVP_PKEY* pkey, const char* name, int width = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(pkey, name, &bn), 1) << name;
  const int size = width > 0 ? width : BN_num_bytes(bn);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), size);
  BN_free(bn);
  return b64(bytes);
}

std::string rsa_jwk(EVP_PKEY* pkey, std::string_view extra = "") {
  return R"({"kty":"RSA","n":")" + bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" +
         bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E) + "\"" + std::string{extra} + "}";
}

std::string ec_jwk(EVP_PKEY* pkey, std::string_view crv, int width, std::string_view extra = "") {
  return R"({"kty":"EC","crv":")" + std::string{crv} + R"(","x":")" +
         bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, width) + R"(","y":")" +
         bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, width) + "\"" + std::string{extra} + "}";
}

std::string jwks_of(std::initializer_list<std::string> jwks) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const auto& jwk : jwks) {
    if (!first) out += ',';
    first = false;
    out += jwk;
  }
  return out + "]}";
}

/// EVP_DigestSign output: PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC.
std::string evp_sign(EVP_PKEY* pkey, const EVP_MD* md, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t length = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, md, nullptr, pkey), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &length, nullptr, 0), 1);
  std::string signature(length, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  signature.resize(length);
  return signature;
}

std::string der_to_jose(std::string_view der, int width) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(sig, nullptr);
  std::string raw(static_cast<std::size_t>(2 * width), '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, width);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + width, width);
  ECDSA_SIG_free(sig);
  return raw;
}

/// A compact JWS with exactly this header, signed with raw EVP. `ec_width` 0 = RSA; otherwise
/// the signature is converted to JOSE R||S unless `keep_der`.
std::string make_token(std::string_view header, std::string_view payload, EVP_PKEY* pkey,
                       const EVP_MD* md, int ec_width = 0, bool keep_der = false) {
  std::string input = b64(header);
  input.append(".").append(b64(payload));
  auto signature = evp_sign(pkey, md, input);
  if (ec_width > 0 && !keep_der) signature = der_to_jose(signature, ec_width);
  return input.append(".").append(b64(signature));
}

pkey_ptr generate(const char* type, const char* curve_or_null, std::size_t bits = 0) {
  return pkey_ptr{curve_or_null != nullptr
                    ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve_or_null)
                    : EVP_PKEY_Q_keygen(nullptr, nullptr, type, bits)};
}

/// The private EVP key behind a box key, read back from its PEM (not via jose internals).
pkey_ptr raw_private_key(const signing_key& key) {
  auto pem = key.to_pem();
  EXPECT_TRUE(pem) << pem.err().message;
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  pkey_ptr out{PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)};
  BIO_free(bio);
  EXPECT_TRUE(out);
  return out;
}

std::vector<std::string> split(std::string_view token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto dot = token.find('.', start);
    parts.emplace_back(token.substr(start, dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '.';
    out += parts[i];
  }
  return out;
}

// Box keys are made once per process: RSA 3072 generation takes a noticeable fraction of a
// second.
const signing_key& es384_key() {
  static const signing_key key = generate_signing_key(jws_alg::es384).value();
  return key;
}

const signing_key& rs384_key() {
  static const signing_key key = generate_signing_key(jws_alg::rs384).value();
  return key;
}

jwk_set box_jwks(std::initializer_list<const signing_key*> keys) {
  const std::vector<const signing_key*> list{keys};
  auto set = parse_jwks(jwks_json(list));
  EXPECT_TRUE(set) << set.err().message;
  return std::move(set).value();
}

void expect_error(const domain::result<std::string>& result, domain::errc code,
                  std::string_view text) {
  ASSERT_FALSE(result) << "accepted";
  EXPECT_EQ(result.err().code, code) << result.err().message;
  EXPECT_NE(result.err().message.find(text), std::string::npos) << result.err().message;
}

constexpr std::string_view claims = R"({"sub":"abc","n":1})";

// -- base64url ------------------------------------------------------------------------------------

TEST(jose, base64url_decode_is_strict) {
  EXPECT_EQ(base64url_decode(""), "");
  EXPECT_EQ(base64url_decode("QQ"), "A");
  EXPECT_EQ(base64url_decode("QUI"), "AB");
  EXPECT_EQ(base64url_decode("_-8"), "\xff\xef");
  EXPECT_EQ(base64url_decode(b64("any carnal pleasure.")), "any carnal pleasure.");
  EXPECT_FALSE(base64url_decode("QQ=="));  // padding
  EXPECT_FALSE(base64url_decode("QR"));    // non-zero trailing bits
  EXPECT_FALSE(base64url_decode("Q"));     // impossible length
  EXPECT_FALSE(base64url_decode("Q+Q/"));  // standard alphabet
  EXPECT_FALSE(base64url_decode("QU I"));  // whitespace
}

// -- the box's keys -----------------------------------------------------------------------------

TEST(jose, rs384_sign_verify_round_trip) {
  const auto& key = rs384_key();
  EXPECT_EQ(key.alg(), jws_alg::rs384);
  auto token = sign_jwt(key, claims);
  ASSERT_TRUE(token) << token.err().message;
  const auto parts = split(*token);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(base64url_decode(parts[0]),
            R"({"alg":"RS384","typ":"JWT","kid":")" + key.kid() + "\"}");
  EXPECT_EQ(base64url_decode(parts[2])->size(), 384u);  // RSA 3072

  const auto set = box_jwks({&key});
  ASSERT_EQ(set.keys.size(), 1u);
  EXPECT_EQ(set.keys[0].bits(), 3072);
  EXPECT_EQ(set.keys[0].kid(), key.kid());
  EXPECT_EQ(set.keys[0].alg(), jws_alg::rs384);
  auto payload = verify_jws(*token, set);
  ASSERT_TRUE(payload) << payload.err().message;
  EXPECT_EQ(*payload, claims);
}

TEST(jose, es384_sign_verify_round_trip_with_jose_signature_format) {
  const auto& key = es384_key();
  auto token = sign_jwt(key, claims);
  ASSERT_TRUE(token) << token.err().message;
  // RFC 7518 §3.4: R||S, 48 bytes each, never DER (which would be ~102-104 bytes).
  EXPECT_EQ(base64url_decode(split(*token)[2])->size(), 96u);
  auto payload = verify_jws(*token, box_jwks({&key}));
  ASSERT_TRUE(payload) << payload.err().message;
  EXPECT_EQ(*payload, claims);

  // Many signatures, so a short R or S (leading zero byte) is exercised too.
  const auto set = box_jwks({&key});
  for (int i = 0; i < 64; ++i) {
    const std::string body = R"({"i":)" + std::to_string(i) + "}";
    auto again = sign_jwt(key, body);
    ASSERT_TRUE(again);
    auto verified = verify_jws(*again, set);
    ASSERT_TRUE(verified) << verified.err().message;
    EXPECT_EQ(*verified, body);
  }
}

TEST(jose, public_jwk_and_jwks_carry_only_public_members) {
  const auto& key = es384_key();
  simdjson::dom::parser parser;
  simdjson::dom::object jwk;
  const simdjson::padded_string padded{key.public_jwk()};
  ASSERT_FALSE(parser.parse(padded).get_object().get(jwk));
  EXPECT_EQ(std::string_view{jwk["kty"]}, "EC");
  EXPECT_EQ(std::string_view{jwk["crv"]}, "P-384");
  EXPECT_EQ(std::string_view{jwk["alg"]}, "ES384");
  EXPECT_EQ(std::string_view{jwk["use"]}, "sig");
  EXPECT_EQ(std::string_view{jwk["kid"]}, key.kid());
  EXPECT_EQ(std::string_view{jwk["x"]}.size(), 64u);  // 48 bytes, fixed length
  EXPECT_EQ(std::string_view{jwk["y"]}.size(), 64u);
  EXPECT_TRUE(jwk["d"].error()) << "private member published";
  EXPECT_EQ(key.kid().size(), 43u);

  const auto& rsa = rs384_key();
  EXPECT_EQ(rsa.public_jwk().find("\"d\""), std::string::npos);
  EXPECT_NE(rsa.public_jwk().find(R"("e":"AQAB")"), std::string::npos);
  const std::vector<const signing_key*> both{&key, nullptr, &rsa};
  const auto text = jwks_json(both);
  EXPECT_EQ(text, R"({"keys":[)" + key.public_jwk() + "," + rsa.public_jwk() + "]}");
  auto set = parse_jwks(text);
  ASSERT_TRUE(set) << set.err().message;
  ASSERT_EQ(set->keys.size(), 2u);
  // The thumbprint the verifier computes from the published JWK is the signer's kid.
  EXPECT_EQ(set->keys[0].thumbprint(), key.kid());
  EXPECT_EQ(set->keys[1].thumbprint(), rsa.kid());
}

TEST(jose, pem_round_trip_keeps_kid_and_key) {
  for (const auto* key : {&es384_key(), &rs384_key()}) {
    auto pem = key->to_pem();
    ASSERT_TRUE(pem) << pem.err().message;
    EXPECT_EQ(pem->rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);  // PKCS#8
    auto loaded = signing_key_from_pem(*pem, key->alg(), key->kid());
    ASSERT_TRUE(loaded) << loaded.err().message;
    EXPECT_EQ(loaded->kid(), key->kid());
    EXPECT_EQ(loaded->public_jwk(), key->public_jwk());
    // A token from the reloaded key verifies against the original's published key.
    auto token = sign_jwt(*loaded, claims);
    ASSERT_TRUE(token);
    EXPECT_TRUE(verify_jws(*token, box_jwks({key})));

    auto wrong_kid = signing_key_from_pem(*pem, key->alg(), "not-the-kid");
    ASSERT_FALSE(wrong_kid);
    EXPECT_NE(wrong_kid.err().message.find("kid"), std::string::npos);
  }
  auto ec_pem = es384_key().to_pem();
  ASSERT_TRUE(ec_pem);
  EXPECT_FALSE(signing_key_from_pem(*ec_pem, jws_alg::rs384));  // EC key, RSA alg
  EXPECT_FALSE(signing_key_from_pem(*ec_pem, jws_alg::es256));  // the box does not sign ES256
  EXPECT_FALSE(signing_key_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n", jws_alg::es384));
  EXPECT_FALSE(signing_key_from_pem("", jws_alg::es384));

  // A P-256 key is not an ES384 key.
  const auto p256 = generate("EC", "P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, p256.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  const std::string p256_pem{data, static_cast<std::size_t>(length)};
  BIO_free(bio);
  EXPECT_FALSE(signing_key_from_pem(p256_pem, jws_alg::es384));
}

TEST(jose, generate_refuses_algorithms_the_box_does_not_sign_with) {
  auto key = generate_signing_key(jws_alg::rs256);
  ASSERT_FALSE(key);
  EXPECT_EQ(key.err().code, domain::errc::invalid_argument);
  EXPECT_FALSE(generate_signing_key(jws_alg::es256));
}

TEST(jose, copies_share_the_key_and_are_never_empty) {
  auto fresh = generate_signing_key(jws_alg::es384);
  ASSERT_TRUE(fresh);
  signing_key key = std::move(fresh).value();  // a "move" copies the shared pointer
  const std::string kid = key.kid();
  std::vector<signing_key> keys{key, key};
  keys.push_back(es384_key());
  key = keys.back();
  EXPECT_EQ(keys[0].kid(), kid);
  EXPECT_EQ(key.kid(), es384_key().kid());
  EXPECT_TRUE(verify_jws(sign_jwt(keys[1], claims).value(), box_jwks({&keys[0]})));
}

TEST(jose, rfc7638_thumbprint_of_the_example_key) {
  // RFC 7638 §3.1.
  constexpr std::string_view jwks = R"({"keys":[{"kty":"RSA",
    "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e":"AQAB","alg":"RS256","kid":"2011-04-29"}]})";
  auto set = parse_jwks(jwks);
  ASSERT_TRUE(set) << set.err().message;
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ(set->keys[0].kid(), "2011-04-29");
  EXPECT_EQ(set->keys[0].alg(), jws_alg::rs256);
  EXPECT_EQ(set->keys[0].bits(), 2048);
  EXPECT_TRUE(set->contains_kid("2011-04-29"));
  EXPECT_FALSE(set->contains_kid("2011-04-30"));
}

// -- interoperability with independently produced tokens ---------------------------------------

TEST(jose, verifies_rs256_token_made_with_raw_evp) {
  const auto rsa = generate("RSA", nullptr, 2048);
  ASSERT_TRUE(rsa);
  const auto set = parse_jwks(jwks_of({rsa_jwk(rsa.get(), R"(,"kid":"ehr-1","use":"sig")")}));
  ASSERT_TRUE(set) << set.err().message;
  const std::string payload = R"({"iss":"https://ehr.example.org","x":"é"})";
  const auto token =
    make_token(R"({"alg":"RS256","kid":"ehr-1"})", payload, rsa.get(), EVP_sha256());
  auto verified = verify_jws(token, *set);
  ASSERT_TRUE(verified) << verified.err().message;
  EXPECT_EQ(*verified, payload);

  // No kid in the header: every RSA key is tried, the right one is found.
  const auto other = generate("RSA", nullptr, 2048);
  const auto two = parse_jwks(jwks_of({rsa_jwk(other.get()), rsa_jwk(rsa.get())}));
  ASSERT_TRUE(two);
  EXPECT_TRUE(verify_jws(make_token(R"({"alg":"RS256"})", payload, rsa.get(), EVP_sha256()), *two));
  // ...but a key that does not match fails.
  const auto only_other = parse_jwks(jwks_of({rsa_jwk(other.get())}));
  expect_error(
    verify_jws(make_token(R"({"alg":"RS256"})", payload, rsa.get(), EVP_sha256()), *only_other),
    domain::errc::unauthenticated, "bad signature");
}

TEST(jose, verifies_es256_token_made_with_raw_evp) {
  const auto ec = generate("EC", "P-256");
  const auto set = parse_jwks(jwks_of({ec_jwk(ec.get(), "P-256", 32, R"(,"kid":"e")")}));
  ASSERT_TRUE(set) << set.err().message;
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].type(), verification_key::key_type::ec_p256);
  for (int i = 0; i < 32; ++i) {
    const std::string payload = R"({"i":)" + std::to_string(i) + "}";
    auto verified = verify_jws(
      make_token(R"({"alg":"ES256","kid":"e"})", payload, ec.get(), EVP_sha256(), 32), *set);
    ASSERT_TRUE(verified) << verified.err().message;
    EXPECT_EQ(*verified, payload);
  }
}

// -- refusals -------------------------------------------------------------------------------------

TEST(jose, tampered_header_payload_or_signature_is_rejected) {
  for (const auto* key : {&es384_key(), &rs384_key()}) {
    const auto set = box_jwks({key});
    auto token = sign_jwt(*key, claims);
    ASSERT_TRUE(token);
    ASSERT_TRUE(verify_jws(*token, set));
    const auto parts = split(*token);

    auto payload = parts;
    payload[1] = b64(R"({"sub":"abd","n":1})");
    expect_error(verify_jws(join(payload), set), domain::errc::unauthenticated, "bad signature");

    auto header = parts;
    header[0] = b64(R"({"alg":")" + std::string{to_string(key->alg())} +
                    R"(","typ":"jwt","kid":")" + key->kid() + "\"}");
    expect_error(verify_jws(join(header), set), domain::errc::unauthenticated, "bad signature");

    auto signature = parts;
    auto bytes = *base64url_decode(parts[2]);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
    signature[2] = b64(bytes);
    expect_error(verify_jws(join(signature), set), domain::errc::unauthenticated, "bad signature");

    auto truncated = parts;
    truncated[2] = b64(bytes.substr(0, bytes.size() - 1));
    expect_error(verify_jws(join(truncated), set), domain::errc::unauthenticated, "bad signature");
  }
}

TEST(jose, malformed_compact_serialization_is_rejected) {
  const auto set = box_jwks({&es384_key()});
  auto token = sign_jwt(es384_key(), claims);
  ASSERT_TRUE(token);
  const auto parts = split(*token);
  expect_error(verify_jws(parts[0] + "." + parts[1], set), domain::errc::invalid_argument,
               "three parts");
  expect_error(verify_jws(*token + ".x", set), domain::errc::invalid_argument, "three parts");
  expect_error(verify_jws(parts[0] + "=." + parts[1] + "." + parts[2], set),
               domain::errc::invalid_argument, "header is not base64url");
  expect_error(verify_jws(parts[0] + "." + parts[1] + "=." + parts[2], set),
               domain::errc::invalid_argument, "payload is not base64url");
  expect_error(verify_jws(parts[0] + "." + parts[1] + "." + parts[2] + "==", set),
               domain::errc::invalid_argument, "signature is not base64url");
  expect_error(verify_jws(b64("not json") + "." + parts[1] + "." + parts[2], set),
               domain::errc::invalid_argument, "header is not a JSON object");
  expect_error(verify_jws(b64(R"({"typ":"JWT"})") + "." + parts[1] + "." + parts[2], set),
               domain::errc::invalid_argument, "no alg");
  expect_error(verify_jws(std::string(max_jws_bytes + 1, 'a'), set), domain::errc::invalid_argument,
               "too large");
  expect_error(verify_jws("", set), domain::errc::invalid_argument, "three parts");
}

TEST(jose, alg_none_and_hmac_are_refused) {
  const auto& key = rs384_key();
  const auto set = box_jwks({&key});
  const auto payload = b64(claims);
  expect_error(verify_jws(b64(R"({"alg":"none"})") + "." + payload + ".", set),
               domain::errc::unauthenticated, R"(algorithm "none" is not allowed)");
  expect_error(
    verify_jws(b64(R"({"alg":"None","kid":")" + key.kid() + "\"}") + "." + payload + ".", set),
    domain::errc::unauthenticated, "not allowed");

  // The classic confusion attack: HS256 keyed with the verifier's public key.
  const std::string input = b64(R"({"alg":"HS256","kid":")" + key.kid() + "\"}") + "." + payload;
  const std::string& secret = key.public_jwk();
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &mac_length);
  const std::string hs256 =
    input + "." + b64({reinterpret_cast<const char*>(mac.data()), mac_length});
  expect_error(verify_jws(hs256, set), domain::errc::unauthenticated,
               R"(algorithm "HS256" is not allowed)");

  // An algorithm the caller did not allow, though visitd knows it.
  auto token = sign_jwt(key, claims);
  ASSERT_TRUE(token);
  const std::array<jws_alg, 1> es_only{jws_alg::es384};
  expect_error(verify_jws(*token, set, es_only), domain::errc::unauthenticated,
               R"(algorithm "RS384" is not allowed)");
}

TEST(jose, kid_must_match_a_compatible_key) {
  const auto& key = es384_key();
  const auto set = box_jwks({&key});
  const auto raw = raw_private_key(key);
  const auto good = make_token(R"({"alg":"ES384","kid":")" + key.kid() + "\"}", claims, raw.get(),
                               EVP_sha384(), 48);
  EXPECT_TRUE(verify_jws(good, set));
  // Same key and a valid signature, but a kid the set does not have.
  const auto wrong_kid =
    make_token(R"({"alg":"ES384","kid":"rotated-away"})", claims, raw.get(), EVP_sha384(), 48);
  expect_error(verify_jws(wrong_kid, set), domain::errc::unauthenticated, "no key matches kid");
  // No kid: the compatible key is tried.
  EXPECT_TRUE(
    verify_jws(make_token(R"({"alg":"ES384"})", claims, raw.get(), EVP_sha384(), 48), set));
  // The kid names an EC key but the header claims RS384.
  expect_error(verify_jws(b64(R"({"alg":"RS384","kid":")" + key.kid() + "\"}") + "." + b64(claims) +
                            "." + b64("sig"),
                          set),
               domain::errc::unauthenticated, "no key matches kid");
  // A JWK pinned to RS256 is not used for RS384 even though both are RSA.
  const auto rsa = generate("RSA", nullptr, 2048);
  const auto pinned = parse_jwks(jwks_of({rsa_jwk(rsa.get(), R"(,"alg":"RS256","kid":"r")")}));
  ASSERT_TRUE(pinned);
  expect_error(
    verify_jws(make_token(R"({"alg":"RS384","kid":"r"})", claims, rsa.get(), EVP_sha384()),
               *pinned),
    domain::errc::unauthenticated, "no key");
}

TEST(jose, es384_der_signature_is_rejected) {
  const auto& key = es384_key();
  const auto set = box_jwks({&key});
  const auto raw = raw_private_key(key);
  const std::string header = R"({"alg":"ES384","kid":")" + key.kid() + "\"}";
  const auto der = make_token(header, claims, raw.get(), EVP_sha384(), 48, /*keep_der=*/true);
  expect_error(verify_jws(der, set), domain::errc::unauthenticated, "bad signature");
  // The same signature in JOSE form is accepted: only the format was wrong.
  EXPECT_TRUE(verify_jws(make_token(header, claims, raw.get(), EVP_sha384(), 48), set));
}

TEST(jose, duplicate_header_members_and_crit_are_refused) {
  const auto ec = generate("EC", "P-256");
  const auto set = parse_jwks(jwks_of({ec_jwk(ec.get(), "P-256", 32)}));
  ASSERT_TRUE(set);
  expect_error(
    verify_jws(make_token(R"({"alg":"ES256","alg":"none"})", claims, ec.get(), EVP_sha256(), 32),
               *set),
    domain::errc::invalid_argument, "duplicate");
  expect_error(verify_jws(make_token(R"({"alg":"ES256","crit":["exp"],"exp":1})", claims, ec.get(),
                                     EVP_sha256(), 32),
                          *set),
               domain::errc::unauthenticated, "crit");
}

TEST(jose, peek_jws_header_reads_without_verifying) {
  auto header = peek_jws_header(b64(R"({"alg":"none","kid":"k1","typ":"JWT"})") + ".e30.");
  ASSERT_TRUE(header) << header.err().message;
  EXPECT_EQ(header->alg, "none");
  EXPECT_EQ(header->kid, "k1");
  EXPECT_EQ(header->typ, "JWT");
  EXPECT_FALSE(peek_jws_header("abc"));
  EXPECT_FALSE(peek_jws_header(b64(R"({"alg":1})") + ".e30."));
}

// -- JWK Sets -----------------------------------------------------------------------------------

TEST(jose, parse_jwks_rejects_malformed_sets) {
  EXPECT_FALSE(parse_jwks("not json"));
  EXPECT_FALSE(parse_jwks("[]"));
  EXPECT_FALSE(parse_jwks(R"({"keys":{}})"));
  EXPECT_FALSE(parse_jwks(R"({"key":[]})"));
  EXPECT_FALSE(parse_jwks(R"({"keys":[1]})"));
  EXPECT_FALSE(parse_jwks(R"({"keys":[]} trailing)"));
  auto empty = parse_jwks(R"({"keys":[]})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->keys.empty());

  const auto small = generate("RSA", nullptr, 1024);
  auto weak = parse_jwks(jwks_of({rsa_jwk(small.get())}));
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.err().code, domain::errc::invalid_argument);
  EXPECT_NE(weak.err().message.find("1024 bits"), std::string::npos) << weak.err().message;

  EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"RSA","n":"AQAB="}]})"));
  EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"RSA","e":"AQAB"}]})"));

  std::string many = R"({"keys":[)";
  for (std::size_t i = 0; i <= max_jwks_keys; ++i) many += (i > 0 ? ",{}" : "{}");
  EXPECT_FALSE(parse_jwks(many + "]}"));
}

TEST(jose, parse_jwks_rejects_invalid_ec_points) {
  const auto ec = generate("EC", "P-384");
  const auto good = ec_jwk(ec.get(), "P-384", 48);
  ASSERT_TRUE(parse_jwks(jwks_of({good})));
  // Change the last character of y: the point leaves the curve.
  auto off_curve = good;
  const auto y_end = off_curve.rfind('"');
  off_curve[y_end - 1] = off_curve[y_end - 1] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(parse_jwks(jwks_of({off_curve})));
  // The coordinates of a P-384 key under a P-256 label have the wrong length.
  auto relabeled = good;
  relabeled.replace(relabeled.find("P-384"), 5, "P-256");
  auto result = parse_jwks(jwks_of({relabeled}));
  ASSERT_FALSE(result);
  EXPECT_NE(result.err().message.find("keys[0]"), std::string::npos) << result.err().message;
}

TEST(jose, parse_jwks_skips_keys_it_cannot_use) {
  const auto ec = generate("EC", "P-256");
  const auto rsa = generate("RSA", nullptr, 2048);
  auto set = parse_jwks(jwks_of({
    R"({"kty":"oct","k":"c2VjcmV0"})",
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
    ec_jwk(ec.get(), "P-256", 32, R"(,"use":"enc")"),
    ec_jwk(ec.get(), "P-256", 32, R"(,"key_ops":["encrypt"])"),
    rsa_jwk(rsa.get(), R"(,"alg":"PS256")"),
    rsa_jwk(rsa.get(), R"(,"alg":"ES256")"),
    R"({"kty":"EC","crv":"P-521","x":"AA","y":"AA"})",
    ec_jwk(ec.get(), "P-256", 32, R"(,"kid":"keep-ec","use":"sig","key_ops":["verify"])"),
    rsa_jwk(rsa.get(), R"(,"kid":"keep-rsa","alg":"RS384")"),
  }));
  ASSERT_TRUE(set) << set.err().message;
  ASSERT_EQ(set->keys.size(), 2u);
  EXPECT_EQ(set->keys[0].kid(), "keep-ec");
  EXPECT_EQ(set->keys[0].alg(), std::nullopt);
  EXPECT_TRUE(set->keys[0].compatible_with(jws_alg::es256));
  EXPECT_FALSE(set->keys[0].compatible_with(jws_alg::es384));
  EXPECT_EQ(set->keys[1].kid(), "keep-rsa");
  EXPECT_EQ(set->keys[1].alg(), jws_alg::rs384);
  EXPECT_FALSE(set->keys[1].compatible_with(jws_alg::rs256));
}

// -- client assertion -----------------------------------------------------------------------------

TEST(jose, client_assertion_has_the_backend_services_claims) {
  const auto& key = es384_key();
  const domain::timestamp now{std::chrono::seconds{1'700'000'000} + 250ms};
  auto jti = random_jti();
  ASSERT_TRUE(jti);
  EXPECT_EQ(jti->size(), 43u);
  EXPECT_NE(*jti, random_jti().value());
  auto token = make_client_assertion(key, "visitd-box-1", "https://ehr.example.org/oauth2/token",
                                     now, 5min, *jti);
  ASSERT_TRUE(token) << token.err().message;
  EXPECT_EQ(client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");

  auto header = peek_jws_header(*token);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->alg, "ES384");
  EXPECT_EQ(header->typ, "JWT");
  EXPECT_EQ(header->kid, key.kid());

  auto payload = verify_jws(*token, box_jwks({&key}));
  ASSERT_TRUE(payload) << payload.err().message;
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  const simdjson::padded_string padded{*payload};
  ASSERT_FALSE(parser.parse(padded).get_object().get(object)) << *payload;
  EXPECT_EQ(std::string_view{object["iss"]}, "visitd-box-1");
  EXPECT_EQ(std::string_view{object["sub"]}, "visitd-box-1");
  EXPECT_EQ(std::string_view{object["aud"]}, "https://ehr.example.org/oauth2/token");
  EXPECT_EQ(std::string_view{object["jti"]}, *jti);
  EXPECT_EQ(std::int64_t{object["iat"]}, 1'700'000'000);
  EXPECT_EQ(std::int64_t{object["exp"]}, 1'700'000'300);
  EXPECT_EQ(object.size(), 6u);
}

TEST(jose, client_assertion_escapes_and_validates_its_inputs) {
  const auto& key = es384_key();
  const domain::timestamp now{std::chrono::seconds{1'700'000'000}};
  auto token = make_client_assertion(key, "we\"ird\\id\n", "https://ehr/token", now, 60s, "j");
  ASSERT_TRUE(token) << token.err().message;
  auto payload = verify_jws(*token, box_jwks({&key}));
  ASSERT_TRUE(payload);
  simdjson::dom::parser parser;
  const simdjson::padded_string padded{*payload};
  simdjson::dom::object object;
  ASSERT_FALSE(parser.parse(padded).get_object().get(object)) << *payload;
  EXPECT_EQ(std::string_view{object["iss"]}, "we\"ird\\id\n");

  EXPECT_FALSE(make_client_assertion(key, "c", "https://ehr/token", now, 301s, "j"));
  EXPECT_FALSE(make_client_assertion(key, "c", "https://ehr/token", now, 0s, "j"));
  EXPECT_FALSE(make_client_assertion(key, "", "https://ehr/token", now, 60s, "j"));
  EXPECT_FALSE(make_client_assertion(key, "c", "", now, 60s, "j"));
  EXPECT_FALSE(make_client_assertion(key, "c", "https://ehr/token", now, 60s, ""));
  EXPECT_FALSE(make_client_assertion(key, "\xff", "https://ehr/token", now, 60s, "j"));
}

TEST(jose, sign_jwt_refuses_claims_that_are_not_an_object) {
  EXPECT_FALSE(sign_jwt(es384_key(), "[1]"));
  EXPECT_FALSE(sign_jwt(es384_key(), "{"));
  EXPECT_FALSE(sign_jwt(es384_key(), ""));
}

// -- id_token ---------------------------------------------------------------------------------

constexpr std::int64_t now_seconds = 1'700'000'000;
const domain::timestamp now{std::chrono::seconds{now_seconds}};
constexpr std::string_view issuer = "https://ehr.example.org/fhir";
constexpr std::string_view client_id = "visitd-app";
constexpr std::string_view nonce = "n0nce-n0nce-n0nce";

/// Claim name -> JSON value text; an empty value removes the claim.
using claim_map = std::map<std::string, std::string>;

claim_map good_claims() {
  return {
    {"iss", R"("https://ehr.example.org/fhir")"},
    {"sub", R"("user-42")"},
    {"aud", R"("visitd-app")"},
    {"exp", std::to_string(now_seconds + 300)},
    {"iat", std::to_string(now_seconds - 5)},
    {"nonce", R"("n0nce-n0nce-n0nce")"},
    {"fhirUser", R"("https://ehr.example.org/fhir/Practitioner/7")"},
  };
}

std::string id_token(const claim_map& overrides = {}) {
  auto claims = good_claims();
  for (const auto& [name, value] : overrides) claims[name] = value;
  std::string json = "{";
  for (const auto& [name, value] : claims) {
    if (value.empty()) continue;
    if (json.size() > 1) json += ',';
    json.append("\"").append(name).append("\":").append(value);
  }
  json += "}";
  return sign_jwt(es384_key(), json).value();
}

domain::result<id_token_claims> check(const std::string& token) {
  return verify_id_token(token, box_jwks({&es384_key()}), issuer, client_id, nonce, now);
}

void expect_refused(const claim_map& overrides, std::string_view message,
                    domain::errc code = domain::errc::unauthenticated) {
  auto result = check(id_token(overrides));
  ASSERT_FALSE(result) << "accepted";
  EXPECT_EQ(result.err().code, code) << result.err().message;
  EXPECT_EQ(result.err().message, message);
}

TEST(jose, good_id_token_passes) {
  auto claims = check(id_token());
  ASSERT_TRUE(claims) << claims.err().message;
  EXPECT_EQ(claims->iss, issuer);
  EXPECT_EQ(claims->sub, "user-42");
  EXPECT_EQ(claims->aud, std::vector<std::string>{"visitd-app"});
  EXPECT_EQ(claims->exp, now + 300s);
  EXPECT_EQ(claims->iat, now - 5s);
  EXPECT_EQ(claims->nonce, nonce);
  EXPECT_EQ(claims->fhir_user, "https://ehr.example.org/fhir/Practitioner/7");
}

TEST(jose, id_token_wrong_iss) {
  expect_refused({{"iss", R"("https://evil.example.org/fhir")"}}, "id_token: wrong iss");
  // Exact comparison: a trailing slash is a different issuer.
  expect_refused({{"iss", R"("https://ehr.example.org/fhir/")"}}, "id_token: wrong iss");
  expect_refused({{"iss", ""}}, "id_token: wrong iss");
}

TEST(jose, id_token_wrong_aud) {
  expect_refused({{"aud", R"("other-app")"}}, "id_token: wrong aud");
  expect_refused({{"aud", R"(["other-app"])"}}, "id_token: wrong aud");
  expect_refused({{"aud", "[]"}}, "id_token: wrong aud");
  expect_refused({{"aud", ""}}, "id_token: wrong aud");
  expect_refused({{"aud", "42"}}, "id_token: claim aud must be a string or array",
                 domain::errc::invalid_argument);
  // Several audiences: azp, when present, must be us.
  expect_refused({{"aud", R"(["visitd-app","other"])"}, {"azp", R"("other")"}},
                 "id_token: wrong azp");
  auto several =
    check(id_token({{"aud", R"(["other","visitd-app"])"}, {"azp", R"("visitd-app")"}}));
  ASSERT_TRUE(several) << several.err().message;
  EXPECT_EQ(several->aud.size(), 2u);
  EXPECT_TRUE(check(id_token({{"aud", R"(["other","visitd-app"])"}})));
}

TEST(jose, id_token_expired) {
  expect_refused({{"exp", std::to_string(now_seconds - 61)}}, "id_token: expired");
  expect_refused({{"exp", std::to_string(now_seconds - 60)}}, "id_token: expired");
  // Within the leeway.
  EXPECT_TRUE(check(id_token({{"exp", std::to_string(now_seconds - 59)}})));
  expect_refused({{"exp", ""}}, "id_token: missing exp");
  expect_refused({{"exp", R"("soon")"}}, "id_token: claim exp must be a number",
                 domain::errc::invalid_argument);
  expect_refused({{"exp", "1e300"}}, "id_token: claim exp is out of range",
                 domain::errc::invalid_argument);
  // Fractional NumericDate (RFC 7519 allows it).
  EXPECT_TRUE(check(id_token({{"exp", std::to_string(now_seconds + 10) + ".5"}})));
}

TEST(jose, id_token_issued_in_the_future) {
  expect_refused({{"iat", std::to_string(now_seconds + 61)}},
                 "id_token: issued in the future (iat)");
  EXPECT_TRUE(check(id_token({{"iat", std::to_string(now_seconds + 60)}})));
  expect_refused({{"iat", ""}}, "id_token: missing iat");
  expect_refused({{"nbf", std::to_string(now_seconds + 120)}}, "id_token: not yet valid (nbf)");
}

TEST(jose, id_token_nonce_mismatch) {
  expect_refused({{"nonce", R"("n0nce-n0nce-n0ncf")"}}, "id_token: nonce mismatch");
  expect_refused({{"nonce", R"("n0nce")"}}, "id_token: nonce mismatch");
  expect_refused({{"nonce", ""}}, "id_token: nonce mismatch");
  // The caller must have a nonce to compare with.
  auto result = verify_id_token(id_token(), box_jwks({&es384_key()}), issuer, client_id, "", now);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.err().code, domain::errc::invalid_argument);
}

TEST(jose, id_token_missing_fhir_user) {
  expect_refused({{"fhirUser", ""}}, "id_token: missing fhirUser");
  expect_refused({{"fhirUser", R"("")"}}, "id_token: missing fhirUser");
  expect_refused({{"sub", ""}}, "id_token: missing sub");
  // SMART 1.0's `profile` stands in for fhirUser.
  auto legacy = check(id_token({{"fhirUser", ""}, {"profile", R"("Patient/9")"}}));
  ASSERT_TRUE(legacy) << legacy.err().message;
  EXPECT_EQ(legacy->fhir_user, "Patient/9");
  EXPECT_EQ(legacy->profile, "Patient/9");
}

TEST(jose, id_token_bad_signature) {
  auto parts = split(id_token());
  parts[1] = b64(R"({"iss":"https://ehr.example.org/fhir","sub":"admin"})");
  auto result = check(join(parts));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.err().code, domain::errc::unauthenticated);
  EXPECT_EQ(result.err().message, "id_token: bad signature");

  // Signed by a key the issuer does not publish (same kid is impossible: kid is the
  // thumbprint), so no key matches.
  const auto stranger = generate_signing_key(jws_alg::es384).value();
  const auto stranger_token = sign_jwt(stranger, R"({"iss":"x"})").value();
  auto no_key = check(stranger_token);
  ASSERT_FALSE(no_key);
  EXPECT_EQ(no_key.err().message, "id_token: no key matches kid for ES384");
}

TEST(jose, id_token_with_duplicate_claims_is_malformed) {
  auto token = sign_jwt(es384_key(), R"({"aud":"other","aud":"visitd-app"})");
  ASSERT_TRUE(token);
  auto result = check(*token);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.err().code, domain::errc::invalid_argument);
  EXPECT_EQ(result.err().message, "id_token: claims have a duplicate member");
}

}  // namespace
}  // namespace visitd::fhir
