#include "domain/write_back_policy.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <utility>

namespace visitd::domain {

namespace {

bool is_control(char c) noexcept {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

bool is_space(char c) noexcept {
  return c == ' ';
}

result<void> refuse(std::string_view field, std::string_view part, std::string_view why) {
  std::string message{field};
  message.append(".").append(part).append(" ").append(why);
  return make_error(errc::invalid_argument, std::move(message));
}

}  // namespace

write_back_targets both(const write_back_targets& a, const write_back_targets& b) noexcept {
  return {a.audit_events && b.audit_events, a.encounters && b.encounters,
          a.appointments && b.appointments};
}

result<void> validate_coding(const coding& c, std::string_view field) {
  const auto& system = c.system;
  if (system.empty() || system.size() > max_coding_system_bytes)
    return refuse(field, "system",
                  "must be 1.." + std::to_string(max_coding_system_bytes) + " bytes");
  if (std::any_of(system.begin(), system.end(),
                  [](char ch) { return is_control(ch) || is_space(ch); }))
    return refuse(field, "system", "must not contain whitespace or control characters");
  // An absolute URI: a scheme (a letter, then letters, digits, + - .) and a colon, then more.
  const auto colon = system.find(':');
  const bool scheme_ok =
    colon != std::string::npos && colon > 0 && colon + 1 < system.size() &&
    std::isalpha(static_cast<unsigned char>(system[0])) != 0 &&
    std::all_of(system.begin(), system.begin() + static_cast<std::ptrdiff_t>(colon), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '+' || ch == '-' ||
             ch == '.';
    });
  if (!scheme_ok)
    return refuse(field, "system", "must be an absolute URI such as http://… or urn:…");

  const auto& code = c.code;
  if (code.empty() || code.size() > max_coding_code_bytes)
    return refuse(field, "code", "must be 1.." + std::to_string(max_coding_code_bytes) + " bytes");
  if (std::any_of(code.begin(), code.end(), is_control))
    return refuse(field, "code", "must not contain control characters");
  if (is_space(code.front()) || is_space(code.back()) || code.find("  ") != std::string::npos)
    return refuse(field, "code", "must not have leading, trailing or doubled spaces");

  if (c.display.size() > max_coding_display_bytes)
    return refuse(field, "display",
                  "must be at most " + std::to_string(max_coding_display_bytes) + " bytes");
  if (std::any_of(c.display.begin(), c.display.end(), is_control))
    return refuse(field, "display", "must not contain control characters");
  return {};
}

result<void> validate_write_back_policy(const write_back_policy& policy) {
  const auto& codes = policy.codes;
  for (const auto& [c, name] : {std::pair{&codes.type, "audit_event_codes.type"},
                                std::pair{&codes.connected, "audit_event_codes.connected"},
                                std::pair{&codes.disconnected, "audit_event_codes.disconnected"},
                                std::pair{&codes.device_test, "audit_event_codes.device_test"}})
    if (auto ok = validate_coding(*c, name); !ok) return ok;
  return {};
}

}  // namespace visitd::domain
