#include "http/lobby_routes.hpp"

#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/session_auth.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <memory>

namespace visitd::http {

namespace {

using body = std::shared_ptr<std::variant<json_fields, body_error>>;

/// The participant id staff act under in a visit: one per portal account.
domain::participant_id staff_participant(const domain::account_id& account) {
  return *domain::participant_id::parse("s-" + account.str());
}

/// Builds the command from the caller's staff id and the body, or the error to answer.
using command_builder = std::function<std::variant<domain::command, body_error>(
  const domain::participant_id& me, const domain::ehr_user_id& user, const json_fields& f)>;

std::optional<body_error> participant_field(const json_fields& f, std::string_view name,
                                            domain::participant_id& out) {
  std::string text;
  if (auto err = f.string(name, text, 64)) return err;
  auto id = domain::participant_id::parse(text);
  if (!id) return body_error{400, "invalid_field", std::string{name} + ": " + id.err().message};
  out = std::move(*id);
  return std::nullopt;
}

/// A staff action on `{visit_id}` of `{tenant_id}`: the caller must be a member with an EHR
/// link in the tenant, and the visit the tenant's.
void add_action(router& routes, actors::runtime& runtime, const std::string& path,
                std::initializer_list<std::string_view> fields, const command_builder& build) {
  std::vector<std::string_view> allowed{fields};
  routes.add("POST", path, [&runtime, allowed, build](request& req, const responder& respond) {
    // An action without fields takes an empty body as well as `{}`.
    auto parsed = req.body.empty() && allowed.empty()
                    ? std::variant<json_fields, body_error>{json_fields{{}}}
                    : read_json_object(req, allowed);
    auto b = std::make_shared<std::variant<json_fields, body_error>>(std::move(parsed));
    auto visit = domain::visit_id::parse(req.path_params["visit_id"]);
    with_tenant_staff(
      runtime, req, respond, true,
      [&runtime, respond, b, visit, build](const actors::session_info& s, const domain::tenant& t) {
        if (auto* err = std::get_if<body_error>(b.get())) return respond(error_response(*err));
        auto link = std::find_if(s.ehr_links.begin(), s.ehr_links.end(),
                                 [&](const domain::ehr_link& l) { return l.tenant == t.id; });
        if (link == s.ehr_links.end())
          return respond(error_response(403, "forbidden",
                                        "the account is not linked to an EHR user in this tenant"));
        auto missing = [] { return error_response(404, "not_found", "no such visit"); };
        if (!visit) return respond(missing());
        auto command = build(staff_participant(s.account), link->user, std::get<json_fields>(*b));
        if (auto* err = std::get_if<body_error>(&command)) return respond(error_response(*err));
        runtime.get_visit(*visit, [&runtime, respond, missing, tenant = t.id, id = *visit,
                                   cmd = std::get<domain::command>(command)](
                                    domain::result<domain::visit_state> v) {
          if (!v || v->info.tenant != tenant) return respond(missing());
          runtime.visit_command(id, cmd, [respond](domain::result<std::uint64_t> seq) {
            if (!seq) return respond(error_response(seq.err()));
            respond(
              json_response(200, boost::json::serialize(boost::json::object{{"last_seq", *seq}})));
          });
        });
      });
  });
}

const domain::device_id& api_device() {
  static const auto device = *domain::device_id::parse("api");
  return device;
}

}  // namespace

void add_lobby_routes(router& routes, actors::runtime& runtime) {
  routes.add(
    "POST", "/api/v1/tenants/{tenant_id}/providers",
    [&runtime](request& req, const responder& respond) {
      auto b = std::make_shared<std::variant<json_fields, body_error>>(
        read_json_object(req, {"account", "ehr_user"}));
      with_tenant_member(
        runtime, req, respond, true,
        [&runtime, respond, b](const actors::session_info& s, const domain::tenant& t) {
          if (!t.is_admin(s.account))
            return respond(
              error_response(403, "forbidden", "only the tenant's admins link providers"));
          if (auto* err = std::get_if<body_error>(b.get())) return respond(error_response(*err));
          const auto& f = std::get<json_fields>(*b);
          std::string account, user;
          for (auto err : {f.string("account", account, 64), f.string("ehr_user", user, 256)})
            if (err) return respond(error_response(*err));
          auto account_id = domain::account_id::parse(account);
          auto user_id = domain::ehr_user_id::parse(user);
          if (!account_id)
            return respond(
              error_response(400, "invalid_field", "account: " + account_id.err().message));
          if (!user_id)
            return respond(
              error_response(400, "invalid_field", "ehr_user: " + user_id.err().message));
          runtime.link_ehr_user(
            {*account_id, t.id, *user_id, s.account}, [respond](domain::result<domain::account> a) {
              if (!a) return respond(error_response(a.err()));
              respond(json_response(200, boost::json::serialize(boost::json::object{
                                           {"id", a->id.str()}, {"login", a->login}})));
            });
        });
    });

  const std::string visit = "/api/v1/tenants/{tenant_id}/visits/{visit_id}";
  add_action(routes, runtime, visit + "/staff/join", {},
             [](const auto& me, const auto& user,
                const json_fields&) -> std::variant<domain::command, body_error> {
               return domain::command{
                 domain::cmd::join{me, api_device(), domain::participant_role::provider, user}};
             });
  add_action(routes, runtime, visit + "/staff/leave", {},
             [](const auto& me, const auto&,
                const json_fields&) -> std::variant<domain::command, body_error> {
               return domain::command{domain::cmd::leave{me, api_device()}};
             });
  add_action(routes, runtime, visit + "/lobby/admit", {"participant"},
             [](const auto& me, const auto&,
                const json_fields& f) -> std::variant<domain::command, body_error> {
               domain::participant_id who;
               if (auto err = participant_field(f, "participant", who)) return *err;
               return domain::command{domain::cmd::admit{me, who}};
             });
  add_action(routes, runtime, visit + "/lobby/admit-all", {},
             [](const auto& me, const auto&,
                const json_fields&) -> std::variant<domain::command, body_error> {
               return domain::command{domain::cmd::admit_all{me}};
             });
  add_action(routes, runtime, visit + "/lobby/deny", {"participant", "reason"},
             [](const auto& me, const auto&,
                const json_fields& f) -> std::variant<domain::command, body_error> {
               domain::participant_id who;
               if (auto err = participant_field(f, "participant", who)) return *err;
               std::optional<std::string> reason_text;
               if (auto err = f.optional_string("reason", reason_text, 32)) return *err;
               auto reason = domain::deny_reason::unspecified;
               if (reason_text) {
                 bool known = false;
                 for (auto r : {domain::deny_reason::unspecified, domain::deny_reason::not_expected,
                                domain::deny_reason::duplicate, domain::deny_reason::wrong_visit})
                   if (domain::to_string(r) == *reason_text) {
                     reason = r;
                     known = true;
                   }
                 if (!known)
                   return body_error{400, "invalid_field",
                                     "reason: must be unspecified, not_expected, duplicate or "
                                     "wrong_visit"};
               }
               return domain::command{domain::cmd::deny{me, who, reason}};
             });
  add_action(routes, runtime, visit + "/lobby/return", {"participant"},
             [](const auto& me, const auto&,
                const json_fields& f) -> std::variant<domain::command, body_error> {
               domain::participant_id who;
               if (auto err = participant_field(f, "participant", who)) return *err;
               return domain::command{domain::cmd::return_to_lobby{me, who}};
             });
  add_action(routes, runtime, visit + "/lobby/message", {"text", "to"},
             [](const auto& me, const auto&,
                const json_fields& f) -> std::variant<domain::command, body_error> {
               std::string text;
               if (auto err = f.string("text", text, domain::max_lobby_message_bytes)) return *err;
               std::optional<domain::participant_id> to;
               if (f.has("to")) {
                 domain::participant_id who;
                 if (auto err = participant_field(f, "to", who)) return *err;
                 to = std::move(who);
               }
               return domain::command{domain::cmd::send_lobby_message{me, to, text}};
             });
  add_action(routes, runtime, visit + "/end", {},
             [](const auto& me, const auto&,
                const json_fields&) -> std::variant<domain::command, body_error> {
               return domain::command{domain::cmd::end{me}};
             });
}

}  // namespace visitd::http
