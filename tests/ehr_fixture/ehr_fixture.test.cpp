// Self-test of visitd-test-ehr: starts the real binary, pins its ca.pem and drives the SMART
// flows by hand over TLS. The crypto here (PKCE, ES384/RS384 assertions, RS256 id_token check)
// is written again with raw OpenSSL, independently of the fixture's jose.cpp.

#include "child_process.hpp"
#include "running_server.hpp"
#include "tls_client.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace visitd::test;
namespace json = boost::json;
using params = std::vector<std::pair<std::string, std::string>>;

// -- encodings and crypto, test side ------------------------------------------------

std::string b64url(std::string_view bytes) {
  static constexpr char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(a[(buffer >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(a[(buffer << (6 - bits)) & 63]);
  return out;
}

std::string unb64url(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) throw std::runtime_error("not base64url");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char digest[32];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), length);
}

std::string random_b64url(int bytes) {
  std::string raw(static_cast<std::size_t>(bytes), '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), bytes);
  return b64url(raw);
}

std::string bn_padded(const BIGNUM* bn, int length) {
  std::string out(static_cast<std::size_t>(length), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), length);
  return out;
}

std::string bn_minimal(const BIGNUM* bn) {
  return bn_padded(bn, BN_num_bytes(bn));
}

struct pkey_deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

std::string digest_sign(EVP_PKEY* key, const EVP_MD* md, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t length = 0;
  EVP_DigestSignInit(ctx, nullptr, md, nullptr, key);
  EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string signature(length, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  signature.resize(length);
  return signature;
}

/// A client key pair with its public JWK; signs client assertions (RS384 or ES384).
struct client_key {
  std::string alg;
  std::string kid;
  pkey_ptr key;
  json::object jwk;

  static client_key es384(std::string kid) {
    client_key k{"ES384", kid, pkey_ptr{EVP_EC_gen("P-384")}, {}};
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(k.key.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(k.key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    k.jwk = {{"kty", "EC"},
             {"crv", "P-384"},
             {"kid", kid},
             {"alg", "ES384"},
             {"use", "sig"},
             {"x", b64url(bn_padded(x, 48))},
             {"y", b64url(bn_padded(y, 48))}};
    BN_free(x);
    BN_free(y);
    return k;
  }

  static client_key rs384(std::string kid) {
    client_key k{"RS384", kid, pkey_ptr{EVP_RSA_gen(2048)}, {}};
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(k.key.get(), OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(k.key.get(), OSSL_PKEY_PARAM_RSA_E, &e);
    k.jwk = {{"kty", "RSA"},
             {"kid", kid},
             {"alg", "RS384"},
             {"n", b64url(bn_minimal(n))},
             {"e", b64url(bn_minimal(e))}};
    BN_free(n);
    BN_free(e);
    return k;
  }

  [[nodiscard]] json::object jwks() const { return {{"keys", json::array{jwk}}}; }

  /// A compact JWS of `claims`; ES384 turns OpenSSL's DER into R||S (RFC 7518 §3.4).
  [[nodiscard]] std::string sign(const json::object& claims,
                                 const json::object& header_extra = {}) const {
    json::object header{{"alg", alg}, {"typ", "JWT"}, {"kid", kid}};
    for (const auto& m : header_extra) header[m.key()] = m.value();
    std::string input = b64url(json::serialize(header)) + "." + b64url(json::serialize(claims));
    std::string signature;
    if (alg == "RS384") {
      signature = digest_sign(key.get(), EVP_sha384(), input);
    } else {
      auto der = digest_sign(key.get(), EVP_sha384(), input);
      const auto* p = reinterpret_cast<const unsigned char*>(der.data());
      ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
      signature = bn_padded(ECDSA_SIG_get0_r(sig), 48) + bn_padded(ECDSA_SIG_get0_s(sig), 48);
      ECDSA_SIG_free(sig);
    }
    return input + "." + b64url(signature);
  }
};

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Verifies an RS256 compact JWS against a JWK Set (raw OpenSSL); returns its claims, or a
/// non-object value with the reason as a string.
json::value verify_rs256(const std::string& token, const json::value& jwks) {
  auto first = token.find('.');
  auto second = token.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) return "not a JWS";
  auto header = json::parse(unb64url(token.substr(0, first))).as_object();
  if (header.at("alg") != "RS256") return "alg is not RS256";
  const json::object* jwk = nullptr;
  for (const auto& k : jwks.at("keys").as_array())
    if (k.as_object().at("kid") == header.at("kid")) jwk = &k.as_object();
  if (!jwk) return "kid not in the JWK Set";
  auto n = unb64url(jwk->at("n").as_string());
  auto e = unb64url(jwk->at("e").as_string());
  BIGNUM* n_bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* e_bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n_bn);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e_bn);
  OSSL_PARAM* ossl_params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* key = nullptr;
  EVP_PKEY_fromdata_init(pctx);
  EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, ossl_params);
  auto input = token.substr(0, second);
  auto signature = unb64url(token.substr(second + 1));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = key && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  EVP_PKEY_CTX_free(pctx);
  OSSL_PARAM_free(ossl_params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n_bn);
  BN_free(e_bn);
  if (!ok) return "signature does not verify";
  return json::parse(unb64url(token.substr(first + 1, second - first - 1)));
}

// -- the fixture process ---------------------------------------------------------------

