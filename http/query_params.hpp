#pragma once

// The query string of a request as named values, checked against the names a route accepts: an
// unknown or repeated name is an error naming it, so a typo never silently widens a listing.

#include "domain/error.hpp"

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace visitd::http {

class query_params {
public:
  /// Decodes `query` (without the '?'); `invalid_argument` naming the first bad parameter.
  [[nodiscard]] static domain::result<query_params> parse(
    std::string_view query, std::initializer_list<std::string_view> allowed);

  /// As `parse`, but names outside `known` are ignored rather than refused: for requests whose
  /// query another party writes (an EHR's launch and redirect add parameters of their own). A
  /// repeated known name is still refused (which value would be meant?).
  [[nodiscard]] static domain::result<query_params> parse_known(
    std::string_view query, std::initializer_list<std::string_view> known);

  /// The decoded value of `name`, if given.
  [[nodiscard]] std::optional<std::string> get(std::string_view name) const;

private:
  std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace visitd::http
