#include "http/session_routes.hpp"

#include "domain/time_format.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/session_auth.hpp"

#include <boost/json.hpp>

namespace visitd::http {

namespace {

boost::json::object account_json(const domain::account_id& id, bool is_operator) {
  return {{"id", id.str()}, {"operator", is_operator}};
}

}  // namespace

void add_session_routes(router& routes, actors::runtime& runtime,
                        std::chrono::seconds session_lifetime) {
  routes.add("POST", "/api/v1/session",
             [&runtime, session_lifetime](request& req, const responder& respond) {
               auto body = read_json_object(req, {"login", "password"});
               if (auto* err = std::get_if<body_error>(&body)) {
                 respond(error_response(*err));
                 return;
               }
               const auto& fields = std::get<json_fields>(body);
               std::string login;
               std::string password;
               if (auto err = fields.string("login", login, 64)) {
                 respond(error_response(*err));
                 return;
               }
               if (auto err = fields.string("password", password, 1024)) {
                 respond(error_response(*err));
                 return;
               }
               runtime.sign_in(std::move(login), std::move(password), req.remote_address,
                               [respond, session_lifetime](domain::result<actors::signed_in> in) {
                                 if (!in) {
                                   respond(error_response(in.err()));
                                   return;
                                 }
                                 boost::json::object out{
                                   {"account", account_json(in->account, in->is_operator)},
                                   {"csrf_token", in->csrf_token},
                                   {"expires_at", domain::format_rfc3339(in->expires_at)},
                                 };
                                 auto res = json_response(201, boost::json::serialize(out));
                                 set_session_cookies(res, in->session_token, in->csrf_token,
                                                     session_lifetime);
                                 respond(std::move(res));
                               });
             });

  routes.add("GET", "/api/v1/session", [&runtime](request& req, const responder& respond) {
    with_session(runtime, req, respond, false,
                 [respond](const actors::session_info& s, const std::string&) {
                   boost::json::object out{
                     {"account", account_json(s.account, s.is_operator)},
                     {"expires_at", domain::format_rfc3339(s.expires_at)},
                   };
                   respond(json_response(200, boost::json::serialize(out)));
                 });
  });

  routes.add("DELETE", "/api/v1/session", [&runtime](request& req, const responder& respond) {
    with_session(runtime, req, respond, true,
                 [&runtime, respond](const actors::session_info&, std::string token) {
                   runtime.sign_out(std::move(token), [respond](const domain::result<void>& done) {
                     if (!done) {
                       respond(error_response(done.err()));
                       return;
                     }
                     response res;
                     res.status = 204;
                     res.content_type.clear();
                     clear_session_cookies(res);
                     respond(std::move(res));
                   });
                 });
  });
}

}  // namespace visitd::http
