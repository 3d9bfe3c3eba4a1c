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
#include <thread>
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

  // -- FHIR write helpers ------------------------------------------------------------------

  /// A client_credentials token for `scope` (system/ scopes), from a fresh confidential client.
  std::string system_token(const std::string& scope, const std::string& name = "ehr1") {
    auto key = client_key::es384("es-w");
    register_confidential(key, name, "writer");
    auto r = token(with_assertion({{"grant_type", "client_credentials"}, {"scope", scope}},
                                  key.sign(assertion_claims("writer", name))),
                   name);
    EXPECT_EQ(r.status, 200) << r.body;
    return str(body_json(r), "access_token");
  }

  /// An authorization-code token of the public client "app" for `scope` (patient/ user/ scopes).
  std::string user_token(const std::string& scope) {
    register_public();
    auto r = token(code_exchange(code_for(authorize_params(scope))));
    EXPECT_EQ(r.status, 200) << r.body;
    return str(body_json(r), "access_token");
  }

  using header_list = std::vector<std::pair<std::string, std::string>>;

  static header_list auth(const std::string& access_token) {
    return {{"Authorization", "Bearer " + access_token}};
  }

  /// POST or PUT of FHIR JSON with a bearer token and extra headers, on `c` (default c_).
  http_reply fhir_write(const std::string& method, const std::string& path, const json::value& body,
                        const std::string& access_token, header_list extra = {},
                        tls_connection* c = nullptr) {
    extra.emplace_back("Content-Type", "application/fhir+json");
    extra.emplace_back("Authorization", "Bearer " + access_token);
    return (c ? *c : *c_).request(method, path, json::serialize(body), extra);
  }

  /// The resources of `type` the fixture holds (control API).
  json::array stored(const std::string& type, const std::string& name = "ehr1") {
    auto r = get("/control/ehr/" + name + "/resources/" + type);
    EXPECT_EQ(r.status, 200) << r.body;
    return body_json(r).as_array();
  }

  static json::object audit_event(const std::string& system, const std::string& code) {
    json::object tag{{"code", code}};
    if (!system.empty()) tag["system"] = system;
    return {{"resourceType", "AuditEvent"},
            {"meta", json::object{{"tag", json::array{tag}}}},
            {"recorded", "2024-05-01T12:00:00Z"}};
  }

  static std::string header(const http_reply& r, const std::string& lower_name) {
    auto it = r.headers.find(lower_name);
    return it == r.headers.end() ? std::string{} : it->second;
  }

  static std::string version(const json::value& resource) {
    return str(resource.at("meta"), "versionId");
  }

  /// The last log entry of the FHIR endpoint.
  json::object last_fhir_entry(const std::string& name = "ehr1") {
    json::object out;
    for (const auto& e : log(name))
      if (str(e, "endpoint") == "fhir") out = e.as_object();
    return out;
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
  behave({{"update_create", false}, {"conditional_create", false}});
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
    EXPECT_EQ(
      by_type[type].at("interaction"),
      (json::array{json::object{{"code", "read"}}, json::object{{"code", "create"}},
                   json::object{{"code", "update"}}, json::object{{"code", "search-type"}}}));
    EXPECT_FALSE(by_type[type].at("updateCreate").as_bool());
    EXPECT_FALSE(by_type[type].at("conditionalCreate").as_bool());
    EXPECT_EQ(str(by_type[type], "versioning"), "versioned-update");
    EXPECT_EQ(by_type[type].at("searchParam"),
              (json::array{json::object{{"name", "_tag"}, {"type", "token"}},
                           json::object{{"name", "_id"}, {"type", "token"}}}));
  }
  EXPECT_EQ(by_type["Patient"].at("interaction"), (json::array{json::object{{"code", "read"}}}));
  behave({{"update_create", true}, {"conditional_create", true}});
  v = body_json(get("/ehr/ehr1/fhir/metadata"));
  for (const auto& res : v.at("rest").as_array()[0].at("resource").as_array())
    if (str(res, "type") == "AuditEvent") {
      EXPECT_TRUE(res.at("updateCreate").as_bool());
      EXPECT_TRUE(res.at("conditionalCreate").as_bool());
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

// -- FHIR writes -------------------------------------------------------------------------------

constexpr const char* visit_tag = "https://visitd.example/visit";

TEST_F(EhrFixture, CreateAssignsIdVersionAndLocation) {
  auto t = system_token("system/AuditEvent.cr");
  auto body = audit_event(visit_tag, "v1-connect");
  body["id"] = "client-chosen";  // R4: ignored on create
  auto r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", body, t);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_NE(header(r, "content-type").find("application/fhir+json"), std::string::npos);
  auto created = body_json(r);
  auto id = str(created, "id");
  EXPECT_NE(id, "client-chosen");
  EXPECT_TRUE(std::regex_match(id, std::regex{"[A-Za-z0-9.-]{1,64}"})) << id;
  EXPECT_EQ(str(created, "resourceType"), "AuditEvent");
  EXPECT_EQ(version(created), "1");
  EXPECT_FALSE(str(created.at("meta"), "lastUpdated").empty());
  EXPECT_EQ(created.at("meta").at("tag"), body.at("meta").at("tag"));  // kept
  EXPECT_EQ(header(r, "location"), fhir_base() + "/AuditEvent/" + id + "/_history/1");
  EXPECT_EQ(header(r, "etag"), "W/\"1\"");
  EXPECT_FALSE(header(r, "last-modified").empty());

  auto read = get("/ehr/ehr1/fhir/AuditEvent/" + id, auth(t));
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(header(read, "etag"), "W/\"1\"");
  EXPECT_EQ(body_json(read), created);
  auto entry = last_fhir_entry();
  EXPECT_EQ(str(entry, "method"), "GET");
  ASSERT_EQ(stored("AuditEvent").size(), 1u);

  // Refused bodies store nothing.
  auto patient = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", {{"resourceType", "Patient"}}, t);
  EXPECT_EQ(patient.status, 400);
  EXPECT_EQ(str(body_json(patient), "resourceType"), "OperationOutcome");
  auto not_json = c_->request("POST", "/ehr/ehr1/fhir/AuditEvent", "{nope",
                              {{"Content-Type", "application/fhir+json"}, auth(t)[0]});
  EXPECT_EQ(not_json.status, 400);
  auto wrong_type = c_->request("POST", "/ehr/ehr1/fhir/AuditEvent", json::serialize(body),
                                {{"Content-Type", "text/plain"}, auth(t)[0]});
  EXPECT_EQ(wrong_type.status, 415);
  EXPECT_EQ(fhir_write("POST", "/ehr/ehr1/fhir/Patient", {{"resourceType", "Patient"}}, t).status,
            405);
  EXPECT_EQ(fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent/x", body, t).status, 405);
  EXPECT_EQ(stored("AuditEvent").size(), 1u);

  // The log tells the write.
  bool logged = false;
  for (const auto& e : log())
    if (str(e, "endpoint") == "fhir" && str(e, "method") == "POST" &&
        e.at("status").as_int64() == 201) {
      logged = true;
      EXPECT_EQ(str(e, "path"), "/ehr/ehr1/fhir/AuditEvent");
      EXPECT_EQ(str(e, "client_id"), "writer");
      EXPECT_EQ(str(e, "resource"), "AuditEvent/" + id);
    }
  EXPECT_TRUE(logged);
}

TEST_F(EhrFixture, ConditionalCreateByTagAndId) {
  auto t = system_token("system/AuditEvent.crs");
  auto post = [&](const json::object& body, const std::string& condition) {
    return fhir_write(
      "POST", "/ehr/ehr1/fhir/AuditEvent", body, t,
      condition.empty() ? header_list{} : header_list{{"If-None-Exist", condition}});
  };
  auto condition = std::string{"_tag="} + visit_tag + "|v1-connect";
  // No match: created.
  auto first = post(audit_event(visit_tag, "v1-connect"), condition);
  ASSERT_EQ(first.status, 201) << first.body;
  auto id = str(body_json(first), "id");
  // One match: 200 with the existing resource, nothing new.
  for (const auto& same : {condition, std::string{"_tag=v1-connect"},
                           "_tag=" + encode(std::string{visit_tag} + "|v1-connect"), "_id=" + id,
                           "_tag=v1-connect&_id=" + id}) {
    SCOPED_TRACE(same);
    auto again = post(audit_event(visit_tag, "v1-connect"), same);
    EXPECT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(str(body_json(again), "id"), id);
    EXPECT_EQ(header(again, "etag"), "W/\"1\"");
  }
  EXPECT_EQ(stored("AuditEvent").size(), 1u);
  EXPECT_EQ(str(last_fhir_entry(), "if_none_exist"), "_tag=v1-connect&_id=" + id);
  // The condition decides, not the body; another system's tag is another resource.
  ASSERT_EQ(post(audit_event("https://other.example", "v1-connect"), condition).status, 200);
  ASSERT_EQ(post(audit_event("https://other.example", "v1-connect"),
                 "_tag=https://other.example|v1-connect")
              .status,
            201);
  EXPECT_EQ(stored("AuditEvent").size(), 2u);
  // Two matches for the code in any system: 412, nothing created.
  auto ambiguous = post(audit_event(visit_tag, "v1-connect"), "_tag=v1-connect");
  EXPECT_EQ(ambiguous.status, 412) << ambiguous.body;
  EXPECT_EQ(str(body_json(ambiguous), "resourceType"), "OperationOutcome");
  EXPECT_EQ(stored("AuditEvent").size(), 2u);
  // Unsupported parameters and empty conditions are a 400.
  EXPECT_EQ(post(audit_event(visit_tag, "x"), "identifier=abc").status, 400);
  EXPECT_EQ(post(audit_event(visit_tag, "x"), "_tag=").status, 400);
  EXPECT_EQ(post(audit_event(visit_tag, "x"), "%zz").status, 400);
  // conditional_create=false: If-None-Exist is refused, so a client ignoring the
  // CapabilityStatement is caught.
  behave({{"conditional_create", false}});
  auto refused = post(audit_event(visit_tag, "v2-connect"), "_tag=v2-connect");
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("conditional create not supported"), std::string::npos);
  EXPECT_EQ(post(audit_event(visit_tag, "v2-connect"), "").status, 201);
  EXPECT_EQ(stored("AuditEvent").size(), 3u);
}

TEST_F(EhrFixture, UpdateChecksIfMatch) {
  put_resource("Encounter", "enc1");
  auto t = system_token("system/Encounter.rus");
  auto read = get("/ehr/ehr1/fhir/Encounter/enc1", auth(t));
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(header(read, "etag"), "W/\"1\"");  // stored through the control API: version 1
  json::object body{{"resourceType", "Encounter"}, {"id", "enc1"}, {"status", "in-progress"}};
  auto put = [&](const json::object& b, header_list headers) {
    return fhir_write("PUT", "/ehr/ehr1/fhir/Encounter/enc1", b, t, std::move(headers));
  };

  auto r = put(body, {{"If-Match", "W/\"1\""}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "etag"), "W/\"2\"");
  EXPECT_EQ(version(body_json(r)), "2");
  EXPECT_EQ(str(body_json(r), "status"), "in-progress");
  EXPECT_EQ(str(last_fhir_entry(), "if_match"), "W/\"1\"");

  // A stale version: 412, nothing changes.
  body["status"] = "finished";
  r = put(body, {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(str(body_json(r), "resourceType"), "OperationOutcome");
  auto now = body_json(get("/control/ehr/ehr1/resources/Encounter/enc1"));
  EXPECT_EQ(version(now), "2");
  EXPECT_EQ(str(now, "status"), "in-progress");

  // The strong form is accepted; no If-Match is allowed by default.
  r = put(body, {{"If-Match", "\"2\""}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "etag"), "W/\"3\"");
  r = put(body, {});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "etag"), "W/\"4\"");
  EXPECT_TRUE(last_fhir_entry().at("if_match").is_null());
  auto again = get("/ehr/ehr1/fhir/Encounter/enc1", auth(t));
  EXPECT_EQ(header(again, "etag"), "W/\"4\"");

  // require_if_match: no If-Match is a 412.
  behave({{"require_if_match", true}});
  EXPECT_EQ(put(body, {}).status, 412);
  EXPECT_EQ(put(body, {{"If-Match", "W/\"4\""}}).status, 200);

  // Malformed requests are a 400.
  EXPECT_EQ(put(body, {{"If-Match", "5"}}).status, 400);
  auto other_id = body;
  other_id["id"] = "enc2";
  EXPECT_EQ(put(other_id, {{"If-Match", "W/\"5\""}}).status, 400);
  auto no_id = body;
  no_id.erase("id");
  EXPECT_EQ(put(no_id, {{"If-Match", "W/\"5\""}}).status, 400);
  auto other_type = body;
  other_type["resourceType"] = "Appointment";
  EXPECT_EQ(put(other_type, {{"If-Match", "W/\"5\""}}).status, 400);
  EXPECT_EQ(version(body_json(get("/control/ehr/ehr1/resources/Encounter/enc1"))), "5");
}

TEST_F(EhrFixture, UpdateAsCreateFollowsTheKnob) {
  auto t = system_token("system/Appointment.cruds");
  json::object body{{"resourceType", "Appointment"}, {"id", "appt9"}, {"status", "booked"}};
  auto r = fhir_write("PUT", "/ehr/ehr1/fhir/Appointment/appt9", body, t);
  ASSERT_EQ(r.status, 201) << r.body;  // update_create defaults to true
  EXPECT_EQ(header(r, "location"), fhir_base() + "/Appointment/appt9/_history/1");
  EXPECT_EQ(header(r, "etag"), "W/\"1\"");
  EXPECT_EQ(stored("Appointment").size(), 1u);
  // If-Match on a resource that does not exist cannot hold.
  body["id"] = "appt10";
  EXPECT_EQ(
    fhir_write("PUT", "/ehr/ehr1/fhir/Appointment/appt10", body, t, {{"If-Match", "W/\"1\""}})
      .status,
    412);

  behave({{"update_create", false}});
  body["id"] = "appt11";
  r = fhir_write("PUT", "/ehr/ehr1/fhir/Appointment/appt11", body, t);
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_EQ(str(body_json(r), "resourceType"), "OperationOutcome");
  EXPECT_EQ(stored("Appointment").size(), 1u);
  // Existing resources still update.
  body["id"] = "appt9";
  EXPECT_EQ(fhir_write("PUT", "/ehr/ehr1/fhir/Appointment/appt9", body, t).status, 200);
}

TEST_F(EhrFixture, SearchByTagAndId) {
  auto t = system_token("system/AuditEvent.cs");
  std::vector<std::string> ids;
  for (const auto& [system, code] : std::vector<std::pair<std::string, std::string>>{
         {visit_tag, "x"}, {visit_tag, "y"}, {"https://other.example", "x"}, {"", "z"}}) {
    auto r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(system, code), t);
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(str(body_json(r), "id"));
  }
  auto search = [&](const std::string& query) {
    auto r = get("/ehr/ehr1/fhir/AuditEvent" + query, auth(t));
    EXPECT_EQ(r.status, 200) << query << " -> " << r.body;
    return body_json(r);
  };
  auto b = search("?_tag=" + encode(std::string{visit_tag} + "|x"));
  EXPECT_EQ(str(b, "resourceType"), "Bundle");
  EXPECT_EQ(str(b, "type"), "searchset");
  EXPECT_EQ(b.at("total").as_int64(), 1);
  ASSERT_EQ(b.at("entry").as_array().size(), 1u);
  const auto& entry = b.at("entry").as_array()[0];
  EXPECT_EQ(str(entry, "fullUrl"), fhir_base() + "/AuditEvent/" + ids[0]);
  EXPECT_EQ(str(entry.at("resource"), "id"), ids[0]);
  EXPECT_EQ(search("?_tag=x").at("total").as_int64(), 2);
  EXPECT_EQ(
    search(std::string{"?_tag="} + visit_tag + "|x," + visit_tag + "|y").at("total").as_int64(), 2);
  EXPECT_EQ(search("?_tag=%7Cz").at("total").as_int64(), 1);  // "|z": no system
  EXPECT_EQ(search(std::string{"?_tag="} + visit_tag + "|").at("total").as_int64(), 2);
  EXPECT_EQ(search("?_id=" + ids[2]).at("total").as_int64(), 1);
  EXPECT_EQ(search("?_tag=x&_id=" + ids[1]).at("total").as_int64(), 0);
  EXPECT_EQ(search("").at("total").as_int64(), 4);
  EXPECT_EQ(search("?_tag=nothing").at("entry").as_array().size(), 0u);
  EXPECT_EQ(get("/ehr/ehr1/fhir/AuditEvent?_count=5", auth(t)).status, 400);
  EXPECT_EQ(get("/ehr/ehr1/fhir/AuditEvent?_tag:not=x", auth(t)).status, 400);
  // The control API lists them too.
  EXPECT_EQ(stored("AuditEvent").size(), 4u);
  EXPECT_EQ(stored("Encounter").size(), 0u);
  EXPECT_EQ(get("/control/ehr/ehr1/resources/bad_type").status, 400);
}

