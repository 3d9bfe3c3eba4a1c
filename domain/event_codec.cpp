#include "domain/event_codec.hpp"

#include "domain/binary.hpp"
#include "domain/overloaded.hpp"

#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace visitd::domain {

namespace {

// The primitives are shared with `record_codec` so all stored formats agree on them.
using binary::reader;
using binary::writer;

constexpr std::uint8_t flag_camera = 1;
constexpr std::uint8_t flag_microphone = 2;
constexpr std::uint8_t flag_speaker = 4;

void write_event(writer& w, const visit_event& event) {
  w.u8(static_cast<std::uint8_t>(event.index()));
  std::visit(overloaded{
               [&](const participant_joined& e) {
                 w.id(e.participant);
                 w.enumerated(e.role);
                 w.u8(static_cast<std::uint8_t>(e.identity.index()));
                 std::visit([&](const auto& identity) { w.id(identity); }, e.identity);
               },
               [&](const lobby_entered& e) { w.id(e.participant); },
               [&](const admitted& e) {
                 w.id(e.participant);
                 w.opt_id(e.by);
               },
               [&](const denied& e) {
                 w.id(e.participant);
                 w.id(e.by);
                 w.enumerated(e.reason);
               },
               [&](const returned_to_lobby& e) {
                 w.id(e.participant);
                 w.opt_id(e.by);
               },
               [&](const connected& e) {
                 w.id(e.participant);
                 w.id(e.device);
               },
               [&](const disconnected& e) {
                 w.id(e.participant);
                 w.id(e.device);
               },
               [&](const visit_started&) {},
               [&](const visit_ended& e) { w.enumerated(e.reason); },
               [&](const lobby_message& e) {
                 w.id(e.from);
                 w.opt_id(e.to);
                 w.str(e.text);
               },
               [&](const device_test_result& e) {
                 w.id(e.participant);
                 w.id(e.device);
                 w.u8(static_cast<std::uint8_t>((e.camera_ok ? flag_camera : 0) |
                                                (e.microphone_ok ? flag_microphone : 0) |
                                                (e.speaker_ok ? flag_speaker : 0)));
               },
             },
             event);
}

visit_event read_event(reader& r) {
  const auto type = r.u8("event type");
  switch (type) {
    case 0: {
      participant_joined e;
      e.participant = r.id<participant_id>("participant");
      e.role = r.enumerated("role", participant_role::guest);
      const auto kind = r.u8("identity kind");
      if (kind == 0)
        e.identity = r.id<ehr_user_id>("identity");
      else if (kind == 1)
        e.identity = r.id<join_id>("identity");
      else
        r.fail("identity kind has unknown value " + std::to_string(kind));
      return e;
    }
    case 1: return lobby_entered{r.id<participant_id>("participant")};
    case 2: {
      admitted e;
      e.participant = r.id<participant_id>("participant");
      e.by = r.opt_id<participant_id>("by");
      return e;
    }
    case 3: {
      denied e;
      e.participant = r.id<participant_id>("participant");
      e.by = r.id<participant_id>("by");
      e.reason = r.enumerated("deny reason", deny_reason::wrong_visit);
      return e;
    }
    case 4: {
      returned_to_lobby e;
      e.participant = r.id<participant_id>("participant");
      e.by = r.opt_id<participant_id>("by");
      return e;
    }
    case 5: {
      connected e;
      e.participant = r.id<participant_id>("participant");
      e.device = r.id<device_id>("device");
      return e;
    }
    case 6: {
      disconnected e;
      e.participant = r.id<participant_id>("participant");
      e.device = r.id<device_id>("device");
      return e;
    }
    case 7: return visit_started{};
    case 8: return visit_ended{r.enumerated("end reason", end_reason::timeout)};
    case 9: {
      lobby_message e;
      e.from = r.id<participant_id>("from");
      e.to = r.opt_id<participant_id>("to");
      const auto text = r.str("text");
      if (!r.failed()) {
        if (auto ok = validate_lobby_message(text); !ok)
          r.fail(ok.err().message);
        else
          e.text = std::string{text};
      }
      return e;
    }
    case 10: {
      device_test_result e;
      e.participant = r.id<participant_id>("participant");
      e.device = r.id<device_id>("device");
      const auto flags = r.u8("device test flags");
      if (flags & ~(flag_camera | flag_microphone | flag_speaker))
        r.fail("device test flags has unknown bits");
      e.camera_ok = (flags & flag_camera) != 0;
      e.microphone_ok = (flags & flag_microphone) != 0;
      e.speaker_ok = (flags & flag_speaker) != 0;
      return e;
    }
    default:
      if (!r.failed()) r.fail("unknown event type " + std::to_string(type));
      return visit_started{};
  }
}

static_assert(std::variant_size_v<visit_event> == 11,
              "a new event type needs a case in write_event and read_event");

}  // namespace

std::string encode(const event_envelope& event) {
  writer w;
  w.u8(event_format_version);
  w.varint(event.seq);
  w.i64(event.at.time_since_epoch().count());
  write_event(w, event.event);
  return std::move(w).take();
}

result<event_envelope> decode(std::string_view bytes) {
  reader r{bytes};
  const auto version = r.u8("format version");
  if (r.failed()) return make_error(errc::invalid_argument, "event: empty input");
  if (version != event_format_version)
    return make_error(errc::invalid_argument,
                      "event: unknown format version " + std::to_string(version));
  event_envelope env;
  env.seq = r.varint("seq");
  if (!r.failed() && env.seq == 0) r.fail("seq must be at least 1");
  env.at = timestamp{duration{r.i64("at")}};
  env.event = read_event(r);
  if (!r.failed() && !r.at_end()) r.fail("trailing bytes after the event");
  if (r.failed()) return make_error(errc::invalid_argument, "event: " + std::string{r.why()});
  return env;
}

}  // namespace visitd::domain
