#include "domain/regions.hpp"

#include <algorithm>

namespace visitd::domain {

namespace {

bool is_region_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

std::string_view trim(std::string_view text) noexcept {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

}  // namespace

result<void> validate_region_tag(std::string_view tag, std::string_view field) {
  if (tag.empty() || tag.size() > max_region_bytes ||
      !std::all_of(tag.begin(), tag.end(), is_region_char))
    return make_error(errc::invalid_argument, std::string{field} + " must be 1.." +
                                                std::to_string(max_region_bytes) +
                                                " characters of [a-z0-9-]");
  return {};
}

bool region_list::contains(std::string_view region) const noexcept {
  return std::find(values_.begin(), values_.end(), region) != values_.end();
}

std::string region_list::to_string() const {
  std::string out;
  for (const auto& v : values_) {
    if (!out.empty()) out.append(", ");
    out.append(v);
  }
  return out;
}

result<region_list> make_region_list(std::string_view comma_separated) {
  if (trim(comma_separated).empty())
    return make_error(errc::invalid_argument, "regions must list at least one region");
  std::vector<std::string> values;
  std::size_t position = 0;
  for (;;) {
    const auto comma = comma_separated.find(',', position);
    const auto tag = trim(comma_separated.substr(
      position, comma == std::string_view::npos ? std::string_view::npos : comma - position));
    const auto entry = "regions entry " + std::to_string(values.size() + 1);
    if (tag.empty()) return make_error(errc::invalid_argument, entry + " is empty");
    if (auto ok = validate_region_tag(tag, entry + " (\"" + std::string{tag} + "\")"); !ok)
      return std::move(ok).err();
    if (std::find(values.begin(), values.end(), tag) != values.end())
      return make_error(errc::invalid_argument, "regions lists \"" + std::string{tag} + "\" twice");
    values.emplace_back(tag);
    if (comma == std::string_view::npos) break;
    position = comma + 1;
  }
  return region_list{std::move(values)};
}

result<void> require_known_region(const region_list& allowed, std::string_view region) {
  if (allowed.contains(region)) return {};
  return make_error(errc::invalid_argument,
                    "region \"" + std::string{region} +
                      "\" is not a configured region (allowed: " + allowed.to_string() + ")");
}

}  // namespace visitd::domain