TEST_F(EhrFixture, WritesNeedWriteScopes) {
  put_resource("Encounter", "enc1");
  json::object encounter{{"resourceType", "Encounter"}, {"id", "enc1"}, {"status", "finished"}};
  // A read-only user token: 403 on create and update, nothing applied.
  auto read_only = user_token("user/Encounter.rs user/AuditEvent.rs");
  auto r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), read_only);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(str(body_json(r), "resourceType"), "OperationOutcome");
  EXPECT_EQ(fhir_write("PUT", "/ehr/ehr1/fhir/Encounter/enc1", encounter, read_only).status, 403);
  // A read-only system token: also 403.
  auto system_read = system_token("system/AuditEvent.rs");
  EXPECT_EQ(
    fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), system_read)
      .status,
    403);
  EXPECT_EQ(stored("AuditEvent").size(), 0u);
  EXPECT_EQ(str(body_json(get("/control/ehr/ehr1/resources/Encounter/enc1")), "status"), "planned");
  // No token: 401.
  EXPECT_EQ(
    c_->request("POST", "/ehr/ehr1/fhir/AuditEvent", json::serialize(audit_event(visit_tag, "a")),
                {{"Content-Type", "application/fhir+json"}})
      .status,
    401);
  // Create-only may create but not update or read; v1 .write may update.
  auto create_only = system_token("system/AuditEvent.c");
  r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), create_only);
  ASSERT_EQ(r.status, 201) << r.body;
  auto id = str(body_json(r), "id");
  EXPECT_EQ(get("/ehr/ehr1/fhir/AuditEvent/" + id, auth(create_only)).status, 403);
  EXPECT_EQ(get("/ehr/ehr1/fhir/AuditEvent?_id=" + id, auth(create_only)).status, 403);
  auto writer = user_token("user/Encounter.write");
  EXPECT_EQ(fhir_write("PUT", "/ehr/ehr1/fhir/Encounter/enc1", encounter, writer).status, 200);
}

