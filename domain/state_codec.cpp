#include "domain/state_codec.hpp"

#include "domain/binary.hpp"
#include "domain/record_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace visitd::domain {

namespace {

using binary::reader;
using binary::writer;

// Smallest encodings of one element, so `reader::count` refuses a count the input cannot hold
// before anything is allocated: an id is at least 2 bytes (length + one character), a bool, enum
// or absent optional 1.
constexpr std::size_t min_participant_bytes = 2 + 1 + 1 + 2 + 1 + 1 + 3;
constexpr std::size_t min_device_bytes = 2 + 1 + 1 + 1;
constexpr std::size_t min_lobby_entry_bytes = 1;

// The device check flags share the bit assignment of `device_test_result` in `event_codec.hpp`.
constexpr std::uint8_t camera_bit = 1;
constexpr std::uint8_t microphone_bit = 2;
constexpr std::uint8_t speaker_bit = 4;
constexpr std::uint8_t all_check_bits = camera_bit | microphone_bit | speaker_bit;

std::string quoted(std::string_view what, const participant_id& id) {
  std::string out{what};
  out.append(" '").append(id.str()).append("'");
  return out;
}

std::string_view admission_name(admission a) {
  switch (a) {
    case admission::none: return "none";
    case admission::lobby: return "lobby";
    case admission::admitted: return "admitted";
    case admission::denied: return "denied";
  }
  return "unknown";
}

// -- writing -----------------------------------------------------------------------------------

void write_device(writer& w, const device_state& d) {
  w.boolean(d.connected);
  w.opt_time(d.last_change);
  w.boolean(d.last_check.has_value());
  if (d.last_check) {
    const auto& c = *d.last_check;
    w.u8(static_cast<std::uint8_t>((c.camera_ok ? camera_bit : 0) |
                                   (c.microphone_ok ? microphone_bit : 0) |
                                   (c.speaker_ok ? speaker_bit : 0)));
    w.time(c.at);
  }
}

void write_participant(writer& w, const participant_state& p) {
  w.enumerated(p.role);
  w.u8(static_cast<std::uint8_t>(p.identity.index()));
  std::visit([&](const auto& identity) { w.id(identity); }, p.identity);
  w.enumerated(p.status);
  w.varint(p.devices.size());
  for (const auto& [id, d] : p.devices) {
    w.id(id);
    write_device(w, d);
  }
  w.opt_time(p.first_lobby_at);
  w.opt_time(p.admitted_at);
  w.opt_time(p.last_left_at);
}

void write_state(writer& w, const visit_state& s) {
  w.str(encode_record(s.info));
  w.enumerated(s.status);
  w.varint(s.last_seq);
  w.opt_time(s.last_event_at);
  w.opt_time(s.opened_at);
  w.opt_time(s.started_at);
  w.opt_time(s.ended_at);
  w.boolean(s.ended_because.has_value());
  if (s.ended_because) w.enumerated(*s.ended_because);
  w.varint(s.participants.size());
  for (const auto& [id, p] : s.participants) {
    w.id(id);
    write_participant(w, p);
  }
  w.varint(s.lobby.size());
  for (const auto& id : s.lobby) {
    // A lobby holds a handful of people, so a linear position lookup is cheaper than an index.
    // An entry that is not a participant (a broken precondition) becomes the one-past-the-end
    // index, which the decoder refuses.
    const auto it = s.participants.find(id);
    w.varint(static_cast<std::uint64_t>(std::distance(s.participants.begin(), it)));
  }
}

// -- reading -----------------------------------------------------------------------------------

/// Reads a map written in key order. Keys must be strictly increasing: the encoder never writes
/// anything else, so out-of-order or repeated keys mean corruption, and accepting them would
/// break re-encoding to the same bytes.
template <class Key, class Value, class ReadValue>
void read_map(reader& r, std::string_view what, std::size_t min_entry_bytes,
              std::map<Key, Value>& out, ReadValue read_value) {
  const auto n = r.count(what, min_entry_bytes);
  std::string key_field{what};
  key_field.append(".id");
  for (std::size_t i = 0; i < n && !r.failed(); ++i) {
    auto key = r.named_id<Key>(key_field);
    if (r.failed()) return;
    if (!out.empty() && !(out.rbegin()->first < key)) {
      std::string why{what};
      why.append(" are not in strictly increasing id order at '").append(key.str()).append("'");
      r.fail(std::move(why));
      return;
    }
    auto value = read_value(r);
    if (r.failed()) return;
    out.emplace_hint(out.end(), std::move(key), std::move(value));
  }
}

device_state read_device(reader& r) {
  device_state d;
  d.connected = r.boolean("devices.connected");
  d.last_change = r.opt_time("devices.last_change");
  if (r.boolean("devices.last_check")) {
    const auto flags = r.u8("devices.last_check.flags");
    if (!r.failed() && (flags & ~all_check_bits) != 0)
      r.fail("devices.last_check.flags has unknown bits " + std::to_string(flags));
    const auto at = r.time("devices.last_check.at");
    if (!r.failed())
      d.last_check = device_check{(flags & camera_bit) != 0, (flags & microphone_bit) != 0,
                                  (flags & speaker_bit) != 0, at};
  }
  // `apply` stamps `last_change` whenever it connects a device.
  if (!r.failed() && d.connected && !d.last_change)
    r.fail("devices: a connected device needs last_change");
  return d;
}

participant_state read_participant(reader& r) {
  participant_state p;
  p.role = r.enumerated("participants.role", participant_role::guest);
  const auto kind = r.u8("participants.identity kind");
  if (kind == 0)
    p.identity = r.named_id<ehr_user_id>("participants.identity");
  else if (kind == 1)
    p.identity = r.named_id<join_id>("participants.identity");
  else
    r.fail("participants.identity kind has unknown value " + std::to_string(kind));
  p.status = r.enumerated("participants.status", admission::denied);
  read_map(r, "participants.devices", min_device_bytes, p.devices, read_device);
  p.first_lobby_at = r.opt_time("participants.first_lobby_at");
  p.admitted_at = r.opt_time("participants.admitted_at");
  p.last_left_at = r.opt_time("participants.last_left_at");
  return p;
}

/// Reads the lobby as positions in `s.participants` and checks that it is exactly the set of
/// participants whose admission is `lobby`, each once: `apply` moves a participant into and out
/// of the lobby vector together with setting and leaving that admission.
void read_lobby(reader& r, visit_state& s) {
  const auto n = r.count("lobby", min_lobby_entry_bytes);
  if (r.failed()) return;
  std::vector<std::map<participant_id, participant_state>::const_iterator> by_index;
  by_index.reserve(s.participants.size());
  for (auto it = s.participants.cbegin(); it != s.participants.cend(); ++it) by_index.push_back(it);
  std::vector<bool> waiting(by_index.size(), false);
  for (std::size_t i = 0; i < n; ++i) {
    const auto index = r.varint("lobby");
    if (r.failed()) return;
    if (index >= by_index.size()) {
      r.fail("lobby entry " + std::to_string(i) + " is position " + std::to_string(index) +
             " of only " + std::to_string(by_index.size()) + " participants");
      return;
    }
    const auto& [id, p] = *by_index[static_cast<std::size_t>(index)];
    if (waiting[static_cast<std::size_t>(index)]) {
      r.fail("lobby lists " + quoted("participant", id) + " twice");
      return;
    }
    if (p.status != admission::lobby) {
      std::string why{"lobby lists "};
      why.append(quoted("participant", id)).append(", whose admission is ");
      why.append(admission_name(p.status)).append(", not lobby");
      r.fail(std::move(why));
      return;
    }
    waiting[static_cast<std::size_t>(index)] = true;
    s.lobby.push_back(id);
  }
  for (std::size_t i = 0; i < by_index.size(); ++i) {
    const auto& [id, p] = *by_index[i];
    if (p.status != admission::lobby) continue;
    if (p.is_staff()) {
      r.fail(quoted("participant", id) + " is a provider in the lobby; staff are never lobbied");
      return;
    }
    if (!waiting[i]) {
      r.fail(quoted("participant", id) + " has admission lobby but is not in the lobby");
      return;
    }
  }
}

visit_state read_state(reader& r) {
  visit_state s;
  const auto info_bytes = r.str("info");
  if (!r.failed()) {
    // The header has its own version and rules; `decode_visit_info` applies both.
    if (auto info = decode_visit_info(info_bytes); info)
      s.info = std::move(info).value();
    else
      r.fail("info: " + info.err().message);
  }
  s.status = r.enumerated("status", visit_status::ended);
  s.last_seq = r.varint("last_seq");
  s.last_event_at = r.opt_time("last_event_at");
  s.opened_at = r.opt_time("opened_at");
  s.started_at = r.opt_time("started_at");
  s.ended_at = r.opt_time("ended_at");
  if (r.boolean("ended_because")) {
    const auto reason = r.enumerated("ended_because", end_reason::timeout);
    if (!r.failed()) s.ended_because = reason;
  }
  read_map(r, "participants", min_participant_bytes, s.participants, read_participant);
  read_lobby(r, s);
  if (r.failed()) return {};
  // `apply` stamps both on every event, and sets both when the visit ends.
  if (s.last_event_at.has_value() != (s.last_seq != 0))
    r.fail("last_event_at must be present exactly when last_seq is not 0");
  else if (s.ended_at.has_value() != s.ended_because.has_value())
    r.fail("ended_at and ended_because must be both present or both absent");
  return r.failed() ? visit_state{} : s;
}

}  // namespace

std::string encode_state(const visit_state& state) {
  writer w;
  w.u8(visit_state_format_version);
  write_state(w, state);
  return std::move(w).take();
}

result<visit_state> decode_state(std::string_view bytes) {
  const auto failure = [](std::string_view why) {
    std::string message{"visit_state: "};
    message.append(why);
    return make_error(errc::invalid_argument, std::move(message));
  };
  reader r{bytes};
  const auto found = r.u8("format version");
  if (r.failed()) return failure("empty input");
  if (found != visit_state_format_version)
    return failure("unknown format version " + std::to_string(found));
  visit_state state = read_state(r);
  if (!r.failed() && !r.at_end()) r.fail("trailing bytes after the state");
  if (r.failed()) return failure(r.why());
  return state;
}

}  // namespace visitd::domain
