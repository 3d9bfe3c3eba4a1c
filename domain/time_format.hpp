#pragma once

// Timestamps as the HTTP API writes and reads them: RFC 3339 / ISO 8601 in UTC.

#include "domain/error.hpp"
#include "domain/time.hpp"

#include <string>
#include <string_view>

namespace visitd::domain {

/// `2026-11-25T18:49:36Z`, or `2026-11-25T18:49:36.123456Z` when there are microseconds.
/// Years outside 0000..9999 are clamped to the range (no such time comes from the domain).
[[nodiscard]] std::string format_rfc3339(timestamp t);

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)` (a `t` or space in place of `T`
/// is accepted, as RFC 3339 allows); the fraction may have 1..9 digits and is cut to
/// microseconds. `invalid_argument` naming `field` for anything else, including impossible
/// dates (Feb 30) and leap seconds (:60, which the domain's clock never has).
[[nodiscard]] result<timestamp> parse_rfc3339(std::string_view text, std::string_view field);

}  // namespace visitd::domain