// -- outage and failure knobs ------------------------------------------------------------------

TEST_F(EhrFixture, FhirStatusAnswersEveryWriteAndAppliesNothing) {
  put_resource("Encounter", "enc1");
  auto t = system_token("system/Encounter.cruds system/AuditEvent.cruds");
  json::object encounter{{"resourceType", "Encounter"}, {"id", "enc1"}, {"status", "finished"}};
  behave({{"fhir_status", 503}, {"retry_after_seconds", 7}});
  auto r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), t);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(str(body_json(r), "resourceType"), "OperationOutcome");
  EXPECT_EQ(header(r, "retry-after"), "7");
  EXPECT_EQ(str(last_fhir_entry(), "behaviour"), "fhir_status");
  r = fhir_write("PUT", "/ehr/ehr1/fhir/Encounter/enc1", encounter, t, {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(str(last_fhir_entry(), "if_match"), "W/\"1\"");
  r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), t,
                 {{"If-None-Exist", "_tag=a"}});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(str(last_fhir_entry(), "if_none_exist"), "_tag=a");
  // Reads and metadata are not affected.
  EXPECT_EQ(get("/ehr/ehr1/fhir/Encounter/enc1", auth(t)).status, 200);
  EXPECT_EQ(get("/ehr/ehr1/fhir/metadata").status, 200);
  EXPECT_EQ(stored("AuditEvent").size(), 0u);
  EXPECT_EQ(str(body_json(get("/control/ehr/ehr1/resources/Encounter/enc1")), "status"), "planned");

  behave({{"fhir_status", 429}});
  r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), t);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(header(r, "retry-after"), "7");
  behave({{"fhir_status", 400}});
  r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), t);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.headers.count("retry-after"), 0u);
  behave({{"fhir_status", 503}, {"retry_after_seconds", 0}});
  r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), t);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers.count("retry-after"), 0u);
  EXPECT_EQ(stored("AuditEvent").size(), 0u);

  behave({{"fhir_status", 0}});
  EXPECT_EQ(fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), t).status,
            201);
}

