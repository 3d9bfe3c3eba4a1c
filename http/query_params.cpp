#include "http/query_params.hpp"

#include <boost/url/parse_query.hpp>

#include <algorithm>

namespace visitd::http {

namespace {

domain::result<void> read(std::string_view query, std::initializer_list<std::string_view> names,
                          bool ignore_unknown,
                          std::map<std::string, std::string, std::less<>>& values) {
  auto bad = [](std::string message) {
    return domain::make_error(domain::errc::invalid_argument, std::move(message));
  };
  if (query.empty()) return {};
  auto params = boost::urls::parse_query(query);
  if (!params) return bad("the query string is malformed");
  for (auto p : *params) {
    auto key = p.key.decode();
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      if (ignore_unknown) continue;
      return bad(key + ": is not a parameter of this request");
    }
    if (!values.emplace(key, p.has_value ? p.value.decode() : std::string{}).second)
      return bad(key + ": appears twice");
  }
  return {};
}

}  // namespace

domain::result<query_params> query_params::parse(std::string_view query,
                                                 std::initializer_list<std::string_view> allowed) {
  query_params out;
  if (auto r = read(query, allowed, false, out.values_); !r) return std::move(r).err();
  return out;
}

domain::result<query_params> query_params::parse_known(
  std::string_view query, std::initializer_list<std::string_view> known) {
  query_params out;
  if (auto r = read(query, known, true, out.values_); !r) return std::move(r).err();
  return out;
}

std::optional<std::string> query_params::get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

}  // namespace visitd::http