class test_ehr_process {
public:
  test_ehr_process() {
    process_ = std::make_unique<child_process>(
      TEST_EHR_BINARY, std::vector<std::string>{"--port", "0", "--dir", dir_.path().string()},
      (dir_.path() / "stderr.log").string());
    auto line = process_->wait_for_line("test-ehr listening on https://", std::chrono::seconds{20});
    if (!line) throw std::runtime_error("visitd-test-ehr did not start: " + stderr_log());
    std::smatch m;
    if (!std::regex_search(*line, m,
                           std::regex{R"(^test-ehr listening on https://127\.0\.0\.1:(\d+)$)"}))
      throw std::runtime_error("unexpected first line: " + *line);
    port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    ca_pem_ = read_file((dir_.path() / "ca.pem").string());
  }

  [[nodiscard]] tls_client_options client() const { return {"127.0.0.1", port_, ca_pem_, 0}; }
  [[nodiscard]] const std::string& ca_pem() const { return ca_pem_; }
  [[nodiscard]] std::string origin() const { return "https://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string stderr_log() const {
    try {
      return read_file((dir_.path() / "stderr.log").string());
    } catch (...) {
      return {};
    }
  }
  child_process& process() { return *process_; }

private:
  temp_dir dir_;
  std::unique_ptr<child_process> process_;
  std::uint16_t port_ = 0;
  std::string ca_pem_;
};

std::string encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string form(const params& p) {
  std::string out;
  for (const auto& [k, v] : p) {
    if (!out.empty()) out.push_back('&');
    out += encode(k) + "=" + encode(v);
  }
  return out;
}

void set_param(params& p, const std::string& key, const std::string& value) {
  for (auto& [k, v] : p)
    if (k == key) {
      v = value;
      return;
    }
  p.emplace_back(key, value);
}

void drop_param(params& p, const std::string& key) {
  std::erase_if(p, [&](const auto& kv) { return kv.first == key; });
}

json::value body_json(const http_reply& r) {
  return json::parse(r.body);
}

std::string str(const json::value& v, std::string_view key) {
  auto* m = v.as_object().if_contains(key);
  return m && m->is_string() ? std::string{m->get_string()} : std::string{};
}

/// The query parameters of a redirect's Location.
std::map<std::string, std::string> redirect_query(const http_reply& r) {
  std::map<std::string, std::string> out;
  auto location = r.headers.count("location") ? r.headers.at("location") : std::string{};
  auto u = boost::urls::parse_uri_reference(location);
  if (!u) return out;
  for (auto p : u->params()) out[p.key] = p.value;
  out["_prefix"] = std::string{u->scheme()} + "://" + std::string{u->encoded_authority()} +
                   std::string{u->encoded_path()};
  return out;
}

constexpr const char* app_redirect = "https://app.example/callback";

// -- the test fixture ---------------------------------------------------------------------

class EhrFixture : public ::testing::Test {
protected:
  void SetUp() override {
    ehr_ = std::make_unique<test_ehr_process>();
    c_ = std::make_unique<tls_connection>(ehr_->client());
  }

  // Every test ends with a clean SIGTERM shutdown: exit code 0, so a sanitizer report in the
  // fixture (including LeakSanitizer at exit) fails the test that caused it.
  void TearDown() override {
    c_.reset();
    ehr_->process().send_signal(SIGTERM);
    auto code = ehr_->process().wait_exit(std::chrono::seconds{10});
    ASSERT_TRUE(code.has_value()) << "the fixture did not stop on SIGTERM";
    EXPECT_EQ(*code, 0) << ehr_->stderr_log();
  }

  [[nodiscard]] std::string base(const std::string& name = "ehr1") const {
    return ehr_->origin() + "/ehr/" + name;
  }
  [[nodiscard]] std::string fhir_base(const std::string& name = "ehr1") const {
    return base(name) + "/fhir";
  }

