#include "http/smart_common.hpp"

#include "fhir/jose.hpp"
#include "http/errors.hpp"
#include "http/session_auth.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace visitd::http {

using domain::errc;
using domain::make_error;

domain::timestamp now_of(const smart_services& s) {
  if (s.clock) return s.clock();
  return std::chrono::time_point_cast<domain::duration>(std::chrono::system_clock::now());
}

std::optional<domain::revision_number> parse_revision(const std::string& text) {
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  auto r = domain::revision_number::make(n);
  if (!r) return std::nullopt;
  return *r;
}

std::string redirect_uri_of(const smart_services& s, const domain::tenant_id& tenant,
                            const domain::endpoint_id& endpoint) {
  return s.public_url() + "/smart/" + tenant.str() + "/" + endpoint.str() + "/callback";
}

// -- outcome pages ------------------------------------------------------------------------------
// The callback is a browser navigation: it answers a page a person can read. A script (the
// portal, the tests) asks for JSON instead.

bool wants_json(const request& req) {
  return req.header("Accept").find("application/json") != std::string_view::npos;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out.append("&amp;"); break;
      case '<': out.append("&lt;"); break;
      case '>': out.append("&gt;"); break;
      case '"': out.append("&quot;"); break;
      case '\'': out.append("&#39;"); break;
      default: out.push_back(c);
    }
  }
  return out;
}

response page(int status, std::string_view title, std::string_view detail) {
  response res;
  res.status = status;
  res.content_type = "text/html; charset=utf-8";
  res.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; style-src 'unsafe-inline'");
  res.headers.emplace_back("Cache-Control", "no-store");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.body = std::string{"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"}
               .append(html_escape(title))
               .append("</title></head><body><h1>")
               .append(html_escape(title))
               .append("</h1><p>")
               .append(html_escape(detail))
               .append("</p></body></html>");
  return res;
}

/// A failure of the sign-in, as a page or JSON.
response failure(const request& req, int status, std::string_view code, std::string_view message) {
  if (wants_json(req)) {
    auto res = error_response(status, code, message);
    res.headers.emplace_back("Cache-Control", "no-store");
    return res;
  }
  return page(status, "The EHR sign-in did not complete", message);
}

/// What the EHR did wrong (unreachable, refused, answered something unusable) is the gateway's
/// failure, 502, whatever the error's own code; the message says which step failed.
response ehr_failure(const request& req, const domain::error& err) {
  if (err.code == errc::rate_limited) return failure(req, 429, "rate_limited", err.message);
  return failure(req, 502, "ehr_failure", err.message);
}

response registry_failure(const request& req, const domain::error& err) {
  switch (err.code) {
    case errc::invalid_argument: return failure(req, 400, "invalid_state", err.message);
    case errc::forbidden: return failure(req, 403, "wrong_browser", err.message);
    case errc::conflict: return failure(req, 409, "expired", err.message);
    default: return failure(req, status_for(err.code), domain::to_string(err.code), err.message);
  }
}

void set_binding_cookie(response& res, std::string_view value, std::chrono::seconds max_age) {
  res.headers.emplace_back("Set-Cookie", std::string{smart_binding_cookie}
                                           .append("=")
                                           .append(value)
                                           .append("; Path=/; Secure; HttpOnly; SameSite=Lax; "
                                                   "Max-Age=")
                                           .append(std::to_string(max_age.count())));
}

/// The browser's binding value: the one it already has (several sign-ins in tabs of one browser
/// share it), else a fresh 256-bit one.
domain::result<std::string> binding_for(const request& req) {
  if (auto existing = cookie_value(req, smart_binding_cookie);
      existing && existing->size() == 43 &&
      std::all_of(existing->begin(), existing->end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
      }))
    return *existing;
  return fhir::random_jti();
}

