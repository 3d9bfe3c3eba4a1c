#include "http/audit_routes.hpp"

#include "domain/tenant.hpp"
#include "domain/time_format.hpp"
#include "http/errors.hpp"
#include "http/query_params.hpp"
#include "http/session_auth.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace visitd::http {

namespace {

constexpr std::uint64_t default_limit = 100;
constexpr std::uint64_t max_limit = 1000;

/// The decoded query parameters, or the name of the first one that is not understood.
struct audit_query {
  domain::tenant_id tenant;
  domain::timestamp from{};
  domain::timestamp to = domain::timestamp::max();
  std::uint64_t limit = default_limit;
};

std::variant<audit_query, domain::error> parse_query(std::string_view query) {
  auto bad = [](std::string message) {
    return domain::make_error(domain::errc::invalid_argument, std::move(message));
  };
  auto params = query_params::parse(query, {"tenant", "from", "to", "limit"});
  if (!params) return std::move(params).err();
  audit_query q;
  auto tenant = params->get("tenant");
  if (!tenant) return bad("tenant: is required");
  auto id = domain::tenant_id::parse(*tenant);
  if (!id) return bad("tenant: " + id.err().message);
  q.tenant = std::move(*id);
  for (auto [name, target] : {std::pair{"from", &q.from}, std::pair{"to", &q.to}}) {
    if (auto text = params->get(name)) {
      auto t = domain::parse_rfc3339(*text, name);
      if (!t) return t.err();
      *target = *t;
    }
  }
  if (auto text = params->get("limit")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), q.limit);
    if (ec != std::errc{} || end != text->data() + text->size() || q.limit == 0 ||
        q.limit > max_limit)
      return bad("limit: must be 1.." + std::to_string(max_limit));
  }
  return q;
}

boost::json::object entry_json(const domain::audit_entry& e) {
  return {{"tenant", e.tenant.str()},
          {"actor", e.actor.str()},
          {"action", e.action},
          {"target", e.target},
          {"at", domain::format_rfc3339(e.at)},
          {"before", e.before},
          {"after", e.after}};
}

void answer(actors::runtime& runtime, const audit_query& q, const responder& respond) {
  runtime.read_audit(
    q.tenant, q.from, q.to, q.limit,
    [respond, limit = q.limit](domain::result<std::vector<domain::audit_entry>> entries) {
      if (!entries) return respond(error_response(entries.err()));
      boost::json::array items;
      for (const auto& e : *entries) items.emplace_back(entry_json(e));
      boost::json::object out{{"entries", std::move(items)}};
      if (entries->size() == limit)
        out["next_from"] = domain::format_rfc3339(entries->back().at + domain::duration{1});
      respond(json_response(200, boost::json::serialize(out)));
    });
}

}  // namespace

void add_audit_routes(router& routes, actors::runtime& runtime) {
  routes.add("GET", "/api/v1/audit", [&runtime](request& req, const responder& respond) {
    auto parsed = parse_query(req.query);
    with_session(runtime, req, respond, false,
                 [&runtime, respond, parsed](const actors::session_info& s, const std::string&) {
                   if (const auto* err = std::get_if<domain::error>(&parsed))
                     return respond(error_response(*err));
                   const auto& q = std::get<audit_query>(parsed);
                   auto hidden = [] { return error_response(404, "not_found", "no such tenant"); };
                   if (s.token_tenant && *s.token_tenant != q.tenant) return respond(hidden());
                   if (domain::is_box_tenant(q.tenant)) {
                     if (!s.is_operator) return respond(hidden());
                     return answer(runtime, q, respond);
                   }
                   runtime.get_tenant(
                     q.tenant, [&runtime, respond, s, q, hidden](domain::result<domain::tenant> t) {
                       if (!t) {
                         if (t.err().code == domain::errc::not_found) return respond(hidden());
                         return respond(error_response(t.err()));
                       }
                       if (!s.is_operator && !t->is_admin(s.account)) return respond(hidden());
                       answer(runtime, q, respond);
                     });
                 });
  });
}

}  // namespace visitd::http
