// Routing of the test EHR, its control API and the helpers the endpoints share.

#include "fixture.hpp"

#include "ehr_state.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <exception>
#include <thread>

namespace visitd::test_ehr {

// -- shared helpers ---------------------------------------------------------------

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

http_response json_response(int status, const json::value& body, const std::string& content_type) {
  http_response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", content_type);
  r.body = json::serialize(body);
  return r;
}

http_response oauth_error(const std::string& error, const std::string& description) {
  auto r = json_response(error == "invalid_client" ? 401 : 400,
                         json::object{{"error", error}, {"error_description", description}});
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Pragma", "no-cache");
  return r;
}

http_response operation_outcome(int status, const std::string& code,
                                const std::string& diagnostics) {
  return json_response(
    status,
    json::object{
      {"resourceType", "OperationOutcome"},
      {"issue", json::array{json::object{
                  {"severity", "error"}, {"code", code}, {"diagnostics", diagnostics}}}}},
    "application/fhir+json; charset=utf-8");
}

std::optional<json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  auto value = json::parse(text, ec, {}, options);
  if (ec) return std::nullopt;
  return value;
}

std::optional<std::string> string_member(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string{v->get_string()};
}

std::string fhir_instant_now() {
  auto now = std::chrono::system_clock::now();
  auto millis =
    std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  auto length = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out(buffer, length);
  char fraction[8];
  std::snprintf(fraction, sizeof fraction, ".%03dZ", static_cast<int>(millis));
  return out + fraction;
}

