#include "fhir/smart_client.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <array>
#include <utility>

namespace visitd::fhir {

using domain::errc;
using domain::make_error;

namespace {

constexpr std::string_view well_known_suffix = "/.well-known/smart-configuration";

// application/x-www-form-urlencoded (HTML's rules): unreserved characters as they are, every
// other byte %XX. Spaces as %20 rather than '+': both decode the same.
void append_form_value(std::string& out, std::string_view value) {
  constexpr std::string_view hex = "0123456789ABCDEF";
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4U]);
      out.push_back(hex[c & 0x0FU]);
    }
  }
}

std::string join_scopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out.push_back(' ');
    out.append(s);
  }
  return out;
}

// An EHR's error body may be anything; a short printable excerpt is enough to say what failed
// without copying a page of HTML (or worse) into a log or a portal message.
std::string excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  return out;
}

template <class Map>
void keep_within(Map& map, std::size_t capacity) {
  while (map.size() > capacity) {
    auto oldest = map.begin();
    for (auto it = map.begin(); it != map.end(); ++it)
      if (it->second.fetched_at < oldest->second.fetched_at) oldest = it;
    map.erase(oldest);
  }
}

}  // namespace

void append_form_field(std::string& out, std::string_view name, std::string_view value) {
  if (!out.empty()) out.push_back('&');
  out.append(name);
  out.push_back('=');
  append_form_value(out, value);
}

jws_alg client_assertion_alg(const smart_configuration& config) {
  const auto& algs = config.token_endpoint_auth_signing_alg_values_supported;
  if (std::find(algs.begin(), algs.end(), "ES384") != algs.end() &&
      std::find(algs.begin(), algs.end(), "RS384") == algs.end())
    return jws_alg::es384;
  return jws_alg::rs384;
}

domain::result<std::string> authorize_url(const smart_configuration& config,
                                          const authorize_params& params) {
  auto parsed = boost::urls::parse_absolute_uri(config.authorization_endpoint);
  if (!parsed)
    return make_error(errc::invalid_argument, "authorization_endpoint is not an absolute URL");
  boost::urls::url url{*parsed};
  auto query = url.params();
  query.append({"response_type", "code"});
  query.append({"client_id", params.client_id});
  query.append({"redirect_uri", params.redirect_uri});
  if (!params.launch.empty()) query.append({"launch", params.launch});
  query.append({"scope", join_scopes(params.scopes)});
  query.append({"state", params.state});
  query.append({"aud", params.aud});
  query.append({"code_challenge", params.code_challenge});
  query.append({"code_challenge_method", "S256"});
  if (!params.nonce.empty()) query.append({"nonce", params.nonce});
  return std::string{url.buffer()};
}

std::optional<std::string> relative_reference(std::string_view text,
                                              std::span<const std::string_view> types) {
  // The last two path segments: `Type/id` (a `_history/n` suffix is not accepted).
  auto path = text;
  if (auto query = path.find_first_of("?#"); query != std::string_view::npos)
    path = path.substr(0, query);
  auto last = path.rfind('/');
  if (last == std::string_view::npos || last == 0 || last + 1 == path.size()) return std::nullopt;
  auto type_start = path.rfind('/', last - 1);
  auto begin = type_start == std::string_view::npos ? 0 : type_start + 1;
  auto type = path.substr(begin, last - begin);
  if (std::find(types.begin(), types.end(), type) == types.end()) return std::nullopt;
  return std::string{path.substr(begin)};
}

domain::result<domain::ehr_user_id> ehr_user_from_fhir_user(std::string_view claim) {
  constexpr std::array<std::string_view, 5> user_types{"Practitioner", "PractitionerRole",
                                                       "Patient", "RelatedPerson", "Person"};
  auto reference = relative_reference(claim, user_types);
  auto user = reference
                ? domain::ehr_user_id::parse(*reference)
                : domain::result<domain::ehr_user_id>{make_error(errc::invalid_argument, "")};
  if (!user)
    return make_error(errc::invalid_argument,
                      "id_token: fhirUser is not a reference to a FHIR user resource");
  return *user;
}

smart_client::smart_client(std::shared_ptr<https_client> http, smart_client_options options)
  : http_(std::move(http)), options_(std::move(options)) {}

domain::timestamp smart_client::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::time_point_cast<domain::duration>(std::chrono::system_clock::now());
}

