// The SMART authorization server of one test EHR: discovery, the authorization endpoint
// (auto-consent) and the token endpoint, written from SMART App Launch 2.x, RFC 6749, RFC 7636
// (PKCE) and RFC 7523 / SMART Backend Services (private_key_jwt).

#include "ehr_state.hpp"
#include "form.hpp"
#include "url_fetch.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <set>

namespace visitd::test_ehr {

namespace {

constexpr std::string_view jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr std::int64_t access_token_seconds = 3600;
constexpr std::int64_t id_token_seconds = 300;
constexpr std::int64_t max_assertion_lifetime = 300;  // SMART: exp no more than 5 min ahead

// -- scopes -------------------------------------------------------------------

struct clinical_scope {
  std::string_view context;      // patient | user | system
  std::string_view type;         // a resource type or "*"
  std::string_view permissions;  // read | write | * | a non-empty ordered subset of "cruds"
};

std::optional<clinical_scope> parse_clinical(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  clinical_scope out;
  out.context = s.substr(0, slash);
  if (out.context != "patient" && out.context != "user" && out.context != "system")
    return std::nullopt;
  auto rest = s.substr(slash + 1);
  if (auto q = rest.find('?'); q != std::string_view::npos) rest = rest.substr(0, q);  // v2 query
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  out.type = rest.substr(0, dot);
  out.permissions = rest.substr(dot + 1);
  if (out.type != "*" && !is_resource_type(out.type)) return std::nullopt;
  if (out.permissions == "read" || out.permissions == "write" || out.permissions == "*") return out;
  // SMART v2: c, r, u, d, s in this order, each at most once.
  std::string_view order = "cruds";
  std::size_t at = 0;
  for (char c : out.permissions) {
    auto pos = order.find(c, at);
    if (pos == std::string_view::npos) return std::nullopt;
    at = pos + 1;
  }
  if (out.permissions.empty()) return std::nullopt;
  return out;
}

std::vector<std::string> split_scope(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto space = text.find(' ');
    auto token = text.substr(0, space);
    if (!token.empty() && std::find(out.begin(), out.end(), token) == out.end())
      out.emplace_back(token);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
  }
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

/// What an authorization-code grant may get: launch and identity scopes and patient/ or user/
/// clinical scopes. Refresh tokens are never issued, so offline_access/online_access are dropped,
/// as are system/ scopes and anything unknown (RFC 6749 §3.3 lets the server narrow the scope).
std::vector<std::string> grantable_user_scopes(std::string_view requested) {
  static const std::set<std::string_view> identity{"launch", "launch/patient", "launch/encounter",
                                                   "openid", "fhirUser",       "profile"};
  std::vector<std::string> out;
  for (auto& s : split_scope(requested)) {
    auto clinical = parse_clinical(s);
    if (identity.count(s) || (clinical && clinical->context != "system")) out.push_back(s);
  }
  return out;
}

/// What a client-credentials grant may get: system/ clinical scopes only.
std::vector<std::string> grantable_system_scopes(std::string_view requested) {
  std::vector<std::string> out;
  for (auto& s : split_scope(requested)) {
    auto clinical = parse_clinical(s);
    if (clinical && clinical->context == "system") out.push_back(s);
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out.push_back(' ');
    out.append(s);
  }
  return out;
}

// -- PKCE ---------------------------------------------------------------------

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/// RFC 7636 §4.1: 43–128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
bool is_code_verifier(std::string_view v) {
  return v.size() >= 43 && v.size() <= 128 && std::all_of(v.begin(), v.end(), is_unreserved);
}

/// An S256 challenge is BASE64URL of 32 bytes: exactly 43 base64url characters.
bool is_s256_challenge(std::string_view c) {
  return c.size() == 43 && base64url_decode(c).has_value();
}

// -- client assertions (RFC 7523, SMART Backend Services) ---------------------

std::optional<std::int64_t> number_member(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double() && v->get_double() > -9e18 && v->get_double() < 9e18)
    return static_cast<std::int64_t>(v->get_double());
  return std::nullopt;
}

/// Checks a parsed assertion against the client's JWK Set; records its jti on success. Returns
/// an empty string on success, else why not.
std::string check_assertion(ehr_state& ehr, client_registration& client, const compact_jws& jws,
                            const json::value& jwk_set) {
  auto alg = string_member(jws.header, "alg");
  if (alg != std::optional<std::string>{"RS384"} && alg != std::optional<std::string>{"ES384"})
    return "client_assertion alg must be RS384 or ES384";
  if (string_member(jws.header, "typ") != std::optional<std::string>{"JWT"})
    return "client_assertion header typ must be JWT";
  auto kid = string_member(jws.header, "kid");
  if (!kid || kid->empty()) return "client_assertion header has no kid";
  if (jws.header.contains("crit")) return "client_assertion header crit is not supported";
  if (auto jku = jws.header.if_contains("jku")) {
    if (!jku->is_string() || client.jwks_url.empty() || jku->get_string() != client.jwks_url)
      return "client_assertion jku does not match the registered jwks_url";
  }

  const json::array* keys = nullptr;
  if (jwk_set.is_object())
    if (auto* k = jwk_set.as_object().if_contains("keys"); k && k->is_array())
      keys = &k->as_array();
  if (!keys) return "the client's JWK Set has no keys array";
  std::string why = "no key in the client's JWK Set has kid " + *kid;
  bool verified = false;
  for (const auto& key : *keys) {
    if (!key.is_object()) continue;
    const auto& jwk = key.as_object();
    if (string_member(jwk, "kid") != kid) continue;
    if (auto key_alg = string_member(jwk, "alg"); key_alg && key_alg != alg) {
      why = "the key with kid " + *kid + " is for alg " + *key_alg;
      continue;
    }
    if (auto use = string_member(jwk, "use"); use && *use != "sig") {
      why = "the key with kid " + *kid + " is not a signing key";
      continue;
    }
    std::string reason;
    if (verify_jws_signature(jwk, *alg, jws.signing_input, jws.signature, reason)) {
      verified = true;
      break;
    }
    why = "client_assertion: " + reason;
  }
  if (!verified) return why;

  const auto& claims = jws.claims;
  if (string_member(claims, "iss") != client.client_id)
    return "client_assertion iss is not the client_id";
  if (string_member(claims, "sub") != client.client_id)
    return "client_assertion sub is not the client_id";
  bool aud_ok = false;
  if (auto* aud = claims.if_contains("aud")) {
    if (aud->is_string()) aud_ok = aud->get_string() == ehr.token_endpoint();
    if (aud->is_array())
      for (const auto& a : aud->as_array())
        aud_ok = aud_ok || (a.is_string() && a.get_string() == ehr.token_endpoint());
  }
  if (!aud_ok) return "client_assertion aud is not the token endpoint " + ehr.token_endpoint();
  auto now = unix_now();
  auto exp = number_member(claims, "exp");
  if (!exp) return "client_assertion has no numeric exp";
  if (*exp <= now) return "client_assertion expired";
  if (*exp > now + max_assertion_lifetime)
    return "client_assertion exp is more than 5 minutes ahead";
  if (claims.contains("nbf")) {
    auto nbf = number_member(claims, "nbf");
    if (!nbf || *nbf > now) return "client_assertion is not valid yet (nbf)";
  }
  auto jti = string_member(claims, "jti");
  if (!jti || jti->empty() || jti->size() > 256) return "client_assertion has no usable jti";
  if (client.seen_jti.count(*jti)) return "client_assertion jti was already used (replay)";
  client.seen_jti.emplace(*jti, *exp);
  return {};
}

// -- token issuance -----------------------------------------------------------

/// behaviour token_status: an RFC 6749 §5.2 error body with that status.
http_response simulated_token_error(const behaviour& knobs) {
  auto status = knobs.token_status;
  auto error = status == 400   ? "invalid_request"
               : status == 401 ? "invalid_client"
               : status == 403 ? "unauthorized_client"
                               : "temporarily_unavailable";
  auto r =
    oauth_error(error, "simulated failure (behaviour token_status=" + std::to_string(status) + ")");
  r.status = status;
  if (knobs.retry_after_seconds > 0 && (status == 429 || status == 503))
    r.headers.emplace_back("Retry-After", std::to_string(knobs.retry_after_seconds));
  return r;
}

http_response token_success(json::object body) {
  auto r = json_response(200, std::move(body));
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Pragma", "no-cache");
  return r;
}

std::string id_part(std::string_view reference) {
  auto slash = reference.find('/');
  return std::string{slash == std::string_view::npos ? reference : reference.substr(slash + 1)};
}

std::string make_id_token(const ehr_state& ehr, const fixture_services& services,
                          const std::string& client_id, const code_record& code) {
  const auto& mode = ehr.knobs.id_token;
  auto now = unix_now();
  json::object claims{{"iss", mode == "wrong_iss" ? ehr.base + "/not-fhir" : ehr.fhir_base()},
                      {"sub", id_part(code.context.fhir_user)},
                      {"aud", mode == "wrong_aud" ? client_id + "-other" : client_id},
                      {"iat", mode == "expired" ? now - 2 * id_token_seconds : now},
                      {"exp", mode == "expired" ? now - id_token_seconds : now + id_token_seconds}};
  if (mode == "wrong_nonce")
    claims["nonce"] = code.nonce.empty() ? std::string{"unexpected-nonce"} : "not-" + code.nonce;
  else if (!code.nonce.empty())
    claims["nonce"] = code.nonce;
  if (contains(code.scopes, "fhirUser") || contains(code.scopes, "profile"))
    claims["fhirUser"] = ehr.fhir_base() + "/" + code.context.fhir_user;
  return services.key->sign_jwt(claims, mode == "unknown_kid" ? "unknown-kid" : "",
                                mode == "tamper");
}

/// The token request after client authentication.
struct token_call {
  ehr_state& ehr;
  const fixture_services& services;
  form_params params;
  std::string client_id;
  bool authenticated = false;  // by a verified assertion (confidential client)
  json::object entry;
  reply_fn reply;

