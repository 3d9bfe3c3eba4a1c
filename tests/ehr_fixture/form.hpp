#pragma once

// A strict application/x-www-form-urlencoded codec (query strings and token request bodies):
// '+' is a space, %XX must be two hex digits, nothing else is rewritten.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace visitd::test_ehr {

/// Name/value pairs in the order sent; repeated names are kept (callers reject them).
using form_params = std::vector<std::pair<std::string, std::string>>;

/// Decodes `text`; nullopt when a %-escape is malformed. Empty segments ("a=1&&b=2") are skipped.
[[nodiscard]] std::optional<form_params> decode_form(std::string_view text);

/// Percent-encodes everything outside RFC 3986's unreserved set.
[[nodiscard]] std::string encode_component(std::string_view text);

/// The first value of `name`, or nullopt.
[[nodiscard]] std::optional<std::string> form_value(const form_params& params,
                                                    std::string_view name);

/// The first name that occurs more than once, or "" (RFC 6749 §3.1: no parameter twice).
[[nodiscard]] std::string repeated_name(const form_params& params);

}  // namespace visitd::test_ehr