TEST_F(EhrFixture, FhirDelayAppliesTheWriteWhenTheDelayEnds) {
  put_resource("Encounter", "enc1");
  auto t = system_token("system/Encounter.rs system/AuditEvent.cruds");
  behave({{"fhir_delay_ms", 1200}});
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  http_reply delayed;
  std::string error;
  std::thread writer{[&] {
    try {
      tls_connection other{ehr_->client()};
      delayed =
        fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), t, {}, &other);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }};
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  // Meanwhile the fixture answers other requests at once, and the write is not applied yet.
  auto during = stored("AuditEvent").size();
  auto metadata = get("/ehr/ehr1/fhir/metadata");  // metadata is never delayed
  auto answered_by = clock::now() - start;
  writer.join();
  auto total = clock::now() - start;
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(during, 0u);
  EXPECT_EQ(metadata.status, 200);
  EXPECT_LT(answered_by, std::chrono::milliseconds{1000});
  EXPECT_EQ(delayed.status, 201) << delayed.body;
  EXPECT_GE(total, std::chrono::milliseconds{1200});
  EXPECT_EQ(stored("AuditEvent").size(), 1u);
  EXPECT_EQ(last_fhir_entry().at("delay_ms").as_int64(), 1200);

  // Reads are delayed too.
  behave({{"fhir_delay_ms", 500}});
  start = clock::now();
  EXPECT_EQ(get("/ehr/ehr1/fhir/Encounter/enc1", auth(t)).status, 200);
  EXPECT_GE(clock::now() - start, std::chrono::milliseconds{500});
}