  void finish(http_response response) {
    entry["status"] = response.status;
    if (response.status == 200) {
      entry["outcome"] = "ok";
    } else {
      entry["outcome"] = "error";
      if (auto body = parse_json(response.body); body && body->is_object()) {
        if (auto e = string_member(body->as_object(), "error")) entry["error"] = *e;
        if (auto d = string_member(body->as_object(), "error_description"))
          entry["error_description"] = *d;
      }
    }
    ehr.record(std::move(entry));
    reply(std::move(response));
  }

  void fail(const std::string& error, const std::string& description) {
    finish(oauth_error(error, description));
  }

  void grant() {
    auto grant_type = *form_value(params, "grant_type");
    if (grant_type == "authorization_code")
      exchange_code();
    else
      client_credentials();
  }

  void exchange_code() {
    auto code_value = form_value(params, "code");
    if (!code_value || code_value->empty()) return fail("invalid_request", "code is missing");
    auto it = ehr.codes.find(*code_value);
    if (it == ehr.codes.end()) return fail("invalid_grant", "unknown authorization code");
    auto& code = it->second;
    if (code.used) {
      // RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
      std::int64_t revoked = 0;
      for (const auto& t : code.issued_tokens)
        if (auto found = ehr.tokens.find(t); found != ehr.tokens.end() && !found->second.revoked) {
          found->second.revoked = true;
          ++revoked;
        }
      entry["revoked_tokens"] = revoked;
      return fail("invalid_grant", "authorization code already used; its tokens are revoked");
    }
    if (steady::now() >= code.expires) return fail("invalid_grant", "authorization code expired");
    if (code.client_id != client_id)
      return fail("invalid_grant", "authorization code was issued to another client");
    auto redirect_uri = form_value(params, "redirect_uri");
    if (!redirect_uri) return fail("invalid_request", "redirect_uri is missing");
    if (*redirect_uri != code.redirect_uri)
      return fail("invalid_grant", "redirect_uri differs from the authorization request");
    auto verifier = form_value(params, "code_verifier");
    if (!verifier) return fail("invalid_request", "code_verifier is missing");
    if (!is_code_verifier(*verifier))
      return fail("invalid_request", "code_verifier must be 43-128 unreserved characters");
    if (base64url_encode(sha256(*verifier)) != code.code_challenge)
      return fail("invalid_grant", "code_verifier does not match the code_challenge");

    code.used = true;
    auto access_token = random_urlsafe(32);
    ehr.tokens[access_token] = {client_id, code.scopes, code.context,
                                steady::now() + std::chrono::seconds{access_token_seconds}, false};
    code.issued_tokens.push_back(access_token);

    json::object body{{"access_token", access_token},
                      {"token_type", "Bearer"},
                      {"expires_in", access_token_seconds},
                      {"scope", join(code.scopes)}};
    if (!code.context.patient.empty()) body["patient"] = code.context.patient;
    if (!code.context.encounter.empty()) body["encounter"] = code.context.encounter;
    if (!code.context.appointment.empty()) {
      std::string reference = "Appointment/";
      reference.append(code.context.appointment);
      body["fhirContext"] = json::array{json::object{{"reference", reference}}};
    }
    body["need_patient_banner"] = false;
    if (contains(code.scopes, "openid") && !code.context.fhir_user.empty())
      body["id_token"] = make_id_token(ehr, services, client_id, code);
    entry["scope"] = join(code.scopes);
    finish(token_success(std::move(body)));
  }