bool default_meta(json::object& resource) {
  auto* meta = resource.if_contains("meta");
  if (meta && !meta->is_object()) return false;
  if (meta) {
    if (auto* version = meta->as_object().if_contains("versionId")) {
      if (!version->is_string()) return false;
      auto v = version->get_string();
      if (v.empty() || v.size() > 9 ||
          !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    }
  }
  auto& m = resource["meta"];
  if (!m.is_object()) m = json::object{};
  auto& o = m.as_object();
  if (!o.contains("versionId")) o["versionId"] = "1";
  if (!o.contains("lastUpdated")) o["lastUpdated"] = fhir_instant_now();
  return true;
}

bool is_fhir_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

bool is_resource_type(std::string_view type) {
  return !type.empty() && type.size() <= 64 && type[0] >= 'A' && type[0] <= 'Z' &&
         std::all_of(type.begin(), type.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

bool is_relative_reference(std::string_view reference) {
  auto slash = reference.find('/');
  return slash != std::string_view::npos && is_resource_type(reference.substr(0, slash)) &&
         is_fhir_id(reference.substr(slash + 1));
}

// -- ehr_state ----------------------------------------------------------------------

void ehr_state::record(json::object entry) {
  entry["seq"] = next_seq_++;
  entry["time"] = unix_now();
  log_.push_back(std::move(entry));
  if (log_.size() > max_log) log_.erase(log_.begin());
}

void ehr_state::expire() {
  auto now = steady::now();
  std::erase_if(launches, [&](const auto& l) { return l.second.expires <= now; });
  // Spent and expired codes are kept a while so a replay is still recognised (and revokes).
  std::erase_if(codes,
                [&](const auto& c) { return c.second.expires + std::chrono::minutes{10} <= now; });
  std::erase_if(tokens, [&](const auto& t) { return t.second.expires <= now; });
  auto unix = unix_now();
  for (auto& [id, client] : clients)
    std::erase_if(client.seen_jti, [&](const auto& j) { return j.second < unix; });
}

namespace {

// -- the control API --------------------------------------------------------------------

http_response control_error(int status, const std::string& detail) {
  return json_response(status, json::object{{"error", detail}});
}

std::optional<std::int64_t> integer(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v.get_uint64());
  return std::nullopt;
}

/// Parses a control request body that must be a JSON object; sets `error` otherwise.
std::optional<json::object> object_body(const http_request& request, http_response& error) {
  auto value = parse_json(request.body);
  if (!value) {
    error = control_error(400, "body is not valid JSON");
    return std::nullopt;
  }
  if (!value->is_object()) {
    error = control_error(400, "body must be a JSON object");
    return std::nullopt;
  }
  return std::move(value->as_object());
}

/// The first member of `o` not in `allowed`, or "" (typos in tests fail loudly).
std::string unknown_member(const json::object& o, std::initializer_list<std::string_view> allowed) {
  for (const auto& member : o)
    if (std::find(allowed.begin(), allowed.end(), member.key()) == allowed.end())
      return std::string{member.key()};
  return {};
}

bool is_client_id(std::string_view id) {
  return !id.empty() && id.size() <= 256 &&
         std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

http_response register_client(ehr_state& ehr, const http_request& request) {
  http_response error;
  auto body = object_body(request, error);
  if (!body) return error;
  if (auto u = unknown_member(
        *body, {"client_id", "type", "redirect_uris", "jwks", "jwks_url", "jwks_url_ca_pem"});
      !u.empty())
    return control_error(400, "unknown member " + u);
  client_registration client;
  auto id = string_member(*body, "client_id");
  if (!id || !is_client_id(*id)) return control_error(400, "client_id must be 1-256 visible ASCII");
  client.client_id = *id;
  auto type = string_member(*body, "type");
  if (type != std::optional<std::string>{"public"} &&
      type != std::optional<std::string>{"confidential"})
    return control_error(400, "type must be public or confidential");
  client.confidential = *type == "confidential";
  if (auto* uris = body->if_contains("redirect_uris")) {
    if (!uris->is_array()) return control_error(400, "redirect_uris must be an array");
    for (const auto& u : uris->as_array()) {
      if (!u.is_string()) return control_error(400, "redirect_uris must hold strings");
      std::string uri{u.get_string()};
      auto parsed = boost::urls::parse_absolute_uri(uri);
      if (!parsed)
        return control_error(400, "redirect_uri is not an absolute URI without fragment: " + uri);
      client.redirect_uris.push_back(std::move(uri));
    }
  }
  if (auto* set = body->if_contains("jwks")) {
    if (!set->is_object() || !set->as_object().contains("keys") ||
        !set->as_object().at("keys").is_array())
      return control_error(400, "jwks must be a JWK Set {\"keys\":[...]}");
    client.jwks = set->as_object();
  }
  if (auto* url = body->if_contains("jwks_url")) {
    auto ca = string_member(*body, "jwks_url_ca_pem");
    if (!url->is_string() || !ca || ca->empty())
      return control_error(400, "jwks_url must be a string, with jwks_url_ca_pem");
    client.jwks_url = url->get_string();
    client.jwks_url_ca_pem = *ca;
  } else if (body->contains("jwks_url_ca_pem")) {
    return control_error(400, "jwks_url_ca_pem without jwks_url");
  }
  bool inline_keys = client.jwks.has_value();
  bool remote_keys = !client.jwks_url.empty();
  bool has_keys = inline_keys || remote_keys;
  if (client.confidential && inline_keys == remote_keys)
    return control_error(400, "a confidential client needs exactly one of jwks and jwks_url");
  if (!client.confidential && has_keys) return control_error(400, "a public client has no keys");
  if (!client.confidential && client.redirect_uris.empty())
    return control_error(400, "a public client needs redirect_uris");
  ehr.clients[client.client_id] = client;
  return json_response(201, json::object{{"client_id", client.client_id}});
}

http_response create_launch(ehr_state& ehr, const http_request& request) {
  http_response error;
  auto body = object_body(request, error);
  if (!body) return error;
  if (auto u =
        unknown_member(*body, {"fhirUser", "patient", "encounter", "appointment", "ttl_seconds"});
      !u.empty())
    return control_error(400, "unknown member " + u);
  launch_record launch;
  auto user = string_member(*body, "fhirUser");
  if (!user || !is_relative_reference(*user))
    return control_error(400, "fhirUser must be a reference such as Practitioner/p1");
  launch.context.fhir_user = *user;
  for (auto [key, slot] : {std::pair{"patient", &launch.context.patient},
                           std::pair{"encounter", &launch.context.encounter},
                           std::pair{"appointment", &launch.context.appointment}}) {
    if (!body->contains(key)) continue;
    auto value = string_member(*body, key);
    if (!value || !is_fhir_id(*value))
      return control_error(400, std::string{key} + " must be a FHIR id");
    *slot = *value;
  }
  std::int64_t ttl = 300;
  if (auto* t = body->if_contains("ttl_seconds")) {
    auto n = integer(*t);
    if (!n || *n < 1 || *n > 86400) return control_error(400, "ttl_seconds must be 1-86400");
    ttl = *n;
  }
  launch.expires = steady::now() + std::chrono::seconds{ttl};
  auto id = random_urlsafe(16);
  ehr.launches[id] = launch;
  return json_response(201, json::object{{"launch", id}});
}

json::object behaviour_json(const behaviour& b) {
  return {{"authorize", b.authorize},
          {"user", b.user},
          {"patient", b.patient},
          {"smart_configuration", b.smart_configuration},
          {"id_token", b.id_token},
          {"code_ttl_seconds", b.code_ttl_seconds},
          {"update_create", b.update_create},
          {"conditional_create", b.conditional_create},
          {"require_if_match", b.require_if_match},
          {"fhir_status", b.fhir_status},
          {"retry_after_seconds", b.retry_after_seconds},
          {"fhir_delay_ms", b.fhir_delay_ms},
          {"fail_after_apply", b.fail_after_apply},
          {"refuse_connections", b.refuse_connections},
          {"token_status", b.token_status}};
}

http_response merge_behaviour(ehr_state& ehr, const http_request& request) {
  http_response error;
  auto body = object_body(request, error);
  if (!body) return error;
  behaviour next = ehr.knobs;  // validated as a whole, applied only when all is well
  auto flag = [](const json::value& v, bool& slot) {
    if (!v.is_bool()) return false;
    slot = v.get_bool();
    return true;
  };
  auto in_range = [](const json::value& v, std::int64_t low, std::int64_t high,
                     std::int64_t& slot) {
    auto n = integer(v);
    if (!n || *n < low || *n > high) return false;
    slot = *n;
    return true;
  };
  // 0 (off) or an HTTP error status.
  auto error_status = [](const json::value& v, int& slot) {
    auto n = integer(v);
    if (!n || (*n != 0 && (*n < 400 || *n > 599))) return false;
    slot = static_cast<int>(*n);
    return true;
  };
  auto one_of = [&](std::string_view key, std::initializer_list<std::string_view> values,
                    std::string& slot) -> bool {
    auto v = string_member(*body, key);
    if (!v || std::find(values.begin(), values.end(), *v) == values.end()) return false;
    slot = *v;
    return true;
  };
  for (const auto& member : *body) {
    auto key = member.key();
    bool ok = true;
    if (key == "authorize") {
      ok = one_of(key, {"consent", "deny"}, next.authorize);
    } else if (key == "user") {
      auto v = string_member(*body, key);
      ok = v && is_relative_reference(*v);
      if (ok) next.user = *v;
    } else if (key == "patient") {
      auto v = string_member(*body, key);
      ok = member.value().is_null() || (v && (v->empty() || is_fhir_id(*v)));
      if (ok) next.patient = v.value_or("");
    } else if (key == "smart_configuration") {
      ok = one_of(key, {"ok", "missing", "no_s256", "plain_only", "bad_json"},
                  next.smart_configuration);
    } else if (key == "id_token") {
      ok = one_of(
        key, {"ok", "tamper", "wrong_aud", "wrong_iss", "expired", "wrong_nonce", "unknown_kid"},
        next.id_token);
    } else if (key == "code_ttl_seconds") {
      auto n = integer(member.value());
      ok = n && *n >= 0 && *n <= 86400;
      if (ok) next.code_ttl_seconds = *n;
    } else if (key == "update_create") {
      ok = flag(member.value(), next.update_create);
    } else if (key == "conditional_create") {
      ok = flag(member.value(), next.conditional_create);
    } else if (key == "require_if_match") {
      ok = flag(member.value(), next.require_if_match);
    } else if (key == "fhir_status") {
      ok = error_status(member.value(), next.fhir_status);
    } else if (key == "retry_after_seconds") {
      ok = in_range(member.value(), 0, 86400, next.retry_after_seconds);
    } else if (key == "fhir_delay_ms") {
      ok = in_range(member.value(), 0, 60000, next.fhir_delay_ms);
    } else if (key == "fail_after_apply") {
      ok = in_range(member.value(), 0, 1000000, next.fail_after_apply);
    } else if (key == "refuse_connections") {
      ok = flag(member.value(), next.refuse_connections);
    } else if (key == "token_status") {
      ok = error_status(member.value(), next.token_status);
    } else {
      return control_error(400, "unknown behaviour " + std::string{key});
    }
    if (!ok) return control_error(400, "bad value for behaviour " + std::string{key});
  }
  ehr.knobs = next;
  return json_response(200, behaviour_json(ehr.knobs));
}

http_response put_resource(ehr_state& ehr, const http_request& request, const std::string& type,
                           const std::string& id) {
  if (!is_resource_type(type) || !is_fhir_id(id))
    return control_error(400, "bad resource type or id");
  http_response error;
  auto body = object_body(request, error);
  if (!body) return error;
  if (string_member(*body, "resourceType") != type)
    return control_error(400, "resourceType must be " + type);
  if (auto* given = body->if_contains("id");
      given && (!given->is_string() || given->get_string() != id))
    return control_error(400, "id in the body differs from the path");
  (*body)["id"] = id;
  if (!default_meta(*body))
    return control_error(400, "meta must be an object and meta.versionId a decimal string");
  ehr.resources[type][id] = std::move(*body);
  return json_response(201, ehr.resources[type][id]);
}

bool is_file_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && name[0] != '.' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_';
         });
}

bool is_ehr_name(std::string_view name) {
  return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

/// Splits "/a/b/c" into {"a","b","c"}; an empty segment (a double or trailing slash) fails.
std::optional<std::vector<std::string>> split_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<std::string> out;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    auto segment = path.substr(0, slash);
    if (segment.empty()) return std::nullopt;
    out.emplace_back(segment);
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

// -- the handler ------------------------------------------------------------------------

class fixture final : public http_handler {
public:
  fixture(std::string origin, const signing_key& key, post_fn post, after_fn after)
    : origin_(std::move(origin)) {
    services_.key = &key;
    services_.post = std::move(post);
    services_.after = std::move(after);
    services_.run_blocking = [this](std::function<void()> work) { start_worker(std::move(work)); };
  }

  ~fixture() override {
    for (auto& w : workers_) w.thread.join();
  }

  void handle(http_request request, reply_fn reply) override {
    try {
      route(request, reply);
    } catch (const std::exception& e) {
      reply(json_response(500, json::object{{"error", "server_error"}, {"detail", e.what()}}));
    }
  }

private:
  struct worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  static constexpr std::size_t max_ehrs = 4096;

  void start_worker(std::function<void()> work) {
    std::erase_if(workers_, [](worker& w) {
      if (!w.done->load()) return false;
      w.thread.join();
      return true;
    });
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back({std::thread{[work = std::move(work), done] {
                          try {
                            work();
                          } catch (...) {  // a worker must never take the process down
                          }
                          done->store(true);
                        }},
                        done});
  }

  ehr_state* ehr(const std::string& name) {
    auto found = ehrs_.find(name);
    if (found != ehrs_.end()) return found->second.get();
    if (ehrs_.size() >= max_ehrs) return nullptr;
    auto state = std::make_unique<ehr_state>();
    state->name = name;
    state->base = origin_ + "/ehr/" + name;
    return ehrs_.emplace(name, std::move(state)).first->second.get();
  }

  void route(const http_request& request, const reply_fn& reply) {
    std::string_view target = request.target;
    auto question = target.find('?');
    auto path = target.substr(0, question);
    auto query =
      question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
    auto segments = split_path(path);
    if (!segments || segments->size() < 2) return reply(control_error(404, "no such path"));
    const auto& s = *segments;
    bool control = s[0] == "control";
    if (control && (s.size() < 4 || s[1] != "ehr"))
      return reply(control_error(404, "no such path"));
    if (!control && s[0] != "ehr") return reply(control_error(404, "no such path"));
    const auto& name = control ? s[2] : s[1];
    if (!is_ehr_name(name)) return reply(control_error(404, "EHR names are [a-z0-9-]{1,32}"));
    auto* state = ehr(name);
    if (!state) return reply(control_error(503, "too many EHRs"));
    state->expire();
    std::vector<std::string> rest(s.begin() + (control ? 3 : 2), s.end());
    if (control) return reply(control_route(*state, request, rest));
    ehr_route(*state, request, rest, path, query, reply);
  }

  static http_response method_not_allowed(const char* allowed) {
    auto r = control_error(405, std::string{"method not allowed; use "} + allowed);
    r.headers.emplace_back("Allow", allowed);
    return r;
  }

  void ehr_route(ehr_state& ehr, const http_request& request, const std::vector<std::string>& rest,
                 std::string_view path, std::string_view query, const reply_fn& reply) {
    const auto& m = request.method;
    if (rest.size() == 3 && rest[0] == "fhir" && rest[1] == ".well-known" &&
        rest[2] == "smart-configuration") {
      if (m != "GET") return reply(method_not_allowed("GET"));
      ehr.record(
        {{"endpoint", "smart-configuration"}, {"behaviour", ehr.knobs.smart_configuration}});
      return reply(smart_configuration(ehr));
    }
    if (rest.size() == 1 && rest[0] == "jwks") {
      if (m != "GET") return reply(method_not_allowed("GET"));
      ehr.record({{"endpoint", "jwks"}});
      return reply(jwks(services_));
    }
    if (rest.size() == 1 && rest[0] == "authorize") {
      if (m == "GET") return reply(authorize(ehr, request, query));
      if (m == "POST") return reply(authorize(ehr, request, request.body));  // authorize-post
      return reply(method_not_allowed("GET, POST"));
    }
    if (rest.size() == 1 && rest[0] == "token") return token(ehr, services_, request, reply);
    if (!rest.empty() && rest[0] == "fhir") {
      auto prefix = "/ehr/" + ehr.name + "/fhir/";
      std::string_view target = request.target;
      if (path.size() < prefix.size())
        return reply(operation_outcome(404, "not-supported", "no FHIR path"));
      return fhir(ehr, services_, request, target.substr(prefix.size()), reply);
    }
    if (rest.size() == 2 && rest[0] == "files") {
      if (m != "GET") return reply(method_not_allowed("GET"));
      auto found = ehr.files.find(rest[1]);
      if (found == ehr.files.end()) return reply(control_error(404, "no such file"));
      ehr.record({{"endpoint", "files"}, {"file", rest[1]}});
      http_response r;
      r.headers.emplace_back("Content-Type", found->second.content_type);
      r.body = found->second.body;
      return reply(std::move(r));
    }
    reply(control_error(404, "no such path"));
  }

  http_response control_route(ehr_state& ehr, const http_request& request,
                              const std::vector<std::string>& rest) {
    const auto& m = request.method;
    if (rest.size() == 1 && rest[0] == "clients") {
      if (m != "POST") return method_not_allowed("POST");
      return register_client(ehr, request);
    }
    if (rest.size() == 1 && rest[0] == "launches") {
      if (m != "POST") return method_not_allowed("POST");
      return create_launch(ehr, request);
    }
    if (rest.size() == 1 && rest[0] == "behaviour") {
      if (m == "POST") return merge_behaviour(ehr, request);
      if (m == "GET") return json_response(200, behaviour_json(ehr.knobs));
      return method_not_allowed("GET, POST");
    }
    if (rest.size() == 1 && rest[0] == "log") {
      if (m != "GET") return method_not_allowed("GET");
      return json_response(200, ehr.log());
    }
    if (rest.size() == 2 && rest[0] == "resources") {
      if (m != "GET") return method_not_allowed("GET");
      if (!is_resource_type(rest[1])) return control_error(400, "bad resource type");
      json::array out;
      if (auto of_type = ehr.resources.find(rest[1]); of_type != ehr.resources.end())
        for (const auto& [id, resource] : of_type->second) out.push_back(resource);
      return json_response(200, out);
    }
    if (rest.size() == 3 && rest[0] == "resources") {
      if (m == "PUT") return put_resource(ehr, request, rest[1], rest[2]);
      if (m == "GET") {
        auto of_type = ehr.resources.find(rest[1]);
        if (of_type == ehr.resources.end() || !of_type->second.count(rest[2]))
          return control_error(404, "no such resource");
        return json_response(200, of_type->second.at(rest[2]));
      }
      return method_not_allowed("GET, PUT");
    }
    if (rest.size() == 2 && rest[0] == "files") {
      if (m != "PUT") return method_not_allowed("PUT");
      if (!is_file_name(rest[1])) return control_error(400, "file names are [A-Za-z0-9._-]{1,64}");
      auto type = request.header("content-type");
      ehr.files[rest[1]] = {type.empty() ? "application/octet-stream" : type, request.body};
      return json_response(201, json::object{{"url", ehr.base + "/files/" + rest[1]}});
    }
    return control_error(404, "no such control path");
  }

  std::string origin_;
  fixture_services services_;
  std::map<std::string, std::unique_ptr<ehr_state>> ehrs_;
  std::vector<worker> workers_;
};

}  // namespace

std::unique_ptr<http_handler> make_fixture(std::string origin, const signing_key& key, post_fn post,
                                           after_fn after) {
  return std::make_unique<fixture>(std::move(origin), key, std::move(post), std::move(after));
}

}  // namespace visitd::test_ehr
