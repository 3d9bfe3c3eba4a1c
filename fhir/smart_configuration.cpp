#include "fhir/smart_configuration.hpp"

#include <boost/url/parse.hpp>
#include <simdjson.h>

#include <algorithm>

namespace visitd::fhir {

using domain::errc;
using domain::make_error;

bool smart_configuration::has_capability(std::string_view name) const {
  return std::find(capabilities.begin(), capabilities.end(), name) != capabilities.end();
}

namespace {

domain::error field_error(std::string_view field, std::string_view what) {
  return make_error(errc::invalid_argument, "smart-configuration field \"" + std::string{field} +
                                              "\" " + std::string{what});
}

// simdjson on-demand reads fields in document order most cheaply, but a discovery document is
// small and fetched rarely, so clarity wins: look each field up by name.
domain::result<std::string> read_string(simdjson::ondemand::object& object, std::string_view field,
                                        bool required) {
  std::string_view value;
  auto error = object.find_field_unordered(field).get_string().get(value);
  if (error == simdjson::NO_SUCH_FIELD) {
    if (required) return field_error(field, "is missing");
    return std::string{};
  }
  if (error) return field_error(field, "must be a string");
  return std::string{value};
}

domain::result<std::vector<std::string>> read_string_array(simdjson::ondemand::object& object,
                                                           std::string_view field, bool required) {
  simdjson::ondemand::array array;
  auto error = object.find_field_unordered(field).get_array().get(array);
  if (error == simdjson::NO_SUCH_FIELD) {
    if (required) return field_error(field, "is missing");
    return std::vector<std::string>{};
  }
  if (error) return field_error(field, "must be an array of strings");
  std::vector<std::string> out;
  for (auto element : array) {
    std::string_view value;
    if (element.get_string().get(value)) return field_error(field, "must be an array of strings");
    out.emplace_back(value);
  }
  return out;
}

domain::result<void> require_https_url(std::string_view field, const std::string& value) {
  auto url = boost::urls::parse_absolute_uri(value);
  if (!url || url->scheme_id() != boost::urls::scheme::https || url->host().empty())
    return field_error(field, "must be an absolute https URL");
  return {};
}

}  // namespace

domain::result<smart_configuration> parse_smart_configuration(std::string_view json) {
  simdjson::padded_string padded{json};
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document document;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(document) || document.get_object().get(object))
    return make_error(errc::invalid_argument, "smart-configuration is not a JSON object");

  smart_configuration config;
  struct string_field {
    std::string_view name;
    std::string* target;
    bool required;
    bool url;
  };
  const string_field strings[] = {
    {"issuer", &config.issuer, false, true},
    {"jwks_uri", &config.jwks_uri, false, true},
    {"authorization_endpoint", &config.authorization_endpoint, true, true},
    {"token_endpoint", &config.token_endpoint, true, true},
  };
  for (const auto& f : strings) {
    auto value = read_string(object, f.name, f.required);
    if (!value) return std::move(value).err();
    if (f.url && !value->empty())
      if (auto ok = require_https_url(f.name, *value); !ok) return std::move(ok).err();
    *f.target = std::move(*value);
  }

  struct array_field {
    std::string_view name;
    std::vector<std::string>* target;
    bool required;
  };
  const array_field arrays[] = {
    {"grant_types_supported", &config.grant_types_supported, false},
    {"token_endpoint_auth_methods_supported", &config.token_endpoint_auth_methods_supported, false},
    {"token_endpoint_auth_signing_alg_values_supported",
     &config.token_endpoint_auth_signing_alg_values_supported, false},
    {"scopes_supported", &config.scopes_supported, false},
    // Not required here: its absence is reported below as what it means (no S256 PKCE).
    {"code_challenge_methods_supported", &config.code_challenge_methods_supported, false},
    {"capabilities", &config.capabilities, true},
  };
  for (const auto& f : arrays) {
    auto value = read_string_array(object, f.name, f.required);
    if (!value) return std::move(value).err();
    *f.target = std::move(*value);
  }

  const auto& methods = config.code_challenge_methods_supported;
  if (std::find(methods.begin(), methods.end(), "S256") == methods.end())
    return field_error("code_challenge_methods_supported",
                       "must include \"S256\" (SMART 2.x PKCE; visitd never uses \"plain\")");
  return config;
}

}  // namespace visitd::fhir
