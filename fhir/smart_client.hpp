#pragma once

// The SMART App Launch 2.x client side of an EHR sign-in, over the outbound HTTPS client:
// discovery (`{fhir base}/.well-known/smart-configuration`, cached per issuer), the authorize
// URL, the authorization-code exchange (PKCE, as a public client or with a private_key_jwt
// assertion) and the id_token check against the issuer's JWKS (cached, re-fetched once when a
// token names a key it does not know: the EHR rotated its keys).
//
// Every call answers exactly once: on an io thread of the https client after a fetch, or inline
// when the answer is cached. Thread-safe. Held by shared_ptr: calls in flight keep it alive.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "fhir/https_client.hpp"
#include "fhir/jose.hpp"
#include "fhir/smart_configuration.hpp"
#include "fhir/token_response.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::fhir {

struct smart_client_options {
  /// How long a fetched smart-configuration is reused for the same FHIR base.
  std::chrono::seconds discovery_ttl{std::chrono::minutes{10}};
  /// How long an issuer's JWKS is reused, and the least time between two re-fetches forced by
  /// an unknown `kid` (so forged tokens cannot make visitd hammer the EHR).
  std::chrono::seconds jwks_ttl{std::chrono::hours{1}};
  std::chrono::seconds jwks_refetch_interval{std::chrono::seconds{30}};
  /// Cached documents at most (per kind); the oldest go first.
  std::size_t cache_capacity = 10'000;
  /// The clock (the system clock when empty).
  std::function<domain::timestamp()> clock;
};

/// The parameters of an authorization request (SMART App Launch §2.0.5).
struct authorize_params {
  std::string client_id;
  std::string redirect_uri;
  std::vector<std::string> scopes;
  std::string state;
  std::string aud;  ///< The FHIR base URL.
  std::string code_challenge;
  std::string nonce;
  std::string launch;  ///< The EHR launch's `launch` parameter; empty for standalone.
};

/// The authorization endpoint of `config` with the request's query parameters added
/// (response_type=code, PKCE method S256), keeping any query the endpoint already has.
/// `invalid_argument` when the endpoint is not a URL.
[[nodiscard]] domain::result<std::string> authorize_url(const smart_configuration& config,
                                                        const authorize_params& params);

/// Appends `name=value` to an application/x-www-form-urlencoded body (`&` between fields):
/// unreserved characters as they are, every other byte %XX.
void append_form_field(std::string& out, std::string_view name, std::string_view value);

/// The algorithm of a private_key_jwt client assertion for the EHR of `config`: ES384 when it
/// lists ES384 and not RS384, else RS384 (which SMART Backend Services requires every server to
/// accept). Sign-ins and write-back tokens use the same rule.
[[nodiscard]] jws_alg client_assertion_alg(const smart_configuration& config);

/// An authorization-code exchange (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.5).
struct code_exchange {
  std::string token_endpoint;
  std::string code;
  std::string redirect_uri;
  std::string code_verifier;
  std::string client_id;
  /// A private_key_jwt client assertion (jose.hpp make_client_assertion); empty for a public
  /// client, which identifies itself with `client_id` alone.
  std::string client_assertion;
  std::string trust;  ///< The https client's trust name for this EHR.
};

/// What the id_token must say (jose.hpp verify_id_token).
struct id_token_expectation {
  std::string issuer;
  std::string client_id;
  std::string nonce;
  std::string jwks_uri;
  std::string trust;
};

/// A finished sign-in: the token response and the verified identity.
struct signed_in_user {
  token_response tokens;
  id_token_claims identity;
};

/// `Type/id` of a FHIR reference, relative (`Appointment/1`) or absolute
/// (`https://ehr/fhir/Appointment/1`), when its type is one of `types`; nullopt otherwise.
[[nodiscard]] std::optional<std::string> relative_reference(
  std::string_view text, std::span<const std::string_view> types);

/// The EHR user id visitd keeps for an id_token's `fhirUser` (or `profile`): the relative
/// reference `Type/id` of a Practitioner, PractitionerRole, Patient, RelatedPerson or Person,
/// whether the claim is relative or an absolute URL (SMART sends `{fhir base}/Type/id`). Only
/// this id is stored, never a name. `invalid_argument` for anything else.
[[nodiscard]] domain::result<domain::ehr_user_id> ehr_user_from_fhir_user(std::string_view claim);

/// Make it with std::make_shared: calls in flight keep it alive.
class smart_client : public std::enable_shared_from_this<smart_client> {
public:
  template <class T>
  using reply = std::function<void(domain::result<T>)>;

  smart_client(std::shared_ptr<https_client> http, smart_client_options options = {});

  /// The SMART configuration of the FHIR base `fhir_base` (cached). Errors say what failed
  /// and where: `unavailable` when the EHR cannot be reached or answers other than 200
  /// (e.g. "no SMART configuration at …: HTTP 404"), `invalid_argument` when the document is
  /// not a usable SMART configuration (e.g. no S256), `timeout`.
  void discover(const std::string& fhir_base, const std::string& trust,
                const reply<smart_configuration>& done);

  /// Exchanges an authorization code for tokens. An OAuth error answer (RFC 6749 §5.2) is
  /// `unauthenticated` with the EHR's error code and description in the message.
  void exchange_code(const code_exchange& request, const reply<token_response>& done);

  /// `exchange_code`, then the id_token's check; `unauthenticated` when the token response has
  /// no id_token (visitd always asks for `openid fhirUser`).
  void finish_sign_in(const code_exchange& request, const id_token_expectation& expected,
                      const reply<signed_in_user>& done);

  /// The issuer's keys from `jwks_uri` (cached); `refresh` re-fetches unless the last fetch is
  /// more recent than `jwks_refetch_interval`.
  void issuer_keys(const std::string& jwks_uri, const std::string& trust, bool refresh,
                   const reply<jwk_set>& done);

private:
  template <class T>
  struct cached {
    T value;
    domain::timestamp fetched_at{};
  };

  [[nodiscard]] domain::timestamp now() const;
  /// GET `url` (a JSON document), parsed with `parse`, from `cache` while younger than
  /// `max_age`. Errors say what (`what`) could not be fetched, from where, and why.
  template <class T, class Parse>
  void fetch_cached(std::map<std::string, cached<T>>& cache, std::string_view what,
                    const std::string& url, const std::string& trust, std::chrono::seconds max_age,
                    Parse parse, const reply<T>& done);
  void verify_identity(const std::string& id_token, const id_token_expectation& expected,
                       bool refreshed, const reply<id_token_claims>& done);

  std::shared_ptr<https_client> http_;
  smart_client_options options_;
  std::mutex mutex_;
  std::map<std::string, cached<smart_configuration>> configurations_;
  std::map<std::string, cached<jwk_set>> key_sets_;
};

}  // namespace visitd::fhir