/// The algorithm of visitd's client assertion: ES384 when the EHR lists it, else RS384 (which
/// SMART Backend Services requires every server to accept).
/// The client assertion for a confidential client, or "" for a public one.
void client_assertion_for(const smart_services& s, const fhir::pending_authorization& ctx,
                          const std::function<void(domain::result<std::string>)>& done) {
  if (ctx.client != domain::client_type::confidential_private_key_jwt) return done(std::string{});
  s.keys->keys_of(ctx.tenant, [s, ctx, done](domain::result<fhir::tenant_keys> keys) {
    if (!keys) return done(keys.err());
    auto alg = fhir::parse_jws_alg(ctx.signing_alg).value_or(fhir::jws_alg::rs384);
    const auto* key = keys->signer(alg);
    if (key == nullptr)
      return done(make_error(errc::internal, "the tenant has no " + ctx.signing_alg + " key"));
    auto jti = fhir::random_jti();
    if (!jti) return done(jti.err());
    done(fhir::make_client_assertion(*key, ctx.client_id, ctx.token_endpoint, now_of(s),
                                     std::chrono::minutes{5}, *jti));
  });
}

void begin_sign_in(const smart_services& s, sign_in_request request, std::string binding,
                   const std::function<void(domain::result<started_sign_in>)>& done) {
  auto trust = s.trust_for(request.tenant);
  auto base_url = request.settings.base_url;
  s.client->discover(
    base_url, trust,
    [s, request = std::move(request), binding = std::move(binding), trust,
     done](domain::result<fhir::smart_configuration> config) {
      if (!config) return done(config.err());
      const auto& settings = request.settings;
      const auto& methods = config->token_endpoint_auth_methods_supported;
      if (settings.type == domain::client_type::confidential_private_key_jwt && !methods.empty() &&
          std::find(methods.begin(), methods.end(), "private_key_jwt") == methods.end())
        return done(make_error(errc::unavailable,
                               "the EHR does not accept private_key_jwt client authentication, but "
                               "the endpoint is configured as a confidential client"));
      if (config->jwks_uri.empty())
        return done(make_error(errc::unavailable,
                               "the EHR's SMART configuration has no jwks_uri, so its id_token "
                               "cannot be verified"));
      fhir::pending_authorization ctx;
      ctx.purpose = request.purpose;
      ctx.launch = request.launch;
      ctx.tenant = request.tenant;
      ctx.endpoint = request.endpoint;
      ctx.revision = request.revision;
      ctx.environment = settings.environment;
      ctx.approver = request.approver;
      ctx.fhir_base = settings.base_url;
      ctx.issuer = config->issuer.empty() ? settings.base_url : config->issuer;
      ctx.token_endpoint = config->token_endpoint;
      ctx.jwks_uri = config->jwks_uri;
      ctx.client_id = settings.client_id;
      ctx.client = settings.type;
      ctx.signing_alg = std::string{fhir::to_string(fhir::client_assertion_alg(*config))};
      ctx.redirect_uri = redirect_uri_of(s, request.tenant, request.endpoint);
      ctx.code_verifier = request.secrets.code_verifier;
      ctx.nonce = request.secrets.nonce;
      ctx.trust = trust;
      ctx.expires_at = std::min(request.expires_at, now_of(s) + s.sign_in_ttl);
      auto url = fhir::authorize_url(*config, {.client_id = settings.client_id,
                                               .redirect_uri = ctx.redirect_uri,
                                               .scopes = request.scopes,
                                               .state = request.secrets.state,
                                               .aud = settings.base_url,
                                               .code_challenge = request.secrets.code_challenge,
                                               .nonce = request.secrets.nonce,
                                               .launch = request.launch_parameter});
      if (!url) return done(make_error(errc::unavailable, url.err().message));
      started_sign_in started{*url, ctx.expires_at};
      if (auto added = s.pending->add(request.secrets.state, binding, std::move(ctx), now_of(s));
          !added)
        return done(added.err());
      done(std::move(started));
    });
}

}  // namespace visitd::http