TEST_F(EhrFixture, ShutdownWithADelayedRequestPendingIsClean) {
  auto t = system_token("system/AuditEvent.c");
  behave({{"fhir_delay_ms", 10000}});
  tls_connection waiting{ehr_->client()};
  ASSERT_TRUE(
    waiting.send("POST /ehr/ehr1/fhir/AuditEvent HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer " +
                 t + "\r\nContent-Type: application/fhir+json\r\nContent-Length: 2\r\n\r\n{}"));
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  EXPECT_EQ(stored("AuditEvent").size(), 0u);
  // TearDown: SIGTERM while the timer is pending must still exit 0 (and clean under ASan).
}

TEST_F(EhrFixture, FailAfterApplyAppliesThenAnswers500) {
  put_resource("Encounter", "enc1");
  auto t = system_token("system/Encounter.cruds system/AuditEvent.cruds");
  behave({{"fail_after_apply", 2}});
  auto r = fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"), t);
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(str(body_json(r), "resourceType"), "OperationOutcome");
  EXPECT_EQ(stored("AuditEvent").size(), 1u);  // applied all the same
  auto entry = last_fhir_entry();
  EXPECT_EQ(str(entry, "behaviour"), "fail_after_apply");
  EXPECT_EQ(entry.at("applied_status").as_int64(), 201);
  json::object encounter{{"resourceType", "Encounter"}, {"id", "enc1"}, {"status", "finished"}};
  r = fhir_write("PUT", "/ehr/ehr1/fhir/Encounter/enc1", encounter, t, {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(r.status, 500);
  auto now = body_json(get("/control/ehr/ehr1/resources/Encounter/enc1"));
  EXPECT_EQ(version(now), "2");
  EXPECT_EQ(str(now, "status"), "finished");
  EXPECT_EQ(body_json(get("/control/ehr/ehr1/behaviour")).at("fail_after_apply").as_int64(), 0);
  // A retry of the update with the old version now sees the conflict; the next write is normal.
  EXPECT_EQ(
    fhir_write("PUT", "/ehr/ehr1/fhir/Encounter/enc1", encounter, t, {{"If-Match", "W/\"1\""}})
      .status,
    412);
  EXPECT_EQ(fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "b"), t).status,
            201);

  // Refused writes and reads do not use up the count.
  behave({{"fail_after_apply", 1}});
  EXPECT_EQ(
    fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", {{"resourceType", "Patient"}}, t).status, 400);
  EXPECT_EQ(get("/ehr/ehr1/fhir/Encounter/enc1", auth(t)).status, 200);
  EXPECT_EQ(fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "c"), t).status,
            500);
  EXPECT_EQ(stored("AuditEvent").size(), 3u);
}