  void client_credentials() {
    if (!authenticated)
      return fail("invalid_client", "client_credentials needs a confidential client's assertion");
    auto scope = form_value(params, "scope");
    if (!scope || scope->empty()) return fail("invalid_scope", "scope is required");
    auto granted = grantable_system_scopes(*scope);
    if (granted.empty()) return fail("invalid_scope", "no grantable system/ scope requested");
    auto access_token = random_urlsafe(32);
    ehr.tokens[access_token] = {
      client_id, granted, {}, steady::now() + std::chrono::seconds{access_token_seconds}, false};
    entry["scope"] = join(granted);
    finish(token_success({{"access_token", access_token},
                          {"token_type", "Bearer"},
                          {"expires_in", access_token_seconds},
                          {"scope", join(granted)}}));
  }

  /// Verifies the assertion against `jwk_set` (inline or just fetched), then grants.
  void authenticate_with(const compact_jws& jws, const json::value& jwk_set) {
    auto client = ehr.clients.find(client_id);
    if (client == ehr.clients.end() || !client->second.confidential)
      return fail("invalid_client", "unknown confidential client");
    auto why = check_assertion(ehr, client->second, jws, jwk_set);
    if (!why.empty()) return fail("invalid_client", why);
    authenticated = true;
    grant();
  }
};

}  // namespace

