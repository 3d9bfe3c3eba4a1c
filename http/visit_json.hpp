#pragma once

// The JSON the API writes for visits and their events (Boost.JSON): one shape for the REST
// answers and the WebSocket streams.

#include "actors/board_stream.hpp"
#include "domain/events.hpp"
#include "domain/visit.hpp"

#include <boost/json/object.hpp>

#include <string_view>

namespace visitd::http {

[[nodiscard]] std::string_view status_name(domain::visit_status s);
[[nodiscard]] std::string_view admission_name(domain::admission a);

/// The visit: ids, status, times, participants (opaque ids, role, admission, devices), lobby.
[[nodiscard]] boost::json::object visit_json(const domain::visit_state& v);

/// A visit as a tenant's board shows it: {"id", "status", "scheduled_start", "lobby",
/// "present", "last_seq", "department"?}.
[[nodiscard]] boost::json::object summary_json(const actors::visit_summary& v);

/// One event: {"seq", "at", "type", ...the event's own fields}.
[[nodiscard]] boost::json::object event_json(const domain::event_envelope& e);

}  // namespace visitd::http
