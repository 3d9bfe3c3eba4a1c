#pragma once

// Report arithmetic: pure functions over one visit's event list (in seq order). They do not
// depend on the visit fold, so the report can be recomputed from the journal alone.
//
// Definitions (a participant is *present* while admitted and connected on at least one device;
// staff are admitted from their first join; presence is evaluated after every event):
// - start:     the first moment staff and a patient/guest are present together.
// - duration:  from start to the last moment anyone stopped being present (or to the last
//              event, if someone is still present); 0 when they were never present together.
// - attendees: the largest number of participants present at the same time.
// - lobby wait (per patient/guest): from their first lobby entry to their first admission after
//              it; none when never admitted.
// - status, for an ended visit (the first rule that matches):
//   completed  staff and a patient/guest were present together (there is a start);
//   cancelled  nobody ever joined;
//   abandoned  a patient/guest waited in the lobby and no patient/guest was ever admitted;
//   no_show    anything else: staff joined but never met a patient/guest.
//   A visit without `visit_ended` is `not_ended`.

#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace visitd::domain {

enum class report_status : std::uint8_t { not_ended, completed, no_show, cancelled, abandoned };

/// How long one patient/guest waited in the lobby.
struct lobby_wait {
  participant_id participant;
  timestamp entered_at{};        ///< First lobby entry.
  std::optional<duration> wait;  ///< Until first admission; nullopt when never admitted.
  friend bool operator==(const lobby_wait&, const lobby_wait&) = default;
};

/// The arithmetic of one visit (see the definitions above).
struct visit_report {
  report_status status = report_status::not_ended;
  std::optional<timestamp> started_at;
  duration length{0};
  std::size_t max_attendees = 0;
  std::vector<lobby_wait> lobby_waits;  ///< In order of first lobby entry.
  friend bool operator==(const visit_report&, const visit_report&) = default;
};

/// Computes the whole report from `events`.
[[nodiscard]] visit_report make_report(std::span<const event_envelope> events);

[[nodiscard]] std::string_view to_string(report_status status) noexcept;

}  // namespace visitd::domain
