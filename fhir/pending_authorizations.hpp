#pragma once

// The authorization requests visitd has sent a browser to an EHR with and not yet seen come back:
// one per `state`, holding what the callback needs to finish the sign-in (the PKCE verifier, the
// nonce, the issuer's endpoints, which launch or validation it is). Each is used once, expires,
// and is bound to the browser that started it: the callback must present the binding cookie set
// when the browser was sent away, so a `state` stolen from a URL or log is useless elsewhere.
//
// Held in memory only: a sign-in lasts minutes, and one lost to a restart is simply started
// again (the EHR sends the user back to the launch). Thread-safe: handlers on any io thread use
// the same registry.

#include "domain/error.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/ids.hpp"
#include "domain/integration_records.hpp"
#include "domain/time.hpp"

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace visitd::fhir {

/// Why the browser was sent to the EHR.
enum class authorization_purpose : std::uint8_t {
  validation,  ///< The approver proves a revision's URL (portal).
  launch,      ///< A provider, patient or device-test launch (see `launch`).
};

/// Everything the callback needs, fixed when the browser is sent away.
struct pending_authorization {
  authorization_purpose purpose = authorization_purpose::validation;
  domain::launch_kind launch = domain::launch_kind::provider;  ///< For `launch` only.
  domain::tenant_id tenant;
  domain::endpoint_id endpoint;
  domain::revision_number revision;
  domain::fhir_environment environment = domain::fhir_environment::test;
  domain::account_id approver;  ///< For `validation`: the portal account that started it.
  std::string fhir_base;        ///< The `aud` and the expected id_token issuer base.
  std::string issuer;           ///< The SMART configuration's issuer (id_token `iss`), or base.
  std::string token_endpoint;
  std::string jwks_uri;
  std::string client_id;
  domain::client_type client = domain::client_type::public_client;
  std::string signing_alg;  ///< For a confidential client: RS384 or ES384.
  std::string redirect_uri;
  std::string code_verifier;
  std::string nonce;
  std::string trust;  ///< The https client's trust name for this tenant's EHR.
  domain::timestamp expires_at{};
};

struct pending_authorizations_options {
  std::size_t capacity = 100'000;  ///< Beyond this, new sign-ins are refused (rate_limited).
};

class pending_authorizations {
public:
  explicit pending_authorizations(pending_authorizations_options options = {});

  /// Remembers `request` under `state`, bound to the browser that holds `binding` (the cookie's
  /// value; only its digest is kept). Expired entries are dropped first. `rate_limited` when the
  /// registry is full of live entries; `conflict` if `state` is already pending (never, with
  /// 256-bit random states, unless a caller reuses one).
  [[nodiscard]] domain::result<void> add(std::string state, std::string_view binding,
                                         pending_authorization request, domain::timestamp now);

  /// Takes the request of `state` out (it can never be used again, whatever follows), then checks
  /// it: `invalid_argument` ("unknown or already used state") when no such state is pending;
  /// `forbidden` when `binding` is not the one it was started with (another browser); `conflict`
  /// when it expired.
  [[nodiscard]] domain::result<pending_authorization> take(std::string_view state,
                                                           std::string_view binding,
                                                           domain::timestamp now);

  /// How many are pending (expired ones included until the next add).
  [[nodiscard]] std::size_t size() const;

private:
  struct entry {
    std::string binding_digest;
    pending_authorization request;
  };

  void drop_expired(domain::timestamp now);

  pending_authorizations_options options_;
  mutable std::mutex mutex_;
  std::map<std::string, entry, std::less<>> entries_;
  domain::timestamp next_sweep_{};
};

[[nodiscard]] std::string_view to_string(authorization_purpose purpose) noexcept;

}  // namespace visitd::fhir
