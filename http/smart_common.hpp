#pragma once

// What the SMART routes share (http/smart_routes.cpp: validation, callback, JWKS;
// http/launch_routes.cpp: provider, patient and device-test launches): outcome pages, the
// browser-binding cookie, the redirect URI, and the client assertion of a confidential client.

#include "domain/error.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/ids.hpp"
#include "domain/integration_records.hpp"
#include "domain/time.hpp"
#include "fhir/authorization_secrets.hpp"
#include "fhir/pending_authorizations.hpp"
#include "fhir/smart_configuration.hpp"
#include "http/message.hpp"
#include "http/smart_routes.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::http {

[[nodiscard]] domain::timestamp now_of(const smart_services& s);

/// A `{revision}` path segment: a number >= 1.
[[nodiscard]] std::optional<domain::revision_number> parse_revision(const std::string& text);

/// `{public}/smart/{tenant}/{endpoint}/callback`: the one redirect URI of an endpoint.
[[nodiscard]] std::string redirect_uri_of(const smart_services& s, const domain::tenant_id& tenant,
                                          const domain::endpoint_id& endpoint);

/// Whether the caller is a script asking for JSON rather than a browser.
[[nodiscard]] bool wants_json(const request& req);

/// A small HTML page (no scripts; CSP default-src 'none'), every text escaped.
[[nodiscard]] response page(int status, std::string_view title, std::string_view detail);

/// A failed sign-in or launch, as a page or JSON (`{"error":{code,message}}`).
[[nodiscard]] response failure(const request& req, int status, std::string_view code,
                               std::string_view message);

/// A failure on the EHR's side: 502 `ehr_failure` (429 for a full sign-in registry).
[[nodiscard]] response ehr_failure(const request& req, const domain::error& err);

/// A pending_authorizations::take failure: 400 invalid_state, 403 wrong_browser, 409 expired.
[[nodiscard]] response registry_failure(const request& req, const domain::error& err);

/// Sets the `__Host-smart` cookie (Secure, HttpOnly, SameSite=Lax, Path=/).
void set_binding_cookie(response& res, std::string_view value, std::chrono::seconds max_age);

/// The browser's binding value: the one it has, else a fresh 256-bit one.
[[nodiscard]] domain::result<std::string> binding_for(const request& req);

/// What a sign-in is for, against which revision, with which secrets.
struct sign_in_request {
  fhir::authorization_purpose purpose = fhir::authorization_purpose::validation;
  domain::launch_kind launch = domain::launch_kind::provider;  ///< For launches.
  domain::tenant_id tenant;
  domain::endpoint_id endpoint;
  domain::revision_number revision;
  domain::endpoint_settings settings;  ///< The revision's.
  domain::account_id approver;         ///< For validations.
  std::vector<std::string> scopes;
  std::string launch_parameter;  ///< The EHR's `launch`; empty for standalone.
  fhir::authorization_secrets secrets;
  domain::timestamp expires_at{};  ///< At the latest; `sign_in_ttl` may cut it shorter.
};

struct started_sign_in {
  std::string authorize_url;
  domain::timestamp expires_at{};
};

/// The part every sign-in shares: the EHR's SMART configuration (discovery), its checks (a
/// jwks_uri to verify the id_token with; private_key_jwt for a confidential client), the
/// pending authorization bound to `binding`, and the authorize URL to send the browser to.
/// Errors are the EHR's (answer them as a gateway failure), or `rate_limited` when too many
/// sign-ins are pending.
void begin_sign_in(const smart_services& s, sign_in_request request, std::string binding,
                   const std::function<void(domain::result<started_sign_in>)>& done);

/// The private_key_jwt assertion for a confidential client's token request, or "" for a public
/// client. Runs `done` once (inline, or on the key ring's thread for a tenant's first keys).
void client_assertion_for(const smart_services& s, const fhir::pending_authorization& ctx,
                          const std::function<void(domain::result<std::string>)>& done);

}  // namespace visitd::http
