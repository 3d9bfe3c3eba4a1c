#pragma once

// What a patient's or guest's join link grants: to join one visit, in one role, as one
// participant, until a deadline. The portal seals it into an opaque token (auth/join_links.hpp);
// nothing of it is readable in the link.

#include "domain/error.hpp"
#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <string>
#include <string_view>

namespace visitd::domain {

struct join_grant {
  visit_id visit;
  participant_role role{};  ///< patient or guest: staff sign in through the EHR instead.
  join_id participant;      ///< The participant's opaque identity within the visit.
  timestamp expires_at{};
  friend bool operator==(const join_grant&, const join_grant&) = default;
};

/// `invalid_argument` naming `role` for a provider (staff never join by link).
[[nodiscard]] result<join_grant> make_join_grant(visit_id visit, participant_role role,
                                                 join_id participant, timestamp expires_at);

/// Versioned binary form (what gets sealed); `decode_join_grant` refuses truncated input,
/// trailing bytes, an unknown version and a provider role.
[[nodiscard]] std::string encode_join_grant(const join_grant& grant);
[[nodiscard]] result<join_grant> decode_join_grant(std::string_view bytes);

}  // namespace visitd::domain
