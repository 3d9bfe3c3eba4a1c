#include "fhir/token_response.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdint>

namespace visitd::fhir {

using domain::errc;
using domain::make_error;

namespace {

domain::error field_error(std::string_view what, std::string_view field, std::string_view rule) {
  std::string message{what};
  message.append(" field \"").append(field).append("\" ").append(rule);
  return make_error(errc::invalid_argument, std::move(message));
}

/// The DOM parser validates the whole document (UTF-8, nesting, trailing content), unlike
/// on-demand, which only checks what it visits: an unknown field must not hide broken JSON.
bool parse_object(simdjson::dom::parser& parser, std::string_view json,
                  simdjson::dom::object& out) {
  const simdjson::padded_string padded{json};
  return !parser.parse(padded).get_object().get(out);
}

/// A member name as shown in an error message: names come from the remote side.
std::string_view shown_name(std::string_view name) {
  const bool plain = name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
                       return static_cast<unsigned char>(c) >= 0x20 && c != '"' && c != 0x7f;
                     });
  return plain ? name : std::string_view{"(unprintable)"};
}

std::optional<std::string_view> duplicate_name(simdjson::dom::object object) {
  std::vector<std::string_view> names;
  names.reserve(object.size());
  for (const auto field : object) names.push_back(field.key);
  std::sort(names.begin(), names.end());
  const auto it = std::adjacent_find(names.begin(), names.end());
  if (it == names.end()) return std::nullopt;
  return shown_name(*it);
}

/// Reads the string at `element` into `out`, enforcing the per-field cap.
domain::result<void> read_string(std::string_view what, std::string_view field,
                                 simdjson::dom::element element, std::string& out) {
  std::string_view value;
  if (element.get_string().get(value)) return field_error(what, field, "must be a string");
  if (value.size() > max_token_field_bytes)
    return field_error(what, field,
                       "is longer than " + std::to_string(max_token_field_bytes) + " bytes");
  out.assign(value);
  return {};
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

domain::result<void> read_fhir_context(simdjson::dom::element element, token_response& out) {
  constexpr std::string_view what = "token response";
  simdjson::dom::array array;
  if (element.get_array().get(array))
    return field_error(what, "fhirContext", "must be an array of objects");
  if (array.size() > max_fhir_context_entries)
    return field_error(what, "fhirContext",
                       "has more than " + std::to_string(max_fhir_context_entries) + " entries");
  for (const auto entry : array) {
    simdjson::dom::object object;
    if (entry.get_object().get(object))
      return field_error(what, "fhirContext", "must be an array of objects");
    fhir_context_item item;
    bool has_reference = false;
    for (const auto field : object) {
      std::string* target = nullptr;
      if (field.key == "reference") {
        target = &item.reference;
        has_reference = true;
      } else if (field.key == "type") {
        target = &item.type;
      } else if (field.key == "role") {
        target = &item.role;
      } else {
        continue;  // canonical, identifier, ...: not used by visitd
      }
      std::string name{"fhirContext[]."};
      name.append(field.key);
      if (auto ok = read_string(what, name, field.value, *target); !ok) return std::move(ok).err();
    }
    // SMART 2.1 also allows entries that name a `canonical` or `identifier` only; visitd can
    // only follow references.
    if (has_reference && !item.reference.empty()) out.fhir_context.push_back(std::move(item));
  }
  return {};
}

}  // namespace

domain::result<token_response> parse_token_response(std::string_view json) {
  constexpr std::string_view what = "token response";
  if (json.size() > max_token_response_bytes)
    return make_error(errc::invalid_argument, "token response is too large");
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (!parse_object(parser, json, object))
    return make_error(errc::invalid_argument, "token response is not a JSON object");
  if (const auto duplicate = duplicate_name(object))
    return field_error(what, *duplicate, "appears twice");

  token_response out;
  bool has_access_token = false;
  bool has_token_type = false;
  for (const auto field : object) {
    const std::string_view key = field.key;
    const simdjson::dom::element value = field.value;
    std::string* target = nullptr;
    if (key == "access_token") {
      target = &out.access_token;
      has_access_token = true;
    } else if (key == "token_type") {
      target = &out.token_type;
      has_token_type = true;
    } else if (key == "scope") {
      target = &out.scope;
    } else if (key == "refresh_token") {
      target = &out.refresh_token.emplace();
    } else if (key == "id_token") {
      target = &out.id_token.emplace();
    } else if (key == "patient") {
      target = &out.patient;
    } else if (key == "encounter") {
      target = &out.encounter;
    } else if (key == "intent") {
      target = &out.intent;
    } else if (key == "smart_style_url") {
      target = &out.smart_style_url;
    } else if (key == "tenant") {
      target = &out.tenant;
    } else if (key == "expires_in") {
      std::int64_t seconds = 0;
      // An integer only: "3600" as a string or 3600.5 is a broken server, not a lifetime.
      if (value.get_int64().get(seconds) || seconds < 0)
        return field_error(what, key, "must be a non-negative integer");
      out.expires_in = std::min(std::chrono::seconds{seconds}, max_expires_in);
      continue;
    } else if (key == "need_patient_banner") {
      bool banner = false;
      if (value.get_bool().get(banner)) return field_error(what, key, "must be a boolean");
      out.need_patient_banner = banner;
      continue;
    } else if (key == "fhirContext") {
      if (auto ok = read_fhir_context(value, out); !ok) return std::move(ok).err();
      continue;
    } else {
      continue;  // RFC 6749 §5.1: unknown parameters are ignored
    }
    if (auto ok = read_string(what, key, value, *target); !ok) return std::move(ok).err();
  }

  if (!has_access_token) return field_error(what, "access_token", "is missing");
  if (out.access_token.empty()) return field_error(what, "access_token", "is empty");
  if (!has_token_type) return field_error(what, "token_type", "is missing");
  if (!equals_ignoring_case(out.token_type, "Bearer"))
    return field_error(what, "token_type", "must be \"Bearer\"");
  out.token_type = "Bearer";
  return out;
}

domain::result<oauth_error> parse_oauth_error(std::string_view json) {
  constexpr std::string_view what = "oauth error";
  if (json.size() > max_token_response_bytes)
    return make_error(errc::invalid_argument, "oauth error is too large");
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (!parse_object(parser, json, object))
    return make_error(errc::invalid_argument, "oauth error is not a JSON object");
  if (const auto duplicate = duplicate_name(object))
    return field_error(what, *duplicate, "appears twice");

  oauth_error out;
  bool has_error = false;
  for (const auto field : object) {
    std::string* target = nullptr;
    if (field.key == "error") {
      target = &out.error;
      has_error = true;
    } else if (field.key == "error_description") {
      target = &out.error_description;
    } else if (field.key == "error_uri") {
      target = &out.error_uri;
    } else {
      continue;
    }
    if (auto ok = read_string(what, field.key, field.value, *target); !ok)
      return std::move(ok).err();
  }
  if (!has_error) return field_error(what, "error", "is missing");
  if (out.error.empty()) return field_error(what, "error", "is empty");
  return out;
}

}  // namespace visitd::fhir
