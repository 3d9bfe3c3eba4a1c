#include "domain/events.hpp"

#include "domain/overloaded.hpp"

namespace visitd::domain {

result<void> validate_lobby_message(std::string_view text) {
  if (text.empty())
    return make_error(errc::invalid_argument, "lobby message text must not be empty");
  if (text.size() > max_lobby_message_bytes)
    return make_error(errc::invalid_argument, "lobby message text is longer than " +
                                                std::to_string(max_lobby_message_bytes) + " bytes");
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f)
      return make_error(errc::invalid_argument, "lobby message text contains a control character");
  }
  return {};
}

namespace {}  // namespace

std::string_view event_name(const visit_event& event) noexcept {
  return std::visit(
    overloaded{
      [](const participant_joined&) { return std::string_view{"participant_joined"}; },
      [](const lobby_entered&) { return std::string_view{"lobby_entered"}; },
      [](const admitted&) { return std::string_view{"admitted"}; },
      [](const denied&) { return std::string_view{"denied"}; },
      [](const returned_to_lobby&) { return std::string_view{"returned_to_lobby"}; },
      [](const connected&) { return std::string_view{"connected"}; },
      [](const disconnected&) { return std::string_view{"disconnected"}; },
      [](const visit_started&) { return std::string_view{"visit_started"}; },
      [](const visit_ended&) { return std::string_view{"visit_ended"}; },
      [](const lobby_message&) { return std::string_view{"lobby_message"}; },
      [](const device_test_result&) { return std::string_view{"device_test_result"}; },
    },
    event);
}

std::string_view to_string(participant_role role) noexcept {
  switch (role) {
    case participant_role::provider: return "provider";
    case participant_role::patient: return "patient";
    case participant_role::guest: return "guest";
  }
  return "unknown";
}

std::string_view to_string(deny_reason reason) noexcept {
  switch (reason) {
    case deny_reason::unspecified: return "unspecified";
    case deny_reason::not_expected: return "not_expected";
    case deny_reason::duplicate: return "duplicate";
    case deny_reason::wrong_visit: return "wrong_visit";
  }
  return "unknown";
}

std::string_view to_string(end_reason reason) noexcept {
  switch (reason) {
    case end_reason::last_left: return "last_left";
    case end_reason::ended_by_provider: return "ended_by_provider";
    case end_reason::timeout: return "timeout";
  }
  return "unknown";
}

}  // namespace visitd::domain