bool scopes_permit(const std::vector<std::string>& scopes, std::string_view type,
                   char interaction) {
  for (const auto& s : scopes) {
    auto c = parse_clinical(s);
    if (!c || (c->type != "*" && c->type != type)) continue;
    if (c->permissions == "*") return true;
    if (c->permissions == "read" && (interaction == 'r' || interaction == 's')) return true;
    if (c->permissions == "write" &&
        (interaction == 'c' || interaction == 'u' || interaction == 'd'))
      return true;
    if (c->permissions != "read" && c->permissions != "write" &&
        c->permissions.find(interaction) != std::string_view::npos)
      return true;
  }
  return false;
}

// -- discovery ------------------------------------------------------------------

http_response smart_configuration(const ehr_state& ehr) {
  const auto& mode = ehr.knobs.smart_configuration;
  if (mode == "missing") return json_response(404, json::object{{"error", "not_found"}});
  if (mode == "bad_json") {
    http_response r;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = R"({"issuer": ")";
    r.body.append(ehr.fhir_base()).append(R"(", "token_endpoint": )");  // truncated on purpose
    return r;
  }
  json::object config{
    {"issuer", ehr.fhir_base()},
    {"jwks_uri", ehr.jwks_uri()},
    {"authorization_endpoint", ehr.authorize_endpoint()},
    {"token_endpoint", ehr.token_endpoint()},
    {"grant_types_supported", json::array{"authorization_code", "client_credentials"}},
    {"token_endpoint_auth_methods_supported", json::array{"private_key_jwt"}},
    {"token_endpoint_auth_signing_alg_values_supported", json::array{"RS384", "ES384"}},
    {"scopes_supported", json::array{"openid", "fhirUser", "launch", "launch/patient",
                                     "launch/encounter", "patient/*.rs", "user/*.rs", "system/*.rs",
                                     "patient/*.read", "user/*.read", "system/*.read"}},
    {"response_types_supported", json::array{"code"}},
    {"capabilities",
     json::array{"launch-ehr", "launch-standalone", "client-public",
                 "client-confidential-asymmetric", "context-ehr-patient", "context-ehr-encounter",
                 "context-standalone-patient", "sso-openid-connect", "permission-patient",
                 "permission-user", "permission-v2"}}};
  if (mode == "plain_only")
    config["code_challenge_methods_supported"] = json::array{"plain"};
  else if (mode != "no_s256")
    config["code_challenge_methods_supported"] = json::array{"S256"};
  return json_response(200, config);
}

