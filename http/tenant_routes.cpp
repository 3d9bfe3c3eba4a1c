#include "http/tenant_routes.hpp"

#include "domain/record_json.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/session_auth.hpp"

#include <boost/json.hpp>

#include <memory>

namespace visitd::http {

namespace {

response forbidden(std::string_view what) {
  return error_response(403, "forbidden", std::string{what});
}

/// Parses a body's list of account ids; the error names the field.
domain::result<std::vector<domain::account_id>> account_ids(const std::vector<std::string>& texts,
                                                            std::string_view field) {
  std::vector<domain::account_id> out;
  for (const auto& a : texts) {
    auto parsed = domain::account_id::parse(a);
    if (!parsed)
      return domain::make_error(domain::errc::invalid_argument,
                                std::string{field} + ": " + parsed.err().message);
    out.push_back(std::move(*parsed));
  }
  return out;
}

/// Reads the body of POST /api/v1/tenants into a tenant (the domain checks every field).
domain::result<domain::tenant> tenant_from(const json_fields& fields, body_error& bad) {
  std::string id, name, region, approver, ehr;
  std::vector<std::string> admins;
  for (auto err : {fields.string("id", id, 64), fields.string("display_name", name, 200),
                   fields.string("region", region, 32), fields.strings("admins", admins),
                   fields.string("approver", approver, 64), fields.string("ehr", ehr, 32)}) {
    if (err) {
      bad = *err;
      return domain::make_error(domain::errc::invalid_argument, err->message);
    }
  }
  auto tenant_id = domain::tenant_id::parse(id);
  if (!tenant_id)
    return domain::make_error(domain::errc::invalid_argument, "id: " + tenant_id.err().message);
  auto admin_ids = account_ids(admins, "admins");
  if (!admin_ids) return std::move(admin_ids).err();
  auto approver_id = domain::account_id::parse(approver);
  if (!approver_id)
    return domain::make_error(domain::errc::invalid_argument,
                              "approver: " + approver_id.err().message);
  auto kind = domain::parse_ehr_kind(ehr);
  if (!kind) return std::move(kind).err();
  return domain::make_tenant(std::move(*tenant_id), name, region, std::move(*admin_ids),
                             std::move(*approver_id), *kind);
}

/// The body of PATCH /api/v1/tenants/{id}: the fields to replace, at least one.
std::variant<actors::tenant_change::update, body_error> update_from(
  const std::variant<json_fields, body_error>& body, const domain::account_id& by) {
  if (const auto* err = std::get_if<body_error>(&body)) return *err;
  const auto& f = std::get<json_fields>(body);
  auto invalid = [](std::string message) {
    return body_error{400, "invalid_field", std::move(message)};
  };
  actors::tenant_change::update out{by, {}, {}, {}};
  if (auto err = f.optional_string("display_name", out.display_name, 200)) return *err;
  if (f.has("admins")) {
    std::vector<std::string> admins;
    if (auto err = f.strings("admins", admins)) return *err;
    auto ids = account_ids(admins, "admins");
    if (!ids) return invalid(ids.err().message);
    out.admins = std::move(*ids);
  }
  std::optional<std::string> approver;
  if (auto err = f.optional_string("approver", approver, 64)) return *err;
  if (approver) {
    auto id = domain::account_id::parse(*approver);
    if (!id) return invalid("approver: " + id.err().message);
    out.approver = std::move(*id);
  }
  if (!out.display_name && !out.admins && !out.approver)
    return invalid("display_name: give at least one of display_name, admins, approver");
  return out;
}

using tenant_command_maker =
  std::function<std::variant<actors::tenant_command, body_error>(const domain::account_id&)>;

/// Runs an operator's change of tenant `id` (parsed before any asynchronous step) and answers
/// the tenant after it; 404 for an unknown tenant, 403 for anyone but an operator.
void change_tenant(actors::runtime& runtime, request& req, const responder& respond,
                   tenant_command_maker make_command) {
  auto id = domain::tenant_id::parse(req.path_params["tenant_id"]);
  with_session(runtime, req, respond, true,
               [&runtime, respond, id, make_command = std::move(make_command)](
                 const actors::session_info& s, const std::string&) {
                 if (!s.is_operator) return respond(forbidden("only an operator changes tenants"));
                 if (!id) return respond(error_response(404, "not_found", "no such tenant"));
                 auto command = make_command(s.account);
                 if (const auto* err = std::get_if<body_error>(&command))
                   return respond(error_response(*err));
                 runtime.change_tenant(
                   *id, std::get<actors::tenant_command>(std::move(command)),
                   [respond](domain::result<domain::tenant> t) {
                     if (!t) return respond(error_response(t.err()));
                     respond(json_response(200, boost::json::serialize(domain::tenant_json(*t))));
                   });
               });
}

}  // namespace

void add_tenant_routes(router& routes, actors::runtime& runtime) {
  routes.add("POST", "/api/v1/accounts", [&runtime](request& req, const responder& respond) {
    auto body = std::make_shared<std::variant<json_fields, body_error>>(
      read_json_object(req, {"login", "password", "operator"}));
    with_session(
      runtime, req, respond, true,
      [&runtime, respond, body](const actors::session_info& s, const std::string&) {
        if (!s.is_operator) return respond(forbidden("only an operator creates accounts"));
        if (auto* err = std::get_if<body_error>(body.get())) return respond(error_response(*err));
        const auto& fields = std::get<json_fields>(*body);
        actors::new_account request;
        request.by = s.account;
        std::optional<std::string> password;
        for (auto err : {fields.string("login", request.login, 64),
                         fields.optional_string("password", password, 1024),
                         fields.optional_bool("operator", request.is_operator)})
          if (err) return respond(error_response(*err));
        request.password = password.value_or("");
        runtime.create_account(std::move(request), [respond](domain::result<domain::account> made) {
          if (!made) return respond(error_response(made.err()));
          respond(json_response(201, boost::json::serialize(domain::account_json(*made))));
        });
      });
  });

  routes.add("POST", "/api/v1/tenants", [&runtime](request& req, const responder& respond) {
    auto body = std::make_shared<std::variant<json_fields, body_error>>(
      read_json_object(req, {"id", "display_name", "region", "admins", "approver", "ehr"}));
    with_session(
      runtime, req, respond, true,
      [&runtime, respond, body](const actors::session_info& s, const std::string&) {
        if (!s.is_operator) return respond(forbidden("only an operator creates tenants"));
        if (auto* err = std::get_if<body_error>(body.get())) return respond(error_response(*err));
        body_error bad;
        auto tenant = tenant_from(std::get<json_fields>(*body), bad);
        if (!tenant) {
          if (!bad.message.empty()) return respond(error_response(bad));
          return respond(error_response(tenant.err()));
        }
        auto after = boost::json::serialize(domain::tenant_json(*tenant));
        runtime.create_tenant(
          std::move(*tenant), s.account, std::move(after),
          [respond](domain::result<domain::tenant> made) {
            if (!made) return respond(error_response(made.err()));
            respond(json_response(201, boost::json::serialize(domain::tenant_json(*made))));
          });
      });
  });

  routes.add("GET", "/api/v1/tenants", [&runtime](request& req, const responder& respond) {
    with_session(runtime, req, respond, false,
                 [&runtime, respond](const actors::session_info& s, const std::string&) {
                   if (!s.is_operator) return respond(forbidden("only an operator lists tenants"));
                   runtime.list_tenants([respond](domain::result<std::vector<domain::tenant>> all) {
                     if (!all) return respond(error_response(all.err()));
                     boost::json::array items;
                     for (const auto& t : *all) items.emplace_back(domain::tenant_json(t));
                     respond(json_response(
                       200, boost::json::serialize(boost::json::object{{"tenants", items}})));
                   });
                 });
  });

  routes.add(
    "PATCH", "/api/v1/tenants/{tenant_id}", [&runtime](request& req, const responder& respond) {
      auto body = std::make_shared<std::variant<json_fields, body_error>>(
        read_json_object(req, {"display_name", "admins", "approver"}));
      change_tenant(
        runtime, req, respond,
        [body](const domain::account_id& by) -> std::variant<actors::tenant_command, body_error> {
          auto update = update_from(*body, by);
          if (auto* err = std::get_if<body_error>(&update)) return *err;
          return actors::tenant_command{std::get<actors::tenant_change::update>(std::move(update))};
        });
    });
  for (const auto* action : {"suspend", "reactivate"}) {
    const bool suspend = std::string_view{action} == "suspend";
    routes.add("POST", std::string{"/api/v1/tenants/{tenant_id}/"}.append(action),
               [&runtime, suspend](request& req, const responder& respond) {
                 change_tenant(runtime, req, respond,
                               [suspend](const domain::account_id& by)
                                 -> std::variant<actors::tenant_command, body_error> {
                                 if (suspend) return actors::tenant_change::suspend{by};
                                 return actors::tenant_change::reactivate{by};
                               });
               });
  }

  routes.add("GET", "/api/v1/tenants/{tenant_id}",
             [&runtime](request& req, const responder& respond) {
               auto id = domain::tenant_id::parse(req.path_params["tenant_id"]);
               with_session(
                 runtime, req, respond, false,
                 [&runtime, respond, id](const actors::session_info& s, const std::string&) {
                   auto hidden = [] { return error_response(404, "not_found", "no such tenant"); };
                   if (!id) return respond(hidden());
                   runtime.get_tenant(*id, [respond, s, hidden](domain::result<domain::tenant> t) {
                     if (!t) {
                       if (t.err().code == domain::errc::not_found) return respond(hidden());
                       return respond(error_response(t.err()));
                     }
                     // Someone else's tenant looks exactly like one that does not exist.
                     if (!s.is_operator && !t->is_admin(s.account) && !t->is_approver(s.account))
                       return respond(hidden());
                     respond(json_response(200, boost::json::serialize(domain::tenant_json(*t))));
                   });
                 });
             });
}

}  // namespace visitd::http