  http_reply get(const std::string& path,
                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return c_->request("GET", path, {}, headers);
  }
  http_reply send_json(const std::string& method, const std::string& path, const json::value& v) {
    return c_->request(method, path, json::serialize(v), {{"Content-Type", "application/json"}});
  }
  http_reply post_form(const std::string& path, const params& p) {
    return c_->request("POST", path, form(p),
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  }

  void register_public(const std::string& name = "ehr1", const std::string& id = "app") {
    auto r = send_json(
      "POST", "/control/ehr/" + name + "/clients",
      {{"client_id", id}, {"type", "public"}, {"redirect_uris", json::array{app_redirect}}});
    ASSERT_EQ(r.status, 201) << r.body;
  }
  void register_confidential(const client_key& key, const std::string& name = "ehr1",
                             const std::string& id = "backend") {
    auto r = send_json("POST", "/control/ehr/" + name + "/clients",
                       {{"client_id", id},
                        {"type", "confidential"},
                        {"redirect_uris", json::array{app_redirect}},
                        {"jwks", key.jwks()}});
    ASSERT_EQ(r.status, 201) << r.body;
  }

  std::string new_launch(const json::object& body, const std::string& name = "ehr1") {
    auto r = send_json("POST", "/control/ehr/" + name + "/launches", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return str(body_json(r), "launch");
  }

  void put_resource(const std::string& type, const std::string& id,
                    const std::string& name = "ehr1") {
    auto r = send_json("PUT", "/control/ehr/" + name + "/resources/" + type + "/" + id,
                       {{"resourceType", type}, {"id", id}, {"status", "planned"}});
    ASSERT_EQ(r.status, 201) << r.body;
  }

  void behave(const json::object& knobs, const std::string& name = "ehr1") {
    auto r = send_json("POST", "/control/ehr/" + name + "/behaviour", knobs);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  /// Authorization request parameters of a well-behaved public client.
  params authorize_params(const std::string& scope, const std::string& launch = {},
                          const std::string& name = "ehr1", const std::string& client = "app") {
    params p{{"response_type", "code"},
             {"client_id", client},
             {"redirect_uri", app_redirect},
             {"scope", scope},
             {"state", state_},
             {"aud", fhir_base(name)},
             {"code_challenge", b64url(sha256(verifier_))},
             {"code_challenge_method", "S256"},
             {"nonce", nonce_}};
    if (!launch.empty()) p.emplace_back("launch", launch);
    return p;
  }

  http_reply authorize(const params& p, const std::string& name = "ehr1") {
    return get("/ehr/" + name + "/authorize?" + form(p));
  }

  /// Authorizes and returns the code (asserting a success redirect).
  std::string code_for(const params& p, const std::string& name = "ehr1") {
    auto r = authorize(p, name);
    EXPECT_EQ(r.status, 302) << r.body;
    auto q = redirect_query(r);
    EXPECT_EQ(q["_prefix"], app_redirect);
    EXPECT_EQ(q["state"], state_);
    EXPECT_EQ(q.count("error"), 0u) << q["error"] << ": " << q["error_description"];
    EXPECT_GE(q["code"].size(), 22u);  // >= 128 bits of base64url
    return q["code"];
  }

  params code_exchange(const std::string& code, const std::string& client = "app") {
    return {{"grant_type", "authorization_code"},
            {"code", code},
            {"redirect_uri", app_redirect},
            {"client_id", client},
            {"code_verifier", verifier_}};
  }

  http_reply token(const params& p, const std::string& name = "ehr1") {
    return post_form("/ehr/" + name + "/token", p);
  }

  json::object assertion_claims(const std::string& client, const std::string& name = "ehr1") {
    return {{"iss", client},
            {"sub", client},
            {"aud", base(name) + "/token"},
            {"exp", now_seconds() + 240},
            {"iat", now_seconds()},
            {"jti", random_b64url(16)}};
  }

  static params with_assertion(params p, const std::string& assertion) {
    p.emplace_back("client_assertion_type",
                   "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    p.emplace_back("client_assertion", assertion);
    return p;
  }

  json::array log(const std::string& name = "ehr1") {
    auto r = get("/control/ehr/" + name + "/log");
    EXPECT_EQ(r.status, 200);
    return body_json(r).as_array();
  }

  static void expect_oauth_error(const http_reply& r, int status, const std::string& error) {
    EXPECT_EQ(r.status, status) << r.body;
    auto v = body_json(r);
    EXPECT_EQ(str(v, "error"), error) << r.body;
    EXPECT_FALSE(str(v, "error_description").empty());
    EXPECT_EQ(r.headers.count("cache-control") ? r.headers.at("cache-control") : "", "no-store");
  }

  void expect_redirect_error(const http_reply& r, const std::string& error,
                             bool with_state = true) {
    EXPECT_EQ(r.status, 302) << r.body;
    auto q = redirect_query(r);
    EXPECT_EQ(q["_prefix"], app_redirect);
    EXPECT_EQ(q["error"], error) << q["error_description"];
    EXPECT_FALSE(q["error_description"].empty());
    EXPECT_EQ(q.count("code"), 0u);
    if (with_state) {
      EXPECT_EQ(q["state"], state_);
    }
  }

  std::unique_ptr<test_ehr_process> ehr_;
  std::unique_ptr<tls_connection> c_;
  std::string verifier_ = random_b64url(32);  // 43 characters
  std::string state_ = random_b64url(16);
  std::string nonce_ = random_b64url(16);
};

// -- discovery --------------------------------------------------------------------------------

TEST_F(EhrFixture, SmartConfigurationAdvertisesThisIssuer) {
  auto r = get("/ehr/ehr1/fhir/.well-known/smart-configuration");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  auto v = body_json(r);
  EXPECT_EQ(str(v, "issuer"), fhir_base());
  EXPECT_EQ(str(v, "jwks_uri"), base() + "/jwks");
  EXPECT_EQ(str(v, "authorization_endpoint"), base() + "/authorize");
  EXPECT_EQ(str(v, "token_endpoint"), base() + "/token");
  EXPECT_EQ(v.at("grant_types_supported"),
            (json::array{"authorization_code", "client_credentials"}));
  EXPECT_EQ(v.at("token_endpoint_auth_methods_supported"), (json::array{"private_key_jwt"}));
  EXPECT_EQ(v.at("token_endpoint_auth_signing_alg_values_supported"),
            (json::array{"RS384", "ES384"}));
  EXPECT_EQ(v.at("response_types_supported"), (json::array{"code"}));
  EXPECT_EQ(v.at("code_challenge_methods_supported"), (json::array{"S256"}));
  EXPECT_TRUE(v.at("scopes_supported").is_array());
  for (const char* capability :
       {"launch-ehr", "launch-standalone", "client-public", "client-confidential-asymmetric",
        "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
        "sso-openid-connect", "permission-patient", "permission-user", "permission-v2"}) {
    const auto& caps = v.at("capabilities").as_array();
    EXPECT_NE(std::find(caps.begin(), caps.end(), json::value(capability)), caps.end())
      << capability;
  }

  // Another name is another issuer.
  auto other = body_json(get("/ehr/other-2/fhir/.well-known/smart-configuration"));
  EXPECT_EQ(str(other, "issuer"), fhir_base("other-2"));

  auto keys = body_json(get("/ehr/ehr1/jwks"));
  ASSERT_EQ(keys.at("keys").as_array().size(), 1u);
  const auto& k = keys.at("keys").as_array()[0];
  EXPECT_EQ(str(k, "kty"), "RSA");
  EXPECT_EQ(str(k, "alg"), "RS256");
  EXPECT_FALSE(str(k, "kid").empty());
  EXPECT_GE(unb64url(str(k, "n")).size(), 256u);  // 2048 bits

  EXPECT_EQ(get("/ehr/Bad_Name/jwks").status, 404);
  EXPECT_EQ(get("/ehr/ehr1/nowhere").status, 404);
}

TEST_F(EhrFixture, SmartConfigurationKnobs) {
  behave({{"smart_configuration", "missing"}});
  EXPECT_EQ(get("/ehr/ehr1/fhir/.well-known/smart-configuration").status, 404);
  behave({{"smart_configuration", "no_s256"}});
  auto v = body_json(get("/ehr/ehr1/fhir/.well-known/smart-configuration"));
  EXPECT_FALSE(v.as_object().contains("code_challenge_methods_supported"));
  behave({{"smart_configuration", "plain_only"}});
  v = body_json(get("/ehr/ehr1/fhir/.well-known/smart-configuration"));
  EXPECT_EQ(v.at("code_challenge_methods_supported"), (json::array{"plain"}));
  behave({{"smart_configuration", "bad_json"}});
  auto r = get("/ehr/ehr1/fhir/.well-known/smart-configuration");
  EXPECT_EQ(r.status, 200);
  boost::system::error_code ec;
  (void)json::parse(r.body, ec);
  EXPECT_TRUE(ec) << r.body;
  // Knobs are per EHR.
  EXPECT_EQ(get("/ehr/ehr2/fhir/.well-known/smart-configuration").status, 200);
}

TEST_F(EhrFixture, CapabilityStatementNeedsNoToken) {
  behave({{"update_create", false}});
  auto r = get("/ehr/ehr1/fhir/metadata");
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = body_json(r);
  EXPECT_EQ(str(v, "resourceType"), "CapabilityStatement");
  EXPECT_EQ(str(v, "fhirVersion"), "4.0.1");
  std::map<std::string, json::object> by_type;
  for (const auto& res : v.at("rest").as_array()[0].at("resource").as_array())
    by_type[str(res, "type")] = res.as_object();
  for (const char* type : {"Encounter", "Appointment", "AuditEvent"}) {
    ASSERT_TRUE(by_type.count(type)) << type;
    EXPECT_EQ(by_type[type].at("interaction"),
              (json::array{json::object{{"code", "read"}}, json::object{{"code", "create"}},
                           json::object{{"code", "update"}}}));
    EXPECT_FALSE(by_type[type].at("updateCreate").as_bool());
  }
}

// -- the happy paths ---------------------------------------------------------------------------

TEST_F(EhrFixture, PublicClientEhrLaunch) {
  register_public();
  put_resource("Appointment", "appt1");
  auto launch = new_launch({{"fhirUser", "Practitioner/p1"},
                            {"patient", "pat1"},
                            {"encounter", "enc1"},
                            {"appointment", "appt1"}});
  auto code = code_for(
    authorize_params("launch openid fhirUser user/Appointment.rs patient/Encounter.read", launch));

  auto r = token(code_exchange(code));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  auto t = body_json(r);
  EXPECT_EQ(str(t, "token_type"), "Bearer");
  EXPECT_EQ(t.at("expires_in").as_int64(), 3600);
  EXPECT_EQ(str(t, "scope"), "launch openid fhirUser user/Appointment.rs patient/Encounter.read");
  EXPECT_EQ(str(t, "patient"), "pat1");
  EXPECT_EQ(str(t, "encounter"), "enc1");
  EXPECT_EQ(t.at("fhirContext"), (json::array{json::object{{"reference", "Appointment/appt1"}}}));
  EXPECT_FALSE(t.at("need_patient_banner").as_bool());
  auto access_token = str(t, "access_token");
  EXPECT_GE(access_token.size(), 22u);

  // The id_token verifies against the published JWK Set, with the right claims.
  auto jwks = body_json(get("/ehr/ehr1/jwks"));
  auto claims = verify_rs256(str(t, "id_token"), jwks);
  ASSERT_TRUE(claims.is_object()) << claims;
  EXPECT_EQ(str(claims, "iss"), fhir_base());
  EXPECT_EQ(str(claims, "aud"), "app");
  EXPECT_EQ(str(claims, "sub"), "p1");
  EXPECT_EQ(str(claims, "nonce"), nonce_);
  EXPECT_EQ(str(claims, "fhirUser"), fhir_base() + "/Practitioner/p1");
  auto now = now_seconds();
  EXPECT_LE(claims.at("iat").as_int64(), now + 1);
  EXPECT_GT(claims.at("exp").as_int64(), now);
  EXPECT_LE(claims.at("exp").as_int64(), now + 301);

  // The access token reads the stored Appointment.
  auto read =
    get("/ehr/ehr1/fhir/Appointment/appt1", {{"Authorization", "Bearer " + access_token}});
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(str(body_json(read), "id"), "appt1");

  // The log tells what happened, in order.
  std::vector<std::string> seen;
  for (const auto& e : log()) seen.push_back(str(e, "endpoint") + ":" + str(e, "outcome"));
  EXPECT_EQ(seen, (std::vector<std::string>{"authorize:code", "token:ok", "jwks:", "fhir:"}));
}

TEST_F(EhrFixture, StandaloneLaunchTakesContextFromBehaviour) {
  register_public();
  behave({{"user", "Patient/456"}, {"patient", "456"}});
  auto code =
    code_for(authorize_params("launch/patient openid fhirUser patient/*.rs offline_access"));
  auto r = token(code_exchange(code));
  ASSERT_EQ(r.status, 200) << r.body;
  auto t = body_json(r);
  EXPECT_EQ(str(t, "patient"), "456");
  EXPECT_FALSE(t.as_object().contains("encounter"));
  EXPECT_FALSE(t.as_object().contains("fhirContext"));
  EXPECT_EQ(str(t, "scope"), "launch/patient openid fhirUser patient/*.rs");  // no refresh tokens
  auto claims = verify_rs256(str(t, "id_token"), body_json(get("/ehr/ehr1/jwks")));
  ASSERT_TRUE(claims.is_object()) << claims;
  EXPECT_EQ(str(claims, "fhirUser"), fhir_base() + "/Patient/456");
  EXPECT_EQ(str(claims, "sub"), "456");
}

TEST_F(EhrFixture, ConfidentialClientWithInlineJwksAndEs384Assertion) {
  auto key = client_key::es384("es-1");
  register_confidential(key);
  auto launch = new_launch({{"fhirUser", "Practitioner/p9"}, {"patient", "pat9"}});
  auto code = code_for(authorize_params("launch openid fhirUser", launch, "ehr1", "backend"));

  // Without an assertion a confidential client is refused.
  expect_oauth_error(token(code_exchange(code, "backend")), 401, "invalid_client");

  auto r =
    token(with_assertion(code_exchange(code, "backend"), key.sign(assertion_claims("backend"))));
  ASSERT_EQ(r.status, 200) << r.body;
  auto t = body_json(r);
  EXPECT_EQ(str(t, "patient"), "pat9");
  auto claims = verify_rs256(str(t, "id_token"), body_json(get("/ehr/ehr1/jwks")));
  ASSERT_TRUE(claims.is_object()) << claims;
  EXPECT_EQ(str(claims, "aud"), "backend");
  std::vector<std::string> tokens;
  for (const auto& e : log())
    if (str(e, "endpoint") == "token")
      tokens.push_back(str(e, "client_auth") + ":" + str(e, "outcome"));
  EXPECT_EQ(tokens, (std::vector<std::string>{"none:error", "private_key_jwt:ok"}));
}

TEST_F(EhrFixture, ConfidentialClientWithJwksUrlAndRs384Assertion) {
  // The client's JWK Set is served by the fixture itself (a control-API file), over TLS trusted
  // through the registered jwks_url_ca_pem.
  auto key = client_key::rs384("rs-1");
  auto put = c_->request("PUT", "/control/ehr/ehr1/files/client-jwks.json",
                         json::serialize(key.jwks()), {{"Content-Type", "application/json"}});
  ASSERT_EQ(put.status, 201) << put.body;
  auto jwks_url = str(body_json(put), "url");
  EXPECT_EQ(jwks_url, base() + "/files/client-jwks.json");
  auto r = send_json("POST", "/control/ehr/ehr1/clients",
                     {{"client_id", "svc"},
                      {"type", "confidential"},
                      {"jwks_url", jwks_url},
                      {"jwks_url_ca_pem", ehr_->ca_pem()}});
  ASSERT_EQ(r.status, 201) << r.body;

  params p{{"grant_type", "client_credentials"},
           {"scope", "system/Appointment.rs system/AuditEvent.c"}};
  auto t = token(with_assertion(p, key.sign(assertion_claims("svc"))));
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(str(body_json(t), "scope"), "system/Appointment.rs system/AuditEvent.c");

  // An unreachable jwks_url is invalid_client, not a hang or a crash.
  r = send_json("POST", "/control/ehr/ehr1/clients",
                {{"client_id", "svc2"},
                 {"type", "confidential"},
                 {"jwks_url", "https://127.0.0.1:1/jwks"},
                 {"jwks_url_ca_pem", ehr_->ca_pem()}});
  ASSERT_EQ(r.status, 201);
  expect_oauth_error(token(with_assertion(p, key.sign(assertion_claims("svc2")))), 401,
                     "invalid_client");
}

// -- authorization endpoint failures ---------------------------------------------------------

TEST_F(EhrFixture, ClientOrRedirectProblemsAreAnErrorPageNeverARedirect) {
  register_public();
  auto p = authorize_params("openid fhirUser");
  set_param(p, "redirect_uri", "https://evil.example/callback");
  auto r = authorize(p);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.headers.count("location"), 0u);

  p = authorize_params("openid fhirUser");
  drop_param(p, "redirect_uri");
  EXPECT_EQ(authorize(p).status, 400);

  p = authorize_params("openid fhirUser");
  set_param(p, "client_id", "nobody");
  r = authorize(p);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.headers.count("location"), 0u);

  // A code redeemed with another redirect_uri than authorized is invalid_grant.
  auto code = code_for(authorize_params("openid fhirUser"));
  auto exchange = code_exchange(code);
  set_param(exchange, "redirect_uri", "https://app.example/other");
  expect_oauth_error(token(exchange), 400, "invalid_grant");
}

TEST_F(EhrFixture, MissingS256IsInvalidRequest) {
  register_public();
  auto p = authorize_params("openid fhirUser");
  drop_param(p, "code_challenge");
  expect_redirect_error(authorize(p), "invalid_request");
  p = authorize_params("openid fhirUser");
  set_param(p, "code_challenge_method", "plain");
  expect_redirect_error(authorize(p), "invalid_request");
  p = authorize_params("openid fhirUser");
  drop_param(p, "code_challenge_method");
  expect_redirect_error(authorize(p), "invalid_request");
  // No state: still an error redirect, without state.
  p = authorize_params("openid fhirUser");
  drop_param(p, "state");
  expect_redirect_error(authorize(p), "invalid_request", false);
}

TEST_F(EhrFixture, UnknownLaunchIsInvalidRequest) {
  register_public();
  expect_redirect_error(authorize(authorize_params("launch openid", "no-such-launch")),
                        "invalid_request");
  expect_redirect_error(authorize(authorize_params("launch openid")), "invalid_request");
  auto entries = log();
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(str(entries.back(), "outcome"), "redirect_error");
}

TEST_F(EhrFixture, WrongAudIsInvalidRequest) {
  register_public();
  auto p = authorize_params("openid fhirUser");
  set_param(p, "aud", fhir_base("ehr2"));  // another issuer's FHIR base
  expect_redirect_error(authorize(p), "invalid_request");
  set_param(p, "aud", fhir_base() + "/");
  expect_redirect_error(authorize(p), "invalid_request");
  drop_param(p, "aud");
  expect_redirect_error(authorize(p), "invalid_request");
}

TEST_F(EhrFixture, DenyRedirectsWithAccessDeniedAndIssuesNothing) {
  register_public();
  behave({{"authorize", "deny"}});
  expect_redirect_error(authorize(authorize_params("openid fhirUser")), "access_denied");
  for (const auto& e : log()) EXPECT_NE(str(e, "endpoint"), "token");
}

TEST_F(EhrFixture, CodeExpiresAfterItsTtl) {
  register_public();
  behave({{"code_ttl_seconds", 0}});
  auto code = code_for(authorize_params("openid"));
  expect_oauth_error(token(code_exchange(code)), 400, "invalid_grant");
}

// -- token endpoint failures ----------------------------------------------------------------

TEST_F(EhrFixture, ReusedCodeIsInvalidGrantAndRevokesItsTokens) {
  register_public();
  put_resource("Encounter", "enc1");
  auto code = code_for(authorize_params("openid user/Encounter.rs"));
  auto first = token(code_exchange(code));
  ASSERT_EQ(first.status, 200) << first.body;
  auto access_token = str(body_json(first), "access_token");
  std::vector<std::pair<std::string, std::string>> auth{
    {"Authorization", "Bearer " + access_token}};
  EXPECT_EQ(get("/ehr/ehr1/fhir/Encounter/enc1", auth).status, 200);

  expect_oauth_error(token(code_exchange(code)), 400, "invalid_grant");
  EXPECT_EQ(get("/ehr/ehr1/fhir/Encounter/enc1", auth).status, 401);  // revoked
  bool logged = false;
  for (const auto& e : log())
    if (str(e, "endpoint") == "token" && str(e, "error") == "invalid_grant")
      logged = e.as_object().contains("revoked_tokens") && e.at("revoked_tokens").as_int64() == 1;
  EXPECT_TRUE(logged);
}

TEST_F(EhrFixture, WrongVerifierIsInvalidGrant) {
  register_public();
  auto code = code_for(authorize_params("openid"));
  auto p = code_exchange(code);
  set_param(p, "code_verifier", random_b64url(32));
  expect_oauth_error(token(p), 400, "invalid_grant");
  set_param(p, "code_verifier", "short");
  expect_oauth_error(token(p), 400, "invalid_request");
  drop_param(p, "code_verifier");
  expect_oauth_error(token(p), 400, "invalid_request");
  // A failed attempt does not spend the code.
  EXPECT_EQ(token(code_exchange(code)).status, 200);
}

TEST_F(EhrFixture, AssertionReplayIsInvalidClient) {
  auto key = client_key::es384("es-1");
  register_confidential(key);
  params p{{"grant_type", "client_credentials"}, {"scope", "system/Appointment.rs"}};
  auto assertion = key.sign(assertion_claims("backend"));
  EXPECT_EQ(token(with_assertion(p, assertion)).status, 200);
  expect_oauth_error(token(with_assertion(p, assertion)), 401, "invalid_client");
}

TEST_F(EhrFixture, BadAssertionsAreInvalidClient) {
  auto key = client_key::es384("es-1");
  register_confidential(key);
  params p{{"grant_type", "client_credentials"}, {"scope", "system/Appointment.rs"}};
  auto expect_refused = [&](const std::string& assertion, const char* what) {
    SCOPED_TRACE(what);
    expect_oauth_error(token(with_assertion(p, assertion)), 401, "invalid_client");
  };
  auto claims = assertion_claims("backend");
  claims["exp"] = now_seconds() - 5;
  expect_refused(key.sign(claims), "expired");
  claims = assertion_claims("backend");
  claims["exp"] = now_seconds() + 600;
  expect_refused(key.sign(claims), "exp more than 5 minutes ahead");
  claims = assertion_claims("backend");
  claims["aud"] = fhir_base();
  expect_refused(key.sign(claims), "aud is not the token endpoint");
  claims = assertion_claims("backend");
  claims["sub"] = "someone-else";
  expect_refused(key.sign(claims), "sub differs");
  claims = assertion_claims("backend");
  claims.erase("jti");
  expect_refused(key.sign(claims), "no jti");
  auto other = client_key::es384("es-1");  // same kid, another key
  expect_refused(other.sign(assertion_claims("backend")), "signed by another key");
  auto unknown = client_key::es384("es-2");
  expect_refused(unknown.sign(assertion_claims("backend")), "unknown kid");
  expect_refused(key.sign(assertion_claims("backend"), {{"typ", "at+jwt"}}), "typ is not JWT");
  auto good = key.sign(assertion_claims("backend"));
  auto tampered = good;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  expect_refused(tampered, "tampered signature");
  expect_refused("not-a-jwt", "not a JWT");
  // RS384 with an EC key in the JWK Set is refused (alg/key mismatch).
  auto rsa = client_key::rs384("es-1");
  expect_refused(rsa.sign(assertion_claims("backend")), "RS384 against an EC key");
  // And the good one still works: nothing above was accepted or burned its jti.
  EXPECT_EQ(token(with_assertion(p, good)).status, 200);
}

TEST_F(EhrFixture, ClientCredentialsForConfidentialClientsOnly) {
  register_public();
  auto key = client_key::es384("es-1");
  register_confidential(key);
  params p{{"grant_type", "client_credentials"}, {"scope", "system/*.rs"}, {"client_id", "app"}};
  expect_oauth_error(token(p), 401, "invalid_client");

  params q{{"grant_type", "client_credentials"}, {"scope", "user/*.rs openid"}};
  expect_oauth_error(token(with_assertion(q, key.sign(assertion_claims("backend")))), 400,
                     "invalid_scope");
  set_param(q, "scope", "system/*.rs");
  auto r = token(with_assertion(q, key.sign(assertion_claims("backend"))));
  ASSERT_EQ(r.status, 200) << r.body;
  auto t = body_json(r);
  EXPECT_EQ(str(t, "token_type"), "Bearer");
  EXPECT_EQ(t.at("expires_in").as_int64(), 3600);
  EXPECT_EQ(str(t, "scope"), "system/*.rs");
  EXPECT_FALSE(t.as_object().contains("id_token"));
  put_resource("Practitioner", "p1");
  EXPECT_EQ(
    get("/ehr/ehr1/fhir/Practitioner/p1", {{"Authorization", "Bearer " + str(t, "access_token")}})
      .status,
    200);

  expect_oauth_error(token({{"grant_type", "password"}, {"client_id", "app"}}), 400,
                     "unsupported_grant_type");
  auto wrong_type =
    c_->request("POST", "/ehr/ehr1/token", "{}", {{"Content-Type", "application/json"}});
  expect_oauth_error(wrong_type, 400, "invalid_request");
}

// -- id_token knobs ---------------------------------------------------------------------------

TEST_F(EhrFixture, IdTokenKnobs) {
  register_public();
  auto jwks = body_json(get("/ehr/ehr1/jwks"));
  auto id_token_with = [&](const char* mode) {
    behave({{"id_token", mode}});
    auto r = token(code_exchange(code_for(authorize_params("openid fhirUser"))));
    EXPECT_EQ(r.status, 200) << r.body;
    return str(body_json(r), "id_token");
  };
  EXPECT_TRUE(verify_rs256(id_token_with("tamper"), jwks).is_string());
  auto unknown = verify_rs256(id_token_with("unknown_kid"), jwks);
  EXPECT_TRUE(unknown.is_string() && unknown.as_string() == "kid not in the JWK Set") << unknown;
  auto claims = verify_rs256(id_token_with("wrong_aud"), jwks);
  EXPECT_NE(str(claims, "aud"), "app");
  claims = verify_rs256(id_token_with("wrong_iss"), jwks);
  EXPECT_NE(str(claims, "iss"), fhir_base());
  claims = verify_rs256(id_token_with("expired"), jwks);
  EXPECT_LT(claims.at("exp").as_int64(), now_seconds());
  claims = verify_rs256(id_token_with("wrong_nonce"), jwks);
  EXPECT_NE(str(claims, "nonce"), nonce_);
  claims = verify_rs256(id_token_with("ok"), jwks);
  EXPECT_EQ(str(claims, "nonce"), nonce_);
}

// -- FHIR --------------------------------------------------------------------------------------

TEST_F(EhrFixture, FhirReadNeedsAValidTokenFromThisEhr) {
  register_public();
  register_public("ehr2");
  put_resource("Encounter", "enc1");
  put_resource("Patient", "pat1");
  auto no_token = get("/ehr/ehr1/fhir/Encounter/enc1");
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(str(body_json(no_token), "resourceType"), "OperationOutcome");
  EXPECT_EQ(get("/ehr/ehr1/fhir/Encounter/enc1", {{"Authorization", "Bearer made-up"}}).status,
            401);

  auto t =
    body_json(token(code_exchange(code_for(authorize_params("user/Encounter.rs"))))).as_object();
  std::vector<std::pair<std::string, std::string>> auth{
    {"Authorization", "Bearer " + std::string{t.at("access_token").as_string()}}};
  auto read = get("/ehr/ehr1/fhir/Encounter/enc1", auth);
  EXPECT_EQ(read.status, 200);
  EXPECT_NE(read.headers["content-type"].find("application/fhir+json"), std::string::npos);
  auto missing = get("/ehr/ehr1/fhir/Encounter/nope", auth);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(str(body_json(missing), "resourceType"), "OperationOutcome");
  EXPECT_EQ(get("/ehr/ehr1/fhir/Patient/pat1", auth).status, 403);    // scope is Encounter only
  EXPECT_EQ(get("/ehr/ehr2/fhir/Encounter/enc1", auth).status, 401);  // another issuer's token
}

// -- control API and robustness ---------------------------------------------------------------

TEST_F(EhrFixture, ControlRejectsMalformedInput) {
  auto bad = [&](const std::string& method, const std::string& path, const std::string& body) {
    auto r = c_->request(method, path, body, {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 400) << method << " " << path << " " << body << " -> " << r.body;
  };
  bad("POST", "/control/ehr/ehr1/clients", "{not json");
  bad("POST", "/control/ehr/ehr1/clients", "[]");
  bad("POST", "/control/ehr/ehr1/clients", R"({"client_id":"x","type":"weird"})");
  bad("POST", "/control/ehr/ehr1/clients", R"({"client_id":"x","type":"public"})");
  bad("POST", "/control/ehr/ehr1/clients",
      R"({"client_id":"x","type":"public","redirect_uris":["https://a/b#frag"]})");
  bad("POST", "/control/ehr/ehr1/clients", R"({"client_id":"x","type":"confidential"})");
  bad("POST", "/control/ehr/ehr1/launches", "");
  bad("POST", "/control/ehr/ehr1/launches", R"({"fhirUser":"nobody"})");
  bad("POST", "/control/ehr/ehr1/launches", R"({"fhirUser":"Practitioner/p1","ttl_seconds":-1})");
  bad("POST", "/control/ehr/ehr1/behaviour", R"({"authorize":"maybe"})");
  bad("POST", "/control/ehr/ehr1/behaviour", R"({"no_such_knob":1})");
  bad("POST", "/control/ehr/ehr1/behaviour", R"({"code_ttl_seconds":"60"})");
  bad("PUT", "/control/ehr/ehr1/resources/Encounter/enc1", R"({"resourceType":"Patient"})");
  bad("PUT", "/control/ehr/ehr1/resources/Encounter/enc1", std::string(100, '['));
  bad("PUT", "/control/ehr/ehr1/resources/Encounter/enc1", "\xff\xfe{}");
  // A rejected behaviour change applies nothing.
  bad("POST", "/control/ehr/ehr1/behaviour", R"({"authorize":"deny","id_token":"bogus"})");
  EXPECT_EQ(str(body_json(get("/control/ehr/ehr1/behaviour")), "authorize"), "consent");
  EXPECT_EQ(get("/ehr/ehr1/fhir/.well-known/smart-configuration").status, 200);
}

TEST_F(EhrFixture, HostileInputNeverCrashes) {
  register_public();
  auto key = client_key::es384("es-1");
  register_confidential(key);
  static constexpr char with_nul[] = "grant_type=\0\0&client_id=\xff";
  std::vector<std::string> bodies{
    "%zz",
    "grant_type=authorization_code&grant_type=client_credentials",
    "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
    "assertion-type%3Ajwt-bearer&client_assertion=a.b.c",
    "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
    "assertion-type%3Ajwt-bearer&client_assertion=..",
    "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
    "assertion-type%3Ajwt-bearer&client_assertion=e30.e30.",
    "grant_type=client_credentials&client_assertion_type=x&client_assertion=" +
      std::string(20000, 'A'),
    "grant_type=authorization_code&code=&client_id=app",
    std::string(with_nul, sizeof with_nul - 1),
  };
  for (const auto& body : bodies) {
    auto r = c_->request("POST", "/ehr/ehr1/token", body,
                         {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_TRUE(r.status == 400 || r.status == 401) << body.substr(0, 80) << " -> " << r.status;
  }
  // An assertion whose header claims {"alg":"none"} and whose x/y are garbage.
  for (const char* header : {R"({"alg":"none","kid":"es-1","typ":"JWT"})",
                             R"({"alg":"ES384","kid":"es-1","typ":"JWT"})"}) {
    auto jwt = b64url(header) + "." + b64url(json::serialize(assertion_claims("backend"))) + "." +
               b64url(std::string(7, 'x'));
    expect_oauth_error(
      token(with_assertion({{"grant_type", "client_credentials"}, {"scope", "system/*.rs"}}, jwt)),
      401, "invalid_client");
  }
  EXPECT_EQ(get("/ehr/ehr1/authorize?%zz").status, 400);
  EXPECT_EQ(get("/ehr/ehr1/authorize").status, 400);
  EXPECT_EQ(get("/ehr/ehr1/fhir/Encounter/../../x").status, 404);
  EXPECT_EQ(get("/ehr//fhir/metadata").status, 404);
  EXPECT_EQ(get("/").status, 404);
  EXPECT_EQ(get("/ehr/" + std::string(40, 'a') + "/jwks").status, 404);

  // Malformed HTTP gets a 400 and a close; an oversized header too.
  {
    tls_connection raw{ehr_->client()};
    EXPECT_EQ(raw.raw("GARBAGE\r\n\r\n").status, 400);
  }
  {
    tls_connection raw{ehr_->client()};
    auto r =
      raw.raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
    EXPECT_EQ(r.status, 400);
  }
  // Plain TCP instead of TLS: the handshake fails and the fixture carries on.
  (void)plain_tcp_exchange("127.0.0.1", ehr_->port(), "GET / HTTP/1.1\r\n\r\n");

  tls_connection fresh{ehr_->client()};
  EXPECT_EQ(fresh.request("GET", "/ehr/ehr1/fhir/.well-known/smart-configuration").status, 200);
}

}  // namespace
