#include "http/query_params.hpp"

#include <boost/url/parse_query.hpp>

#include <algorithm>

namespace visitd::http {

domain::result<query_params> query_params::parse(std::string_view query,
                                                 std::initializer_list<std::string_view> allowed) {
  auto bad = [](std::string message) {
    return domain::make_error(domain::errc::invalid_argument, std::move(message));
  };
  query_params out;
  if (query.empty()) return out;
  auto params = boost::urls::parse_query(query);
  if (!params) return bad("the query string is malformed");
  for (auto p : *params) {
    auto key = p.key.decode();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return bad(key + ": is not a parameter of this request");
    if (!out.values_.emplace(key, p.has_value ? p.value.decode() : std::string{}).second)
      return bad(key + ": appears twice");
  }
  return out;
}

std::optional<std::string> query_params::get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

}  // namespace visitd::http
