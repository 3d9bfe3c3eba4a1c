#pragma once

// Who is calling: the session cookie, checked by the accounts actor, and for state-changing
// requests the CSRF token header matched against the session's (double-submit: the token is
// also in a cookie the portal's script reads, so it survives a page reload while the store keeps
// only its digest). Cookies are `__Host-` prefixed: Secure, Path=/, no Domain, so no other
// site or subdomain can set or read them.

#include "actors/runtime.hpp"
#include "http/message.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace visitd::http {

inline constexpr std::string_view session_cookie = "__Host-session";
inline constexpr std::string_view csrf_cookie = "__Host-csrf";
inline constexpr std::string_view csrf_header = "X-CSRF-Token";

/// The value of cookie `name` in the request's Cookie header(s), if present.
[[nodiscard]] std::optional<std::string> cookie_value(const request& req, std::string_view name);

/// The two Set-Cookie values of a new session (`max_age` from its lifetime), and the two that
/// clear them.
void set_session_cookies(response& res, std::string_view session_token, std::string_view csrf_token,
                         std::chrono::seconds max_age);
void clear_session_cookies(response& res);

/// Runs `next` with the caller's session. Answers itself otherwise: 401 without a session or
/// with an expired one, 403 when `state_changing` and the CSRF header is missing or does not
/// match. `next` runs on whichever thread the accounts actor answered on. A request with
/// `Authorization: Bearer <API token>` is authenticated by the token instead (no CSRF check;
/// `session_info::token_tenant` says the one tenant it may act in; the token passed to `next`
/// is empty).
void with_session(actors::runtime& runtime, const request& req, const responder& respond,
                  bool state_changing,
                  std::function<void(const actors::session_info&, std::string session_token)> next);

/// `with_session`, then the tenant named by the path parameter `{tenant_id}`: `next` runs when
/// the caller is one of its admins or its approver (operators too, for reads). Anyone else, an
/// API token of another tenant, and an unknown tenant, get the same 404, so tenants cannot be
/// discovered.
void with_tenant_member(
  actors::runtime& runtime, request& req, const responder& respond, bool state_changing,
  std::function<void(const actors::session_info&, const domain::tenant&)> next);

/// `with_tenant_member`, where the tenant's providers count too: an account linked to an EHR
/// user in the tenant (by an EHR launch) watches and runs its visits. For visit-level routes
/// only; the portal's configuration and audit stay with admins and the approver.
void with_tenant_staff(
  actors::runtime& runtime, request& req, const responder& respond, bool state_changing,
  std::function<void(const actors::session_info&, const domain::tenant&)> next);

}  // namespace visitd::http
