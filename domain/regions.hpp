#pragma once

// Region tags and the operator's configured list of them. A tenant's region says where its data
// and media are meant to stay; the box operator decides which regions this box serves (config
// key `regions`), so a tenant can only be placed in one of those.

#include "domain/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain {

inline constexpr std::size_t max_region_bytes = 32;

/// Checks the format of one region tag: 1..`max_region_bytes` characters of `[a-z0-9-]`. The
/// `invalid_argument` message starts with `field`.
[[nodiscard]] result<void> validate_region_tag(std::string_view tag, std::string_view field);

/// The regions the operator configured, in the order given. Never empty and without duplicates
/// when made by `make_region_list`; a default-constructed list is empty and contains nothing.
class region_list {
public:
  region_list() = default;

  [[nodiscard]] bool contains(std::string_view region) const noexcept;
  [[nodiscard]] const std::vector<std::string>& values() const noexcept { return values_; }
  /// The tags joined with ", " (for messages and logs).
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const region_list&, const region_list&) = default;

private:
  friend result<region_list> make_region_list(std::string_view comma_separated);
  explicit region_list(std::vector<std::string> values) : values_(std::move(values)) {}

  std::vector<std::string> values_;
};

/// Parses a comma-separated list such as `eu-west, us-east` (spaces around tags are ignored).
/// `invalid_argument` naming `regions` for an empty list, an empty entry (`a,,b`, a trailing
/// comma), a tag that breaks `validate_region_tag`, or a tag listed twice.
[[nodiscard]] result<region_list> make_region_list(std::string_view comma_separated);

/// OK when `region` is in `allowed`; otherwise `invalid_argument` naming the field `region` and
/// listing the allowed values.
[[nodiscard]] result<void> require_known_region(const region_list& allowed,
                                                std::string_view region);

}  // namespace visitd::domain