http_response jwks(const fixture_services& services) {
  return json_response(200, json::object{{"keys", json::array{services.key->public_jwk()}}});
}

// -- authorization endpoint -----------------------------------------------------

http_response authorize(ehr_state& ehr, const http_request& request, std::string_view raw_params) {
  json::object entry{{"endpoint", "authorize"}, {"method", request.method}};
  // Problems with client_id or redirect_uri: tell the user, never redirect (RFC 6749 §4.1.2.1).
  auto page = [&](const std::string& error, const std::string& description) {
    entry["outcome"] = "error_page";
    entry["status"] = 400;
    entry["error"] = error;
    entry["error_description"] = description;
    ehr.record(std::move(entry));
    return json_response(400, json::object{{"error", error}, {"error_description", description}});
  };

  auto params = decode_form(raw_params);
  if (!params) return page("invalid_request", "malformed authorization request parameters");
  for (const char* name : {"client_id", "redirect_uri"})
    if (std::count_if(params->begin(), params->end(),
                      [&](const auto& p) { return p.first == name; }) > 1)
      return page("invalid_request", std::string{name} + " appears more than once");
  auto repeated = repeated_name(*params);
  auto client_id = form_value(*params, "client_id");
  if (!client_id || client_id->empty()) return page("invalid_request", "client_id is missing");
  entry["client_id"] = *client_id;
  auto client = ehr.clients.find(*client_id);
  if (client == ehr.clients.end()) return page("invalid_client", "unknown client_id");
  auto redirect_uri = form_value(*params, "redirect_uri");
  if (!redirect_uri) return page("invalid_request", "redirect_uri is missing");
  const auto& registered = client->second.redirect_uris;
  if (std::find(registered.begin(), registered.end(), *redirect_uri) == registered.end())
    return page("invalid_request", "redirect_uri is not registered for this client");

  auto state = form_value(*params, "state");
  auto redirect = [&](const form_params& out) {
    std::string location = *redirect_uri;
    location.push_back(location.find('?') == std::string::npos ? '?' : '&');
    bool first = true;
    for (const auto& [name, value] : out) {
      if (!first) location.push_back('&');
      first = false;
      location.append(encode_component(name)).append("=").append(encode_component(value));
    }
    http_response r;
    r.status = 302;
    r.headers.emplace_back("Location", location);
    r.headers.emplace_back("Cache-Control", "no-store");
    entry["status"] = 302;
    ehr.record(std::move(entry));
    return r;
  };
  auto fail = [&](const std::string& error, const std::string& description) {
    entry["outcome"] = "redirect_error";
    entry["error"] = error;
    entry["error_description"] = description;
    form_params out{{"error", error}, {"error_description", description}};
    if (state && !state->empty()) out.emplace_back("state", *state);
    return redirect(out);
  };

  if (!repeated.empty()) return fail("invalid_request", repeated + " appears more than once");
  auto response_type = form_value(*params, "response_type");
  if (!response_type) return fail("invalid_request", "response_type is missing");
  if (*response_type != "code")
    return fail("unsupported_response_type", "only response_type=code is supported");
  if (!state || state->empty()) return fail("invalid_request", "state is missing");
  auto challenge = form_value(*params, "code_challenge");
  if (!challenge) return fail("invalid_request", "code_challenge is missing (PKCE is required)");
  if (form_value(*params, "code_challenge_method") != std::optional<std::string>{"S256"})
    return fail("invalid_request", "code_challenge_method must be S256");
  if (!is_s256_challenge(*challenge))
    return fail("invalid_request", "code_challenge is not a base64url SHA-256 (43 characters)");
  auto aud = form_value(*params, "aud");
  if (!aud) return fail("invalid_request", "aud is missing");
  if (*aud != ehr.fhir_base())
    return fail("invalid_request", "aud is not this FHIR server's base URL");
  auto scope = form_value(*params, "scope");
  if (!scope || scope->empty()) return fail("invalid_scope", "scope is missing");
  auto scopes = grantable_user_scopes(*scope);
  if (scopes.empty()) return fail("invalid_scope", "no grantable scope requested");

  auto launch_id = form_value(*params, "launch");
  const launch_record* launch = nullptr;
  if (launch_id) {
    auto found = ehr.launches.find(*launch_id);
    if (found == ehr.launches.end() || steady::now() >= found->second.expires)
      return fail("invalid_request", "unknown or expired launch");
    launch = &found->second;
  }
  bool ehr_launch = contains(scopes, "launch");
  if (ehr_launch && !launch)
    return fail("invalid_request", "scope launch without a launch parameter");

  launch_context context;
  if (ehr_launch) {
    context = launch->context;
  } else {
    context.fhir_user = launch ? launch->context.fhir_user : ehr.knobs.user;
    if (contains(scopes, "launch/patient")) context.patient = ehr.knobs.patient;
  }
  if (ehr.knobs.authorize == "deny")
    return fail("access_denied", "the user denied access (behaviour authorize=deny)");

  auto code = random_urlsafe(32);
  auto ttl = std::chrono::seconds{ehr.knobs.code_ttl_seconds};
  ehr.codes[code] = code_record{
    *client_id, *redirect_uri, *challenge,          form_value(*params, "nonce").value_or(""),
    scopes,     context,       steady::now() + ttl, false,
    {}};
  entry["outcome"] = "code";
  entry["scope"] = join(scopes);
  entry["launch"] = launch_id ? json::value(*launch_id) : json::value(nullptr);
  return redirect({{"code", code}, {"state", *state}});
}

