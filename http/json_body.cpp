#include "http/json_body.hpp"

#include "http/errors.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace visitd::http {

namespace {

body_error invalid_field(std::string_view field, std::string_view what) {
  return {400, "invalid_field", std::string{field}.append(": ").append(what)};
}

bool is_json_content_type(std::string_view value) {
  auto semicolon = value.find(';');
  auto media = value.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  std::string lower{media};
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower == "application/json";
}

}  // namespace

std::optional<body_error> json_fields::string(std::string_view field, std::string& out,
                                              std::size_t max_bytes) const {
  auto it = fields_.find(field);
  if (it == fields_.end()) return invalid_field(field, "is required");
  const auto* s = std::get_if<std::string>(&it->second);
  if (s == nullptr) return invalid_field(field, "must be a string");
  if (s->empty()) return invalid_field(field, "must not be empty");
  if (s->size() > max_bytes)
    return invalid_field(field, "must be at most " + std::to_string(max_bytes) + " bytes");
  out = *s;
  return std::nullopt;
}

std::optional<body_error> json_fields::optional_string(std::string_view field,
                                                       std::optional<std::string>& out,
                                                       std::size_t max_bytes) const {
  auto it = fields_.find(field);
  if (it == fields_.end() || std::holds_alternative<std::nullptr_t>(it->second)) {
    out.reset();
    return std::nullopt;
  }
  std::string value;
  if (auto err = string(field, value, max_bytes)) return err;
  out = std::move(value);
  return std::nullopt;
}

std::optional<body_error> json_fields::optional_bool(std::string_view field, bool& out) const {
  auto it = fields_.find(field);
  if (it == fields_.end()) return std::nullopt;
  const auto* b = std::get_if<bool>(&it->second);
  if (b == nullptr) return invalid_field(field, "must be true or false");
  out = *b;
  return std::nullopt;
}

std::optional<body_error> json_fields::strings(std::string_view field,
                                               std::vector<std::string>& out,
                                               std::size_t max_items) const {
  auto it = fields_.find(field);
  if (it == fields_.end()) return invalid_field(field, "is required");
  const auto* list = std::get_if<std::vector<std::string>>(&it->second);
  if (list == nullptr) return invalid_field(field, "must be an array of strings");
  if (list->empty()) return invalid_field(field, "must not be empty");
  if (list->size() > max_items)
    return invalid_field(field, "must have at most " + std::to_string(max_items) + " items");
  out = *list;
  return std::nullopt;
}

std::optional<body_error> require_json_content_type(const request& req) {
  if (!is_json_content_type(req.header("Content-Type")))
    return body_error{415, "unsupported_media_type", "the body must be application/json"};
  return std::nullopt;
}

std::variant<json_fields, body_error> read_json_object(const request& req,
                                                       std::span<const std::string_view> allowed) {
  if (auto err = require_json_content_type(req)) return *err;
  return parse_json_object(req.body, allowed);
}

std::variant<json_fields, body_error> parse_json_object(std::string_view text,
                                                        std::span<const std::string_view> allowed) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(text.data(), text.size()).get(root))
    return body_error{
      400, "invalid_json",
      std::string{"the body is not valid JSON: "}.append(simdjson::error_message(error))};
  simdjson::dom::object object;
  if (root.get_object().get(object))
    return body_error{400, "invalid_json", "the body must be a JSON object"};
  std::map<std::string, json_value, std::less<>> fields;
  for (auto [key, value] : object) {
    const std::string name{key};
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return body_error{400, "unknown_field", name + ": is not a field of this request"};
    if (fields.contains(name)) return invalid_field(name, "appears twice");
    json_value v;
    switch (value.type()) {
      case simdjson::dom::element_type::NULL_VALUE: v = nullptr; break;
      case simdjson::dom::element_type::BOOL: v = bool{value.get_bool().value_unsafe()}; break;
      case simdjson::dom::element_type::INT64: v = value.get_int64().value_unsafe(); break;
      case simdjson::dom::element_type::UINT64:
      case simdjson::dom::element_type::DOUBLE: v = value.get_double().value_unsafe(); break;
      case simdjson::dom::element_type::STRING:
        v = std::string{value.get_string().value_unsafe()};
        break;
      case simdjson::dom::element_type::ARRAY: {
        std::vector<std::string> items;
        simdjson::dom::array array;  // named: iterating a temporary's range dangles
        if (value.get_array().get(array)) return invalid_field(name, "must be an array");
        for (auto item : array) {
          std::string_view s;
          if (item.get_string().get(s)) return invalid_field(name, "must be an array of strings");
          items.emplace_back(s);
        }
        v = std::move(items);
        break;
      }
      case simdjson::dom::element_type::OBJECT: return invalid_field(name, "must not be an object");
    }
    fields.emplace(name, std::move(v));
  }
  return json_fields{std::move(fields)};
}

response error_response(const body_error& err) {
  return error_response(err.status, err.code, err.message);
}

}  // namespace visitd::http
