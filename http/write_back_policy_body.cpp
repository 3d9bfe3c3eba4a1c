#include "http/write_back_policy_body.hpp"

#include <simdjson.h>

#include <optional>
#include <set>
#include <string>

namespace visitd::http {

namespace {

using element = simdjson::dom::element;

body_error invalid(std::string_view path, std::string_view what) {
  return {400, "invalid_field", std::string{path}.append(": ").append(what)};
}

body_error unknown(std::string_view path) {
  return {400, "unknown_field", std::string{path}.append(": is not a field of this request")};
}

std::string path_of(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string{key};
  return std::string{parent}.append(".").append(key);
}

/// Calls `member(key, value, path)` for each member of the object `value` at `path`; stops at
/// the first error (a duplicate member is one).
template <class Member>
std::optional<body_error> each_member(element value, std::string_view path, Member member) {
  simdjson::dom::object object;
  if (value.get_object().get(object)) return invalid(path, "must be an object");
  std::set<std::string, std::less<>> seen;
  for (auto [key, child] : object) {
    auto child_path = path_of(path, key);
    if (!seen.emplace(key).second) return invalid(child_path, "appears twice");
    if (auto err = member(key, child, child_path)) return err;
  }
  return std::nullopt;
}

std::optional<body_error> read_bool(element value, std::string_view path, bool& out) {
  if (value.get_bool().get(out)) return invalid(path, "must be true or false");
  return std::nullopt;
}

std::optional<body_error> read_string(element value, std::string_view path, std::string& out) {
  std::string_view text;
  if (value.get_string().get(text)) return invalid(path, "must be a string");
  out = std::string{text};
  return std::nullopt;
}

std::optional<body_error> read_coding(element value, std::string_view path, domain::coding& out) {
  out = {};
  bool has_system = false, has_code = false;
  auto err = each_member(value, path,
                         [&](std::string_view key, element child,
                             const std::string& child_path) -> std::optional<body_error> {
                           if (key == "system") {
                             has_system = true;
                             return read_string(child, child_path, out.system);
                           }
                           if (key == "code") {
                             has_code = true;
                             return read_string(child, child_path, out.code);
                           }
                           if (key == "display") return read_string(child, child_path, out.display);
                           return unknown(child_path);
                         });
  if (err) return err;
  if (!has_system) return invalid(path_of(path, "system"), "is required");
  if (!has_code) return invalid(path_of(path, "code"), "is required");
  return std::nullopt;
}

}  // namespace

std::variant<domain::write_back_policy, body_error> parse_write_back_policy(std::string_view json) {
  simdjson::dom::parser parser;
  element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root))
    return body_error{
      400, "invalid_json",
      std::string{"the body is not valid JSON: "}.append(simdjson::error_message(error))};
  if (!root.is_object()) return body_error{400, "invalid_json", "the body must be a JSON object"};

  domain::write_back_policy policy;
  auto writes = [&](std::string_view key, element value,
                    const std::string& path) -> std::optional<body_error> {
    auto& w = policy.writes;
    if (key == "audit_events") return read_bool(value, path, w.audit_events);
    if (key == "encounters") return read_bool(value, path, w.encounters);
    if (key == "appointments") return read_bool(value, path, w.appointments);
    return unknown(path);
  };
  auto codes = [&](std::string_view key, element value,
                   const std::string& path) -> std::optional<body_error> {
    auto& c = policy.codes;
    if (key == "type") return read_coding(value, path, c.type);
    if (key == "connected") return read_coding(value, path, c.connected);
    if (key == "disconnected") return read_coding(value, path, c.disconnected);
    if (key == "device_test") return read_coding(value, path, c.device_test);
    return unknown(path);
  };
  auto err = each_member(
    root, "",
    [&](std::string_view key, element value, const std::string& path) -> std::optional<body_error> {
      if (key == "writes") return each_member(value, path, writes);
      if (key == "audit_event_codes") return each_member(value, path, codes);
      return unknown(path);
    });
  if (err) return *err;
  return policy;
}

std::variant<domain::write_back_policy, body_error> read_write_back_policy(const request& req) {
  if (auto err = require_json_content_type(req)) return *err;
  return parse_write_back_policy(req.body);
}

}  // namespace visitd::http