template <class T, class Parse>
void smart_client::fetch_cached(std::map<std::string, cached<T>>& cache, std::string_view what,
                                const std::string& url, const std::string& trust,
                                std::chrono::seconds max_age, Parse parse, const reply<T>& done) {
  auto key = trust + '\n' + url;
  {
    std::unique_lock lock{mutex_};
    auto it = cache.find(key);
    if (it != cache.end() && now() - it->second.fetched_at < max_age) {
      auto copy = it->second.value;
      lock.unlock();
      return done(std::move(copy));
    }
  }
  outbound_request request{.method = "GET",
                           .url = url,
                           .headers = {{"Accept", "application/json"}},
                           .body = {},
                           .trust = trust};
  http_->send(std::move(request), [self = shared_from_this(), &cache, what = std::string{what}, url,
                                   key, parse, done](domain::result<outbound_response> r) {
    if (!r)
      return done(make_error(r.err().code, "could not fetch the EHR's " + what + " from " + url +
                                             ": " + r.err().message));
    if (r->status != 200)
      return done(make_error(errc::unavailable, "the EHR has no " + what + " at " + url +
                                                  " (HTTP " + std::to_string(r->status) + ")"));
    auto document = parse(r->body);
    if (!document)
      return done(make_error(
        errc::invalid_argument,
        "the EHR's " + what + " at " + url + " is not usable: " + document.err().message));
    {
      std::lock_guard lock{self->mutex_};
      cache[key] = {*document, self->now()};
      keep_within(cache, self->options_.cache_capacity);
    }
    done(std::move(*document));
  });
}

void smart_client::discover(const std::string& fhir_base, const std::string& trust,
                            const reply<smart_configuration>& done) {
  std::string url = fhir_base;
  url.append(well_known_suffix);
  fetch_cached(configurations_, "SMART configuration", url, trust, options_.discovery_ttl,
               parse_smart_configuration, done);
}

void smart_client::exchange_code(const code_exchange& request, const reply<token_response>& done) {
  std::string body;
  append_form_field(body, "grant_type", "authorization_code");
  append_form_field(body, "code", request.code);
  append_form_field(body, "redirect_uri", request.redirect_uri);
  append_form_field(body, "code_verifier", request.code_verifier);
  append_form_field(body, "client_id", request.client_id);
  if (!request.client_assertion.empty()) {
    append_form_field(body, "client_assertion_type", client_assertion_type);
    append_form_field(body, "client_assertion", request.client_assertion);
  }
  outbound_request post{.method = "POST",
                        .url = request.token_endpoint,
                        .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                                    {"Accept", "application/json"}},
                        .body = std::move(body),
                        .trust = request.trust};
  auto endpoint = request.token_endpoint;
  http_->send(std::move(post), [done, endpoint](domain::result<outbound_response> r) {
    if (!r)
      return done(make_error(r.err().code,
                             "the token request to " + endpoint + " failed: " + r.err().message));
    if (r->status == 200) {
      auto tokens = parse_token_response(r->body);
      if (!tokens)
        return done(make_error(errc::invalid_argument,
                               "the EHR's token response is not usable: " + tokens.err().message));
      return done(std::move(*tokens));
    }
    if (r->status >= 400 && r->status < 500) {
      if (auto refused = parse_oauth_error(r->body)) {
        std::string message = "the EHR refused the token request: " + refused->error;
        if (!refused->error_description.empty())
          message.append(" (").append(excerpt(refused->error_description)).append(")");
        return done(make_error(errc::unauthenticated, std::move(message)));
      }
    }
    done(make_error(errc::unavailable, "the token request to " + endpoint + " answered HTTP " +
                                         std::to_string(r->status) + ": " + excerpt(r->body)));
  });
}

void smart_client::finish_sign_in(const code_exchange& request,
                                  const id_token_expectation& expected,
                                  const reply<signed_in_user>& done) {
  exchange_code(request, [self = shared_from_this(), expected,
                          done](const domain::result<token_response>& tokens) {
    if (!tokens.has_value()) return done(tokens.err());
    const auto& id_token = tokens.value().id_token;
    if (!id_token || id_token->empty())
      return done(make_error(errc::unauthenticated,
                             "the EHR's token response has no id_token (scope openid fhirUser)"));
    self->verify_identity(
      *id_token, expected, false,
      [done, tokens = tokens.value()](const domain::result<id_token_claims>& identity) {
        if (!identity.has_value()) return done(identity.err());
        done(signed_in_user{tokens, identity.value()});
      });
  });
}

void smart_client::verify_identity(const std::string& id_token,
                                   const id_token_expectation& expected, bool refreshed,
                                   const reply<id_token_claims>& done) {
  issuer_keys(
    expected.jwks_uri, expected.trust, refreshed,
    [self = shared_from_this(), id_token, expected, refreshed, done](domain::result<jwk_set> keys) {
      if (!keys) return done(keys.err());
      // A kid the cached set does not know: the EHR may have rotated its keys since.
      if (!refreshed) {
        auto header = peek_jws_header(id_token);
        if (header && !header->kid.empty() && !keys->contains_kid(header->kid))
          return self->verify_identity(id_token, expected, true, done);
      }
      done(verify_id_token(id_token, *keys, expected.issuer, expected.client_id, expected.nonce,
                           self->now()));
    });
}

void smart_client::issuer_keys(const std::string& jwks_uri, const std::string& trust, bool refresh,
                               const reply<jwk_set>& done) {
  fetch_cached(key_sets_, "keys (JWKS)", jwks_uri, trust,
               refresh ? options_.jwks_refetch_interval : options_.jwks_ttl, parse_jwks, done);
}

}  // namespace visitd::fhir
