// The FHIR R4 endpoint of one test EHR: an unauthenticated CapabilityStatement and
// bearer-protected interactions on resources stored through the control API. Interactions are a
// route table keyed by method and path shape, so create/update can be added as rows.

#include "ehr_state.hpp"

#include <array>
#include <ctime>

namespace visitd::test_ehr {

namespace {

/// The resource types this EHR knows and what its CapabilityStatement promises for each.
struct resource_kind {
  std::string_view type;
  bool create_update;  // advertised: create and update (implemented by a later task)
};
constexpr std::array<resource_kind, 5> kinds{{{"Encounter", true},
                                              {"Appointment", true},
                                              {"AuditEvent", true},
                                              {"Patient", false},
                                              {"Practitioner", false}}};

const resource_kind* find_kind(std::string_view type) {
  for (const auto& k : kinds)
    if (k.type == type) return &k;
  return nullptr;
}

/// One FHIR call after authentication: the token's grant and the path's parts.
struct fhir_call {
  ehr_state& ehr;
  const http_request& request;
  const token_record& token;
  std::string type;
  std::string id;  // empty for type-level calls
};

http_response fhir_json(int status, const json::value& body) {
  return json_response(status, body, "application/fhir+json; charset=utf-8");
}

// -- interactions -----------------------------------------------------------------

http_response read(const fhir_call& call) {
  if (!scopes_permit(call.token.scopes, call.type, 'r'))
    return operation_outcome(403, "forbidden",
                             "the access token's scopes do not allow reading " + call.type);
  auto of_type = call.ehr.resources.find(call.type);
  if (of_type == call.ehr.resources.end())
    return operation_outcome(404, "not-found", call.type + "/" + call.id + " not found");
  auto found = of_type->second.find(call.id);
  if (found == of_type->second.end())
    return operation_outcome(404, "not-found", call.type + "/" + call.id + " not found");
  return fhir_json(200, found->second);
}

enum class shape { type, instance };

struct fhir_route {
  std::string_view method;
  enum shape shape;
  http_response (*handler)(const fhir_call&);
};

// A later task adds {"POST", shape::type, create} and {"PUT", shape::instance, update}.
constexpr std::array<fhir_route, 1> routes{{{"GET", shape::instance, read}}};

// -- CapabilityStatement ------------------------------------------------------------

std::string today() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d", &utc);
  return buffer;
}

http_response capability_statement(const ehr_state& ehr) {
  json::array resources;
  for (const auto& k : kinds) {
    json::array interactions{json::object{{"code", "read"}}};
    json::object r{{"type", k.type}};
    if (k.create_update) {
      interactions.push_back(json::object{{"code", "create"}});
      interactions.push_back(json::object{{"code", "update"}});
      r["updateCreate"] = ehr.knobs.update_create;
    }
    r["interaction"] = std::move(interactions);
    resources.push_back(std::move(r));
  }
  json::object security{
    {"extension",
     json::array{json::object{
       {"url", "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"},
       {"extension",
        json::array{json::object{{"url", "authorize"}, {"valueUri", ehr.authorize_endpoint()}},
                    json::object{{"url", "token"}, {"valueUri", ehr.token_endpoint()}}}}}}},
    {"service",
     json::array{json::object{
       {"coding", json::array{json::object{
                    {"system", "http://terminology.hl7.org/CodeSystem/restful-security-service"},
                    {"code", "SMART-on-FHIR"}}}}}}}};
  std::string description = "visitd test EHR ";
  description.append(ehr.name);
  return fhir_json(
    200, json::object{
           {"resourceType", "CapabilityStatement"},
           {"status", "active"},
           {"date", today()},
           {"kind", "instance"},
           {"fhirVersion", "4.0.1"},
           {"format", json::array{"json"}},
           {"implementation", json::object{{"description", description}, {"url", ehr.fhir_base()}}},
           {"rest", json::array{json::object{{"mode", "server"},
                                             {"security", std::move(security)},
                                             {"resource", std::move(resources)}}}}});
}

/// The live token named by "Authorization: Bearer <token>", or nullptr.
const token_record* bearer(const ehr_state& ehr, const http_request& request) {
  auto header = request.header("authorization");
  if (header.size() <= 7) return nullptr;
  auto scheme = header.substr(0, 7);
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") return nullptr;
  auto value = header.substr(7);
  auto found = ehr.tokens.find(value);
  if (found == ehr.tokens.end() || found->second.revoked || steady::now() >= found->second.expires)
    return nullptr;
  return &found->second;
}

}  // namespace

http_response fhir(ehr_state& ehr, const http_request& request, std::string_view path) {
  path = path.substr(0, path.find('?'));  // search parameters (e.g. _format) are ignored
  std::vector<std::string> segments;
  while (!path.empty()) {
    auto slash = path.find('/');
    segments.emplace_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
  }
  json::object entry{{"endpoint", "fhir"}, {"method", request.method}, {"path", request.target}};
  auto done = [&](http_response r) {
    entry["status"] = r.status;
    ehr.record(std::move(entry));
    return r;
  };

  if (segments.size() == 1 && segments[0] == "metadata") {
    if (request.method != "GET") return done(operation_outcome(405, "not-supported", "GET only"));
    return done(capability_statement(ehr));
  }
  if (segments.empty() || segments.size() > 2 || !find_kind(segments[0]) ||
      (segments.size() == 2 && !is_fhir_id(segments[1])))
    return done(operation_outcome(404, "not-supported", "no such FHIR endpoint"));

  const auto* token = bearer(ehr, request);
  if (!token) {
    auto r =
      operation_outcome(401, "login", "a valid bearer access token from this EHR is required");
    r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="fhir", error="invalid_token")");
    return done(std::move(r));
  }
  entry["client_id"] = token->client_id;
  fhir_call call{ehr, request, *token, segments[0], segments.size() == 2 ? segments[1] : ""};
  auto want = segments.size() == 2 ? shape::instance : shape::type;
  for (const auto& route : routes)
    if (route.method == request.method && route.shape == want) return done(route.handler(call));
  return done(
    operation_outcome(405, "not-supported", request.method + " is not supported on this path"));
}

}  // namespace visitd::test_ehr
