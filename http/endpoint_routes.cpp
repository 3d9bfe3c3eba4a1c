#include "http/endpoint_routes.hpp"

#include "domain/integration_records.hpp"
#include "domain/record_json.hpp"
#include "domain/time_format.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/session_auth.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <functional>
#include <memory>

namespace visitd::http {

namespace {

using body = std::shared_ptr<std::variant<json_fields, body_error>>;

std::optional<body_error> read_settings(const json_fields& f, domain::endpoint_settings& out,
                                        domain::error& invalid) {
  std::string url, environment, client_id, type;
  for (auto err : {f.string("base_url", url, domain::max_base_url_bytes),
                   f.string("environment", environment, 16),
                   f.string("client_id", client_id, domain::max_client_id_bytes),
                   f.string("client_type", type, 64)})
    if (err) return err;
  domain::fhir_environment env{};
  if (environment == "test")
    env = domain::fhir_environment::test;
  else if (environment == "production")
    env = domain::fhir_environment::production;
  else
    return body_error{400, "invalid_field", "environment: must be test or production"};
  domain::client_type ct{};
  if (type == domain::to_string(domain::client_type::public_client))
    ct = domain::client_type::public_client;
  else if (type == domain::to_string(domain::client_type::confidential_private_key_jwt))
    ct = domain::client_type::confidential_private_key_jwt;
  else
    return body_error{
      400, "invalid_field",
      std::string{"client_type: must be "}
        .append(domain::to_string(domain::client_type::public_client))
        .append(" or ")
        .append(domain::to_string(domain::client_type::confidential_private_key_jwt))};
  auto settings = domain::make_endpoint_settings(url, env, client_id, ct);
  if (!settings) {
    invalid = settings.err();
    return body_error{400, "invalid_field", settings.err().message};
  }
  out = std::move(*settings);
  return std::nullopt;
}

auto answer_endpoint(const responder& respond, int status) {
  return [respond, status](domain::result<domain::fhir_endpoint> e) {
    if (!e) return respond(error_response(e.err()));
    respond(json_response(status, boost::json::serialize(domain::endpoint_json(*e))));
  };
}

std::optional<domain::revision_number> revision_param(request& req) {
  const auto& text = req.path_params["revision"];
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  auto r = domain::revision_number::make(n);
  if (!r) return std::nullopt;
  return *r;
}

boost::json::object record_json(const domain::integration_record& r) {
  boost::json::array scopes;
  for (const auto& scope : r.scopes) scopes.emplace_back(scope);
  boost::json::array parameters;
  for (const auto& p : r.ehr_parameters)
    parameters.emplace_back(boost::json::object{{"name", p.name}, {"value", p.value}});
  return {{"kind", domain::to_string(r.kind)},
          {"revision", r.revision.value()},
          {"environment", domain::to_string(r.environment)},
          {"fhir_base_url", r.fhir_base_url},
          {"launch_url", r.launch_url},
          {"redirect_uri", r.redirect_uri},
          {"client_id", r.client_id},
          {"jwks_url", r.jwks_url},
          {"scopes", std::move(scopes)},
          {"scope", r.scope_string()},
          {"ehr_parameters", std::move(parameters)}};
}

}  // namespace

void add_endpoint_routes(router& routes, actors::runtime& runtime,
                         const std::function<std::string()>& public_url) {
  const std::string base = "/api/v1/tenants/{tenant_id}/endpoints";

  routes.add(
    "GET", base + "/{endpoint_id}/revisions/{revision}/integration-records",
    [&runtime, public_url](request& req, const responder& respond) {
      auto endpoint = domain::endpoint_id::parse(req.path_params["endpoint_id"]);
      auto revision = revision_param(req);
      with_tenant_member(
        runtime, req, respond, false,
        [&runtime, respond, endpoint, revision, public_url](const actors::session_info&,
                                                            const domain::tenant& t) {
          auto missing = [] { return error_response(404, "not_found", "no such revision"); };
          if (!endpoint || !revision) return respond(missing());
          runtime.list_endpoints(
            t.id, [respond, t, id = *endpoint, number = *revision, public_url,
                   missing](domain::result<std::vector<domain::fhir_endpoint>> all) {
              if (!all) return respond(error_response(all.err()));
              const auto* e = domain::find_endpoint(*all, id);
              if (e == nullptr) return respond(missing());
              auto records = domain::make_integration_records(t, *e, number, public_url());
              if (!records) return respond(error_response(records.err()));
              boost::json::array items;
              for (const auto& r : *records) items.emplace_back(record_json(r));
              respond(json_response(
                200, boost::json::serialize(boost::json::object{{"records", std::move(items)}})));
            });
        });
    });

  routes.add("GET", base, [&runtime](request& req, const responder& respond) {
    with_tenant_member(
      runtime, req, respond, false,
      [&runtime, respond](const actors::session_info&, const domain::tenant& t) {
        runtime.list_endpoints(
          t.id, [respond](domain::result<std::vector<domain::fhir_endpoint>> all) {
            if (!all) return respond(error_response(all.err()));
            boost::json::array items;
            for (const auto& e : *all) items.emplace_back(domain::endpoint_json(e));
            respond(json_response(
              200, boost::json::serialize(boost::json::object{{"endpoints", items}})));
          });
      });
  });

  routes.add("POST", base, [&runtime](request& req, const responder& respond) {
    body b = std::make_shared<std::variant<json_fields, body_error>>(
      read_json_object(req, {"id", "base_url", "environment", "client_id", "client_type"}));
    with_tenant_member(
      runtime, req, respond, true,
      [&runtime, respond, b](const actors::session_info& s, const domain::tenant& t) {
        if (auto* err = std::get_if<body_error>(b.get())) return respond(error_response(*err));
        const auto& f = std::get<json_fields>(*b);
        std::string id;
        if (auto err = f.string("id", id, 64)) return respond(error_response(*err));
        auto endpoint = domain::endpoint_id::parse(id);
        if (!endpoint)
          return respond(error_response(400, "invalid_field", "id: " + endpoint.err().message));
        domain::endpoint_settings settings;
        domain::error invalid{};
        if (auto err = read_settings(f, settings, invalid)) return respond(error_response(*err));
        runtime.change_endpoint(t.id,
                                actors::endpoint_change::create{s.account, *endpoint, settings},
                                answer_endpoint(respond, 201));
      });
  });

  routes.add(
    "POST", base + "/{endpoint_id}/revisions", [&runtime](request& req, const responder& respond) {
      body b = std::make_shared<std::variant<json_fields, body_error>>(
        read_json_object(req, {"base_url", "environment", "client_id", "client_type"}));
      auto endpoint = domain::endpoint_id::parse(req.path_params["endpoint_id"]);
      with_tenant_member(
        runtime, req, respond, true,
        [&runtime, respond, b, endpoint](const actors::session_info& s, const domain::tenant& t) {
          if (!endpoint) return respond(error_response(404, "not_found", "no such endpoint"));
          if (auto* err = std::get_if<body_error>(b.get())) return respond(error_response(*err));
          domain::endpoint_settings settings;
          domain::error invalid{};
          if (auto err = read_settings(std::get<json_fields>(*b), settings, invalid))
            return respond(error_response(*err));
          runtime.change_endpoint(t.id,
                                  actors::endpoint_change::propose{s.account, *endpoint, settings},
                                  answer_endpoint(respond, 201));
        });
    });

  for (const char* action : {"submit", "approve", "reject"}) {
    routes.add(
      "POST", base + "/{endpoint_id}/revisions/{revision}/" + action,
      [&runtime, action = std::string{action}](request& req, const responder& respond) {
        auto endpoint = domain::endpoint_id::parse(req.path_params["endpoint_id"]);
        auto revision = revision_param(req);
        with_tenant_member(
          runtime, req, respond, true,
          [&runtime, respond, endpoint, revision, action](const actors::session_info& s,
                                                          const domain::tenant& t) {
            if (!endpoint || !revision)
              return respond(error_response(404, "not_found", "no such endpoint revision"));
            if (action == "submit")
              return runtime.change_endpoint(
                t.id, actors::endpoint_change::submit{s.account, *endpoint, *revision},
                answer_endpoint(respond, 200));
            runtime.decide_revision(t.id, *endpoint, *revision, s.account, action == "approve",
                                    answer_endpoint(respond, 200));
          });
      });
  }
}

}  // namespace visitd::http