// -- token endpoint -------------------------------------------------------------

void token(ehr_state& ehr, const fixture_services& services, const http_request& request,
           reply_fn reply) {
  auto call = std::make_shared<token_call>(token_call{
    ehr, services, {}, {}, false, json::object{{"endpoint", "token"}}, std::move(reply)});
  if (request.method != "POST") {
    auto r = oauth_error("invalid_request", "the token endpoint takes POST only");
    r.status = 405;
    r.headers.emplace_back("Allow", "POST");
    return call->finish(std::move(r));
  }
  auto content_type = request.header("content-type");
  auto media = content_type.substr(0, content_type.find(';'));
  media.erase(media.find_last_not_of(" \t") + 1);
  std::transform(media.begin(), media.end(), media.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (media != "application/x-www-form-urlencoded")
    return call->fail("invalid_request", "Content-Type must be application/x-www-form-urlencoded");
  auto params = decode_form(request.body);
  if (!params) return call->fail("invalid_request", "malformed form body");
  call->params = std::move(*params);
  const auto& p = call->params;
  if (auto repeated = repeated_name(p); !repeated.empty())
    return call->fail("invalid_request", repeated + " appears more than once");
  auto grant_type = form_value(p, "grant_type");
  if (!grant_type) return call->fail("invalid_request", "grant_type is missing");
  call->entry["grant_type"] = *grant_type;
  if (*grant_type != "authorization_code" && *grant_type != "client_credentials")
    return call->fail("unsupported_grant_type", "grant_type " + *grant_type + " is not supported");
  if (*grant_type == "client_credentials" && ehr.knobs.token_status != 0) {
    // behaviour token_status: an outage of the token endpoint, before client authentication (so
    // the assertion's jti is not spent and a retry with it would still pass).
    call->entry["behaviour"] = "token_status";
    return call->finish(simulated_token_error(ehr.knobs));
  }

  auto assertion_type = form_value(p, "client_assertion_type");
  auto assertion = form_value(p, "client_assertion");
  auto client_id = form_value(p, "client_id");
  if (!assertion_type && !assertion) {
    // A public client identifies itself with client_id only.
    call->entry["client_auth"] = "none";
    if (!client_id || client_id->empty())
      return call->fail("invalid_client", "no client authentication and no client_id");
    call->entry["client_id"] = *client_id;
    auto client = ehr.clients.find(*client_id);
    if (client == ehr.clients.end()) return call->fail("invalid_client", "unknown client_id");
    if (client->second.confidential)
      return call->fail("invalid_client", "a confidential client must send a client_assertion");
    call->client_id = *client_id;
    return call->grant();
  }

  call->entry["client_auth"] = "private_key_jwt";
  if (assertion_type != std::optional<std::string>{std::string{jwt_bearer}})
    return call->fail("invalid_client", "client_assertion_type must be " + std::string{jwt_bearer});
  if (!assertion || assertion->empty())
    return call->fail("invalid_client", "client_assertion is missing");
  std::string why;
  auto jws = parse_jws(*assertion, why);
  if (!jws) return call->fail("invalid_client", "client_assertion: " + why);
  auto iss = string_member(jws->claims, "iss");
  if (!iss) return call->fail("invalid_client", "client_assertion has no iss");
  call->entry["client_id"] = *iss;
  if (client_id && *client_id != *iss)
    return call->fail("invalid_client", "client_id differs from the client_assertion iss");
  auto client = ehr.clients.find(*iss);
  if (client == ehr.clients.end()) return call->fail("invalid_client", "unknown client");
  if (!client->second.confidential)
    return call->fail("invalid_client", "a public client cannot use a client_assertion");
  call->client_id = *iss;

  if (client->second.jwks) return call->authenticate_with(*jws, *client->second.jwks);

  // The client's JWK Set is at its jwks_url: fetch it off the io thread, then carry on here.
  auto url = client->second.jwks_url;
  auto ca = client->second.jwks_url_ca_pem;
  auto post = services.post;
  services.run_blocking([call, jws = std::move(*jws), url, ca, post]() mutable {
    auto fetched = fetch_https(url, ca);
    // `call` moves on: the io thread must hold the last reference (it owns the session).
    post([call = std::move(call), jws = std::move(jws), fetched = std::move(fetched)]() {
      try {
        if (!fetched.ok) return call->fail("invalid_client", fetched.error);
        auto set = parse_json(fetched.body);
        if (!set) return call->fail("invalid_client", "jwks_url did not return JSON");
        call->authenticate_with(jws, *set);
      } catch (const std::exception& e) {
        call->finish(json_response(
          500, json::object{{"error", "server_error"}, {"error_description", e.what()}}));
      }
    });
  });
}

}  // namespace visitd::test_ehr
