#pragma once

// Reading a request's JSON body (simdjson): the content type must be JSON, the body one object
// whose fields are all known to the route, each of the type the route asks for. Every refusal
// is an error naming what was wrong, ready to be answered as is (415 or 400).

#include "domain/error.hpp"
#include "http/message.hpp"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace visitd::http {

/// A request that could not be read: the HTTP status (400 or 415) and the error.
struct body_error {
  int status = 400;
  std::string
    code;  ///< `invalid_json`, `invalid_field`, `unknown_field`, `unsupported_media_type`.
  std::string message;
};

/// One JSON value as the API uses them: no nested objects; arrays only of strings.
using json_value =
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, std::vector<std::string>>;

/// The fields of a body, with typed accessors whose errors name the field.
class json_fields {
public:
  explicit json_fields(std::map<std::string, json_value, std::less<>> fields)
    : fields_(std::move(fields)) {}

  [[nodiscard]] bool has(std::string_view field) const { return fields_.contains(field); }

  /// A required string of 1..`max_bytes` bytes.
  [[nodiscard]] std::optional<body_error> string(std::string_view field, std::string& out,
                                                 std::size_t max_bytes = 1024) const;
  /// An optional string (absent or null leaves `out` empty).
  [[nodiscard]] std::optional<body_error> optional_string(std::string_view field,
                                                          std::optional<std::string>& out,
                                                          std::size_t max_bytes = 1024) const;
  /// An optional boolean (absent: `out` unchanged).
  [[nodiscard]] std::optional<body_error> optional_bool(std::string_view field, bool& out) const;
  /// A required array of 1..`max_items` strings.
  [[nodiscard]] std::optional<body_error> strings(std::string_view field,
                                                  std::vector<std::string>& out,
                                                  std::size_t max_items = 64) const;

private:
  std::map<std::string, json_value, std::less<>> fields_;
};

/// 415 (`unsupported_media_type`) unless the Content-Type is `application/json` (parameters
/// such as charset=utf-8 allowed).
[[nodiscard]] std::optional<body_error> require_json_content_type(const request& req);

/// Parses `req.body` as one JSON object whose fields are all in `allowed`. 415 unless the
/// Content-Type is `application/json` (parameters such as charset=utf-8 allowed); 400 for
/// malformed JSON or invalid UTF-8 (`invalid_json`), a body that is not an object, an unknown
/// field (`unknown_field`, named), a duplicate field, or a nested object or a non-string array
/// element (`invalid_field`, named).
[[nodiscard]] std::variant<json_fields, body_error> read_json_object(
  const request& req, std::span<const std::string_view> allowed);
[[nodiscard]] inline std::variant<json_fields, body_error> read_json_object(
  const request& req, std::initializer_list<std::string_view> allowed) {
  return read_json_object(req, std::span<const std::string_view>{allowed.begin(), allowed.size()});
}

/// The same checks for a JSON text that is not a request body (a WebSocket message).
[[nodiscard]] std::variant<json_fields, body_error> parse_json_object(
  std::string_view text, std::span<const std::string_view> allowed);
[[nodiscard]] inline std::variant<json_fields, body_error> parse_json_object(
  std::string_view text, std::initializer_list<std::string_view> allowed) {
  return parse_json_object(text,
                           std::span<const std::string_view>{allowed.begin(), allowed.size()});
}

/// The response for a `body_error`.
[[nodiscard]] response error_response(const body_error& err);

}  // namespace visitd::http
