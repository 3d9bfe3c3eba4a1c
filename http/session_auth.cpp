#include "http/session_auth.hpp"

#include "auth/tokens.hpp"
#include "http/errors.hpp"

#include <algorithm>

namespace visitd::http {

std::optional<std::string> cookie_value(const request& req, std::string_view name) {
  for (const auto& [header, value] : req.headers) {
    if (header.size() != 6 || (header[0] != 'C' && header[0] != 'c')) continue;
    std::string lower{header};
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower != "cookie") continue;
    std::string_view rest{value};
    while (!rest.empty()) {
      auto end = rest.find(';');
      auto pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      auto eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      auto v = pair.substr(eq + 1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      return std::string{v};
    }
  }
  return std::nullopt;
}

void set_session_cookies(response& res, std::string_view session_token, std::string_view csrf_token,
                         std::chrono::seconds max_age) {
  const auto age = std::to_string(max_age.count());
  res.headers.emplace_back("Set-Cookie",
                           std::string{session_cookie}
                             .append("=")
                             .append(session_token)
                             .append("; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=")
                             .append(age));
  res.headers.emplace_back("Set-Cookie", std::string{csrf_cookie}
                                           .append("=")
                                           .append(csrf_token)
                                           .append("; Path=/; Secure; SameSite=Strict; Max-Age=")
                                           .append(age));
}

void clear_session_cookies(response& res) {
  res.headers.emplace_back(
    "Set-Cookie",
    std::string{session_cookie}.append("=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"));
  res.headers.emplace_back(
    "Set-Cookie", std::string{csrf_cookie}.append("=; Path=/; Secure; SameSite=Strict; Max-Age=0"));
}

void with_session(
  actors::runtime& runtime, const request& req, const responder& respond, bool state_changing,
  std::function<void(const actors::session_info&, std::string session_token)> next) {
  // Automation: an API token instead of a session. It is not a cookie, so a browser never sends
  // it on its own and there is no CSRF to guard against; its scope (one tenant) is the caller's.
  if (auto authorization = req.header("Authorization"); !authorization.empty()) {
    constexpr std::string_view bearer = "Bearer ";
    if (!authorization.starts_with(bearer))
      return respond(
        error_response(401, "unauthenticated", "Authorization must be Bearer <token>"));
    runtime.authenticate_api_token(
      std::string{authorization.substr(bearer.size())},
      [respond, next = std::move(next)](domain::result<actors::session_info> session) {
        if (!session) return respond(error_response(session.err()));
        next(*session, std::string{});
      });
    return;
  }
  auto token = cookie_value(req, session_cookie);
  if (!token || token->empty()) {
    respond(error_response(401, "unauthenticated", "sign in first"));
    return;
  }
  std::string csrf{req.header(csrf_header)};
  runtime.authenticate(
    *token, [respond, state_changing, csrf = std::move(csrf), token = *token,
             next = std::move(next)](domain::result<actors::session_info> session) {
      if (!session) {
        auto res = error_response(session.err());
        if (session.err().code == domain::errc::unauthenticated) clear_session_cookies(res);
        respond(std::move(res));
        return;
      }
      if (state_changing && (csrf.empty() || !auth::constant_time_equal(auth::token_digest(csrf),
                                                                        session->csrf_digest))) {
        respond(error_response(403, "csrf_token_mismatch",
                               std::string{"this request needs the "}
                                 .append(csrf_header)
                                 .append(" header of the session")));
        return;
      }
      next(*session, token);
    });
}

namespace {

enum class membership : std::uint8_t { portal, staff };

void with_tenant(actors::runtime& runtime, request& req, const responder& respond,
                 bool state_changing, membership level,
                 std::function<void(const actors::session_info&, const domain::tenant&)> next) {
  auto id = domain::tenant_id::parse(req.path_params["tenant_id"]);
  auto not_found = [] { return error_response(404, "not_found", "no such tenant"); };
  with_session(runtime, req, respond, state_changing,
               [&runtime, respond, id, state_changing, level, not_found, next = std::move(next)](
                 const actors::session_info& s, const std::string&) {
                 if (!id) return respond(not_found());
                 runtime.get_tenant(*id, [respond, s, state_changing, level, not_found,
                                          next](domain::result<domain::tenant> t) {
                   if (!t) {
                     if (t.err().code == domain::errc::not_found) return respond(not_found());
                     return respond(error_response(t.err()));
                   }
                   // An API token reaches its own tenant only; others look absent.
                   if (s.token_tenant && *s.token_tenant != t->id) return respond(not_found());
                   bool member = t->is_admin(s.account) || t->is_approver(s.account);
                   if (!member && level == membership::staff)
                     member =
                       std::any_of(s.ehr_links.begin(), s.ehr_links.end(),
                                   [&](const domain::ehr_link& l) { return l.tenant == t->id; });
                   if (!member && !(s.is_operator && !state_changing)) return respond(not_found());
                   next(s, *t);
                 });
               });
}

}  // namespace

void with_tenant_member(
  actors::runtime& runtime, request& req, const responder& respond, bool state_changing,
  std::function<void(const actors::session_info&, const domain::tenant&)> next) {
  with_tenant(runtime, req, respond, state_changing, membership::portal, std::move(next));
}

void with_tenant_staff(
  actors::runtime& runtime, request& req, const responder& respond, bool state_changing,
  std::function<void(const actors::session_info&, const domain::tenant&)> next) {
  with_tenant(runtime, req, respond, state_changing, membership::staff, std::move(next));
}

}  // namespace visitd::http