TEST_F(EhrFixture, RefuseConnectionsClosesWithoutAnAnswer) {
  std::signal(SIGPIPE, SIG_IGN);  // the test client may write to a connection the fixture closed
  auto t = system_token("system/AuditEvent.cruds");
  behave({{"refuse_connections", true}});
  {
    tls_connection doomed{ehr_->client()};
    EXPECT_THROW((void)doomed.request("GET", "/ehr/ehr1/fhir/metadata"), std::runtime_error);
  }
  {
    tls_connection doomed{ehr_->client()};
    EXPECT_THROW((void)fhir_write("POST", "/ehr/ehr1/fhir/AuditEvent", audit_event(visit_tag, "a"),
                                  t, {}, &doomed),
                 std::runtime_error);
  }
  {
    tls_connection doomed{ehr_->client()};
    ASSERT_TRUE(doomed.send("GET /ehr/ehr1/fhir/AuditEvent HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(doomed.closed_within(std::chrono::seconds{2}));
  }
  // The control API, discovery and the token endpoint still answer; nothing was applied.
  EXPECT_EQ(stored("AuditEvent").size(), 0u);
  EXPECT_EQ(get("/ehr/ehr1/fhir/.well-known/smart-configuration").status, 200);
  EXPECT_FALSE(system_token("system/AuditEvent.rs").empty());
  EXPECT_EQ(str(last_fhir_entry(), "outcome"), "dropped");
  behave({{"refuse_connections", false}});
  EXPECT_EQ(get("/ehr/ehr1/fhir/metadata").status, 200);
}

TEST_F(EhrFixture, TokenStatusFailsClientCredentials) {
  auto key = client_key::es384("es-1");
  register_confidential(key);
  params p{{"grant_type", "client_credentials"}, {"scope", "system/AuditEvent.c"}};
  behave({{"token_status", 503}, {"retry_after_seconds", 2}});
  auto assertion = key.sign(assertion_claims("backend"));
  auto r = token(with_assertion(p, assertion));
  expect_oauth_error(r, 503, "temporarily_unavailable");
  EXPECT_EQ(header(r, "retry-after"), "2");
  behave({{"token_status", 401}});
  expect_oauth_error(token(with_assertion(p, assertion)), 401, "invalid_client");
  behave({{"token_status", 400}});
  expect_oauth_error(token(with_assertion(p, assertion)), 400, "invalid_request");
  // Authorization-code grants are not affected.
  register_public();
  EXPECT_EQ(token(code_exchange(code_for(authorize_params("openid")))).status, 200);
  // The refused requests did not spend the assertion.
  behave({{"token_status", 0}});
  EXPECT_EQ(token(with_assertion(p, assertion)).status, 200);
}

TEST_F(EhrFixture, FailureKnobsAreValidatedAndReported) {
  auto knobs = body_json(get("/control/ehr/ehr1/behaviour"));
  EXPECT_TRUE(knobs.at("update_create").as_bool());
  EXPECT_TRUE(knobs.at("conditional_create").as_bool());
  EXPECT_FALSE(knobs.at("require_if_match").as_bool());
  EXPECT_FALSE(knobs.at("refuse_connections").as_bool());
  for (const char* zero :
       {"fhir_status", "retry_after_seconds", "fhir_delay_ms", "fail_after_apply", "token_status"})
    EXPECT_EQ(knobs.at(zero).as_int64(), 0) << zero;
  for (const char* bad :
       {R"({"fhir_status":200})", R"({"fhir_status":600})", R"({"fhir_status":"503"})",
        R"({"token_status":302})", R"({"retry_after_seconds":-1})", R"({"fhir_delay_ms":60001})",
        R"({"fhir_delay_ms":1.5})", R"({"fail_after_apply":-2})", R"({"refuse_connections":1})",
        R"({"conditional_create":"no"})", R"({"require_if_match":null})",
        R"({"fhir_status":503,"token_status":1})"}) {
    auto r = c_->request("POST", "/control/ehr/ehr1/behaviour", bad,
                         {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 400) << bad;
  }
  EXPECT_EQ(body_json(get("/control/ehr/ehr1/behaviour")), knobs);  // nothing changed
  behave({{"fhir_status", 503},
          {"retry_after_seconds", 30},
          {"fhir_delay_ms", 10},
          {"fail_after_apply", 3},
          {"refuse_connections", true},
          {"token_status", 429},
          {"require_if_match", true},
          {"conditional_create", false}});
  knobs = body_json(get("/control/ehr/ehr1/behaviour"));
  EXPECT_EQ(knobs.at("fhir_status").as_int64(), 503);
  EXPECT_EQ(knobs.at("retry_after_seconds").as_int64(), 30);
  EXPECT_EQ(knobs.at("fhir_delay_ms").as_int64(), 10);
  EXPECT_EQ(knobs.at("fail_after_apply").as_int64(), 3);
  EXPECT_TRUE(knobs.at("refuse_connections").as_bool());
  EXPECT_EQ(knobs.at("token_status").as_int64(), 429);
  EXPECT_TRUE(knobs.at("require_if_match").as_bool());
  EXPECT_FALSE(knobs.at("conditional_create").as_bool());
  // Knobs are per EHR.
  EXPECT_EQ(body_json(get("/control/ehr/ehr2/behaviour")).at("fhir_status").as_int64(), 0);
  // Control PUTs keep a given decimal versionId and refuse others.
  auto r = send_json("PUT", "/control/ehr/ehr1/resources/Encounter/enc7",
                     {{"resourceType", "Encounter"}, {"meta", json::object{{"versionId", "7"}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(version(body_json(r)), "7");
  EXPECT_EQ(send_json("PUT", "/control/ehr/ehr1/resources/Encounter/enc8",
                      {{"resourceType", "Encounter"}, {"meta", json::object{{"versionId", "v1"}}}})
              .status,
            400);
  EXPECT_EQ(send_json("PUT", "/control/ehr/ehr1/resources/Encounter/enc8",
                      {{"resourceType", "Encounter"}, {"meta", "x"}})
              .status,
            400);
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
  const std::string with_assertion_prefix =
    "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
    "assertion-type%3Ajwt-bearer&client_assertion=";
  std::vector<std::string> bodies{
    "%zz",
    "grant_type=authorization_code&grant_type=client_credentials",
    with_assertion_prefix + "a.b.c",
    with_assertion_prefix + "..",
    with_assertion_prefix + "e30.e30.",
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
      raw.raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(std::size_t{64} * 1024, 'a') +
              "\r\n\r\n");
    EXPECT_EQ(r.status, 400);
  }
  // Plain TCP instead of TLS: the handshake fails and the fixture carries on.
  (void)plain_tcp_exchange("127.0.0.1", ehr_->port(), "GET / HTTP/1.1\r\n\r\n");

  tls_connection fresh{ehr_->client()};
  EXPECT_EQ(fresh.request("GET", "/ehr/ehr1/fhir/.well-known/smart-configuration").status, 200);
}

}  // namespace
