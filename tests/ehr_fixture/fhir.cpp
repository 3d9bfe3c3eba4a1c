// The FHIR R4 endpoint of one test EHR: an unauthenticated CapabilityStatement and
// bearer-protected interactions (read, search-type, create, update) on resources stored in
// memory, written from the FHIR R4 RESTful API page (http.html) and SMART scopes. Interactions
// are a route table keyed by method and path shape; the outage knobs (behaviour fhir_status,
// fhir_delay_ms, fail_after_apply, refuse_connections) wrap them in `fhir()`.

#include "ehr_state.hpp"
#include "form.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <exception>

namespace visitd::test_ehr {

namespace {

/// The resource types this EHR knows and what its CapabilityStatement promises for each.
struct resource_kind {
  std::string_view type;
  bool writable;  // create, update and search-type (visitd's write-back targets)
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

/// One FHIR call after authentication: the token's grant, the path's parts, the query and the
/// log entry the handler may add to.
struct fhir_call {
  ehr_state& ehr;
  const http_request& request;
  const token_record& token;
  const resource_kind& kind;
  std::string type;
  std::string id;  // empty for type-level calls
  std::string query;
  json::object& entry;
};

http_response fhir_json(int status, const json::value& body) {
  return json_response(status, body, "application/fhir+json; charset=utf-8");
}

// -- versions and headers -------------------------------------------------------------

/// meta.versionId of a stored resource (every stored resource has one: see default_meta).
std::string version_of(const json::object& resource) {
  if (const auto* meta = resource.if_contains("meta"); meta && meta->is_object())
    if (auto v = string_member(meta->as_object(), "versionId")) return *v;
  return "1";
}

std::string http_date_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[64];
  auto length = std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return {buffer, length};
}

/// A resource as the answer, with its ETag (FHIR R4 http.html "read" and "Managing Resource
/// Contention": W/"versionId").
http_response with_resource(int status, const json::object& resource) {
  auto r = fhir_json(status, resource);
  r.headers.emplace_back("ETag", "W/\"" + version_of(resource) + "\"");
  return r;
}

std::string location(const ehr_state& ehr, const std::string& type, const std::string& id,
                     const std::string& version) {
  return ehr.fhir_base() + "/" + type + "/" + id + "/_history/" + version;
}

/// The answer to a create or update that stored `resource`: 201 with Location, or 200.
http_response written(const fhir_call& call, int status, const json::object& resource) {
  auto id = string_member(resource, "id").value_or("");
  auto version = version_of(resource);
  auto r = with_resource(status, resource);
  r.headers.emplace_back("Last-Modified", http_date_now());
  if (status == 201) r.headers.emplace_back("Location", location(call.ehr, call.type, id, version));
  call.entry["resource"] = call.type + "/" + id;
  call.entry["version"] = version;
  return r;
}

/// A fresh server-assigned id: 16 characters of [A-Za-z0-9-], unused for `type`.
std::string new_id(const ehr_state& ehr, const std::string& type) {
  const auto of_type = ehr.resources.find(type);
  while (true) {
    auto id = random_urlsafe(12);
    std::replace(id.begin(), id.end(), '_', '-');  // base64url's '_' is not a FHIR id character
    if (of_type == ehr.resources.end() || !of_type->second.count(id)) return id;
  }
}

// -- request bodies -------------------------------------------------------------------------

/// The body of a create or update: FHIR JSON of the path's resource type. Sets `error` when not.
std::optional<json::object> resource_body(const fhir_call& call, http_response& error) {
  auto content_type = call.request.header("content-type");
  auto media = content_type.substr(0, content_type.find(';'));
  media.erase(media.find_last_not_of(" \t") + 1);
  std::transform(media.begin(), media.end(), media.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (media != "application/fhir+json" && media != "application/json") {
    error = operation_outcome(415, "not-supported",
                              "Content-Type must be application/fhir+json (or application/json)");
    return std::nullopt;
  }
  auto value = parse_json(call.request.body);
  if (!value || !value->is_object()) {
    error = operation_outcome(400, "structure", "the body is not a JSON object");
    return std::nullopt;
  }
  auto& body = value->as_object();
  if (string_member(body, "resourceType") != call.type) {
    error = operation_outcome(400, "invalid", "resourceType must be " + call.type);
    return std::nullopt;
  }
  if (auto* meta = body.if_contains("meta"); meta && !meta->is_object()) {
    error = operation_outcome(400, "structure", "meta must be an object");
    return std::nullopt;
  }
  return std::move(body);
}

/// Stamps the server-kept meta elements of a resource about to be stored.
void stamp(json::object& resource, const std::string& version) {
  auto& meta = resource["meta"];
  if (!meta.is_object()) meta = json::object{};
  meta.as_object()["versionId"] = version;
  meta.as_object()["lastUpdated"] = fhir_instant_now();
}

// -- search criteria (_tag, _id) ---------------------------------------------------------------

/// One value of a token parameter: "code" (any system), "system|code", "|code" (no system),
/// "system|" (any code of the system).
struct token_value {
  std::optional<std::string> system;  // nullopt: any system; "": no system
  std::string code;                   // "": any code
};

/// Parameters are ANDed, the comma-separated values of one parameter ORed.
struct criteria {
  std::vector<std::vector<token_value>> tags;
  std::vector<std::vector<std::string>> ids;
};

std::vector<std::string> split_commas(const std::string& value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto comma = value.find(',', start);
    out.push_back(value.substr(start, comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

/// Parses a query string with only _tag and _id; sets `why` when it cannot.
std::optional<criteria> parse_criteria(std::string_view query, std::string& why) {
  auto params = decode_form(query);
  if (!params) {
    why = "malformed query string";
    return std::nullopt;
  }
  criteria out;
  for (const auto& [name, value] : *params) {
    auto values = split_commas(value);
    if (name == "_tag") {
      std::vector<token_value> any_of;
      for (const auto& v : values) {
        auto bar = v.find('|');
        token_value t;
        if (bar == std::string::npos) {
          t.code = v;
        } else {
          t.system = v.substr(0, bar);
          t.code = v.substr(bar + 1);
        }
        if (t.code.empty() && t.system.value_or("").empty()) {
          why = "empty _tag value";
          return std::nullopt;
        }
        any_of.push_back(std::move(t));
      }
      out.tags.push_back(std::move(any_of));
    } else if (name == "_id") {
      for (const auto& v : values)
        if (!is_fhir_id(v)) {
          why = "_id value is not a FHIR id";
          return std::nullopt;
        }
      out.ids.push_back(std::move(values));
    } else {
      why = "search parameter " + name + " is not supported (only _tag and _id)";
      return std::nullopt;
    }
  }
  return out;
}

bool tag_matches(const json::object& resource, const token_value& wanted) {
  const auto* meta = resource.if_contains("meta");
  if (!meta || !meta->is_object()) return false;
  const auto* tags = meta->as_object().if_contains("tag");
  if (!tags || !tags->is_array()) return false;
  for (const auto& tag : tags->as_array()) {
    if (!tag.is_object()) continue;
    auto system = string_member(tag.as_object(), "system");
    auto code = string_member(tag.as_object(), "code");
    if (wanted.system && *wanted.system != system.value_or("")) continue;
    if (!wanted.code.empty() && wanted.code != code) continue;
    return true;
  }
  return false;
}

bool matches(const json::object& resource, const std::string& id, const criteria& c) {
  for (const auto& any_of : c.ids)
    if (std::find(any_of.begin(), any_of.end(), id) == any_of.end()) return false;
  for (const auto& any_of : c.tags)
    if (std::none_of(any_of.begin(), any_of.end(),
                     [&](const token_value& t) { return tag_matches(resource, t); }))
      return false;
  return true;
}

/// The stored resources of `type` matching `c`, in id order.
std::vector<const json::object*> find_matching(const ehr_state& ehr, const std::string& type,
                                               const criteria& c) {
  std::vector<const json::object*> out;
  auto of_type = ehr.resources.find(type);
  if (of_type == ehr.resources.end()) return out;
  for (const auto& [id, resource] : of_type->second)
    if (matches(resource, id, c)) out.push_back(&resource);
  return out;
}

// -- interactions -----------------------------------------------------------------------

http_response forbidden(const fhir_call& call, const char* what) {
  return operation_outcome(
    403, "forbidden",
    std::string{"the access token's scopes do not allow "} + what + " " + call.type);
}

http_response not_supported(const fhir_call& call, const char* what) {
  auto r = operation_outcome(405, "not-supported", call.type + " does not support " + what);
  r.headers.emplace_back("Allow", "GET");
  return r;
}

http_response read(fhir_call& call) {
  if (!scopes_permit(call.token.scopes, call.type, 'r')) return forbidden(call, "reading");
  auto of_type = call.ehr.resources.find(call.type);
  if (of_type == call.ehr.resources.end())
    return operation_outcome(404, "not-found", call.type + "/" + call.id + " not found");
  auto found = of_type->second.find(call.id);
  if (found == of_type->second.end())
    return operation_outcome(404, "not-found", call.type + "/" + call.id + " not found");
  return with_resource(200, found->second);
}

http_response search(fhir_call& call) {
  if (!call.kind.writable) return not_supported(call, "search");
  if (!scopes_permit(call.token.scopes, call.type, 's')) return forbidden(call, "searching");
  std::string why;
  auto c = parse_criteria(call.query, why);
  if (!c) return operation_outcome(400, "not-supported", why);
  json::array entries;
  for (const auto* resource : find_matching(call.ehr, call.type, *c)) {
    auto id = string_member(*resource, "id").value_or("");
    entries.push_back(json::object{{"fullUrl", call.ehr.fhir_base() + "/" + call.type + "/" + id},
                                   {"resource", *resource},
                                   {"search", json::object{{"mode", "match"}}}});
  }
  auto self = call.ehr.fhir_base() + "/" + call.type;
  if (!call.query.empty()) self += "?" + call.query;
  auto total = entries.size();
  return fhir_json(
    200, json::object{{"resourceType", "Bundle"},
                      {"type", "searchset"},
                      {"total", total},
                      {"link", json::array{json::object{{"relation", "self"}, {"url", self}}}},
                      {"entry", std::move(entries)}});
}

http_response create(fhir_call& call) {
  if (!call.kind.writable) return not_supported(call, "create");
  if (!scopes_permit(call.token.scopes, call.type, 'c')) return forbidden(call, "creating");
  http_response error;
  auto body = resource_body(call, error);
  if (!body) return error;

  if (auto condition = call.request.headers.find("if-none-exist");
      condition != call.request.headers.end()) {
    if (!call.ehr.knobs.conditional_create)
      return operation_outcome(400, "not-supported",
                               "conditional create not supported (behaviour conditional_create)");
    std::string why;
    auto c = parse_criteria(condition->second, why);
    if (!c) return operation_outcome(400, "invalid", "If-None-Exist: " + why);
    if (c->tags.empty() && c->ids.empty())
      return operation_outcome(400, "invalid", "If-None-Exist has no search parameter");
    auto found = find_matching(call.ehr, call.type, *c);
    if (found.size() > 1)
      return operation_outcome(
        412, "duplicate",
        "If-None-Exist matches " + std::to_string(found.size()) + " " + call.type + " resources");
    if (found.size() == 1) {
      // R4 http.html "conditional create": one match, the server ignores the post and answers 200.
      const auto& existing = *found.front();
      auto id = string_member(existing, "id").value_or("");
      auto r = with_resource(200, existing);
      r.headers.emplace_back("Location", location(call.ehr, call.type, id, version_of(existing)));
      call.entry["outcome"] = "exists";
      call.entry["resource"] = call.type + "/" + id;
      call.entry["version"] = version_of(existing);
      return r;
    }
  }

  // R4 http.html "create": the server assigns the id and ignores one sent in the body.
  auto id = new_id(call.ehr, call.type);
  (*body)["id"] = id;
  stamp(*body, "1");
  auto& stored = call.ehr.resources[call.type][id];
  stored = std::move(*body);
  call.entry["outcome"] = "created";
  return written(call, 201, stored);
}

/// The version named by If-Match: W/"n" or "n". nullopt when malformed.
std::optional<std::string> if_match_version(std::string_view value) {
  if (value.substr(0, 2) == "W/") value.remove_prefix(2);
  if (value.size() < 3 || value.front() != '"' || value.back() != '"') return std::nullopt;
  value = value.substr(1, value.size() - 2);
  if (value.find('"') != std::string_view::npos) return std::nullopt;
  return std::string{value};
}

http_response update(fhir_call& call) {
  if (!call.kind.writable) return not_supported(call, "update");
  if (!scopes_permit(call.token.scopes, call.type, 'u')) return forbidden(call, "updating");
  auto if_match = call.request.headers.find("if-match");  // logged by interact()
  bool has_if_match = if_match != call.request.headers.end();
  http_response error;
  auto body = resource_body(call, error);
  if (!body) return error;
  // R4 http.html "update": no id, or one that differs from the URL, is a 400.
  if (string_member(*body, "id") != call.id)
    return operation_outcome(400, "invalid", "the body's id must be the id in the URL");
  std::optional<std::string> wanted;
  if (has_if_match) {
    wanted = if_match_version(if_match->second);
    if (!wanted) return operation_outcome(400, "invalid", "If-Match must be W/\"<versionId>\"");
  }

  auto& of_type = call.ehr.resources[call.type];
  auto existing = of_type.find(call.id);
  if (existing == of_type.end()) {
    // R4 http.html "update": no update-as-create (updateCreate false) is a 405.
    if (!call.ehr.knobs.update_create)
      return operation_outcome(
        405, "not-supported",
        call.type + "/" + call.id + " does not exist and updateCreate is false");
    if (wanted)
      return operation_outcome(412, "conflict",
                               call.type + "/" + call.id + " does not exist; If-Match cannot hold");
    stamp(*body, "1");
    auto& stored = of_type[call.id];
    stored = std::move(*body);
    call.entry["outcome"] = "created";
    return written(call, 201, stored);
  }

  auto current = version_of(existing->second);
  if (wanted && *wanted != current)
    return operation_outcome(
      412, "conflict",
      "If-Match " + if_match->second + " but the current version is W/\"" + current + "\"");
  if (!wanted && call.ehr.knobs.require_if_match)
    return operation_outcome(412, "conflict",
                             "an update needs If-Match (behaviour require_if_match)");
  // versionId is always a decimal string here (default_meta, stamp).
  stamp(*body, std::to_string(std::stoll(current) + 1));
  existing->second = std::move(*body);
  call.entry["outcome"] = "updated";
  return written(call, 200, existing->second);
}

enum class shape { type, instance };

struct fhir_route {
  std::string_view method;
  enum shape shape;
  http_response (*handler)(fhir_call&);
};

constexpr std::array<fhir_route, 4> routes{{{"GET", shape::instance, read},
                                            {"GET", shape::type, search},
                                            {"POST", shape::type, create},
                                            {"PUT", shape::instance, update}}};

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
    if (k.writable) {
      interactions.push_back(json::object{{"code", "create"}});
      interactions.push_back(json::object{{"code", "update"}});
      interactions.push_back(json::object{{"code", "search-type"}});
      r["versioning"] = "versioned-update";
      r["updateCreate"] = ehr.knobs.update_create;
      r["conditionalCreate"] = ehr.knobs.conditional_create;
      r["conditionalUpdate"] = false;
      r["conditionalDelete"] = "not-supported";
      r["searchParam"] = json::array{json::object{{"name", "_tag"}, {"type", "token"}},
                                     json::object{{"name", "_id"}, {"type", "token"}}};
    } else {
      r["versioning"] = "versioned";
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

// -- outage knobs ---------------------------------------------------------------------------

/// behaviour fhir_status: the write answers this and applies nothing.
http_response outage(const behaviour& knobs) {
  auto status = knobs.fhir_status;
  auto code = status == 429 ? "throttled" : status >= 500 ? "transient" : "processing";
  auto r = operation_outcome(status, code,
                             "simulated failure (behaviour fhir_status=" + std::to_string(status) +
                               "); nothing was applied");
  if (knobs.retry_after_seconds > 0 && (status == 429 || status == 503))
    r.headers.emplace_back("Retry-After", std::to_string(knobs.retry_after_seconds));
  return r;
}

/// One FHIR interaction, start to end (after any delay). `path` has no query.
http_response interact(ehr_state& ehr, const http_request& request, std::string_view path,
                       const std::string& query, std::int64_t delay_ms) {
  std::vector<std::string> segments;
  while (!path.empty()) {
    auto slash = path.find('/');
    segments.emplace_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
  }
  json::object entry{{"endpoint", "fhir"}, {"method", request.method}, {"path", request.target}};
  if (delay_ms > 0) entry["delay_ms"] = delay_ms;
  auto done = [&](http_response r) {
    entry["status"] = r.status;
    ehr.record(std::move(entry));
    return r;
  };

  if (segments.size() == 1 && segments[0] == "metadata") {
    if (request.method != "GET") return done(operation_outcome(405, "not-supported", "GET only"));
    return done(capability_statement(ehr));
  }
  const auto* kind = segments.empty() ? nullptr : find_kind(segments[0]);
  if (!kind || segments.size() > 2 || (segments.size() == 2 && !is_fhir_id(segments[1])))
    return done(operation_outcome(404, "not-supported", "no such FHIR endpoint"));

  bool write = request.method == "POST" || request.method == "PUT";
  if (write) {
    if (auto c = request.headers.find("if-none-exist"); c != request.headers.end())
      entry["if_none_exist"] = c->second;
    if (request.method == "PUT") {
      auto m = request.headers.find("if-match");
      entry["if_match"] =
        m == request.headers.end() ? json::value(nullptr) : json::value(m->second);
    }
  }
  if (write && ehr.knobs.fhir_status != 0) {
    entry["behaviour"] = "fhir_status";
    return done(outage(ehr.knobs));
  }

  const auto* token = bearer(ehr, request);
  if (!token) {
    auto r =
      operation_outcome(401, "login", "a valid bearer access token from this EHR is required");
    r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="fhir", error="invalid_token")");
    return done(std::move(r));
  }
  entry["client_id"] = token->client_id;
  fhir_call call{ehr,   request,     *token,
                 *kind, segments[0], segments.size() == 2 ? segments[1] : "",
                 query, entry};
  auto want = segments.size() == 2 ? shape::instance : shape::type;
  for (const auto& route : routes) {
    if (route.method != request.method || route.shape != want) continue;
    auto r = route.handler(call);
    if (write && r.status >= 200 && r.status < 300 && ehr.knobs.fail_after_apply > 0) {
      // The write stays applied; only the answer says it failed.
      --ehr.knobs.fail_after_apply;
      entry["behaviour"] = "fail_after_apply";
      entry["applied_status"] = r.status;
      return done(operation_outcome(
        500, "exception", "simulated failure after the write was applied (fail_after_apply)"));
    }
    return done(std::move(r));
  }
  return done(
    operation_outcome(405, "not-supported", request.method + " is not supported on this path"));
}

}  // namespace

void fhir(ehr_state& ehr, const fixture_services& services, const http_request& request,
          std::string_view path, reply_fn reply) {
  auto question = path.find('?');
  std::string query{question == std::string_view::npos ? std::string_view{}
                                                       : path.substr(question + 1)};
  path = path.substr(0, question);

  if (ehr.knobs.refuse_connections) {
    ehr.record({{"endpoint", "fhir"},
                {"method", request.method},
                {"path", request.target},
                {"behaviour", "refuse_connections"},
                {"outcome", "dropped"}});
    http_response dropped;
    dropped.drop_connection = true;
    return reply(std::move(dropped));
  }

  auto delay = ehr.knobs.fhir_delay_ms;
  if (delay <= 0 || path == "metadata") return reply(interact(ehr, request, path, query, 0));
  // The whole interaction (token check, knobs, the write) happens when the delay ends, as if the
  // request had arrived then: a client that gave up meanwhile still finds the write applied
  // afterwards, never before.
  services.after(std::chrono::milliseconds{delay},
                 [&ehr, request, path = std::string{path}, query = std::move(query), delay,
                  reply = std::move(reply)] {
                   http_response r;
                   try {
                     r = interact(ehr, request, path, query, delay);
                   } catch (const std::exception& e) {
                     r = operation_outcome(500, "exception", e.what());
                   }
                   reply(std::move(r));
                 });
}

}  // namespace visitd::test_ehr
