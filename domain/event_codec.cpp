#include "domain/event_codec.hpp"

#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace visitd::domain {

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

// -- writing -----------------------------------------------------------------------------------

class writer {
public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }

  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<std::uint8_t>(v));
  }

  void i64(std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(u >> (8 * i)));
  }

  void str(std::string_view s) {
    varint(s.size());
    out_.append(s);
  }

  template <class Tag>
  void id(const basic_id<Tag>& v) {
    str(v.str());
  }

  template <class Tag>
  void opt_id(const std::optional<basic_id<Tag>>& v) {
    u8(v ? 1 : 0);
    if (v) id(*v);
  }

  template <class E>
  void enumerated(E v) {
    u8(static_cast<std::uint8_t>(v));
  }

  [[nodiscard]] std::string take() && { return std::move(out_); }

private:
  std::string out_;
};

// -- reading -----------------------------------------------------------------------------------

// Reads with bounds checks; the first failure sticks and later reads return defaults, so the
// decoder can be written straight-line and checked once at the end.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}

  [[nodiscard]] bool failed() const noexcept { return error_.has_value(); }
  [[nodiscard]] bool at_end() const noexcept { return pos_ == in_.size(); }
  [[nodiscard]] std::string_view why() const noexcept {
    return error_ ? std::string_view{*error_} : std::string_view{};
  }

  void fail(std::string why) {
    if (!error_) error_ = std::move(why);
  }

  std::uint8_t u8(std::string_view what) {
    if (failed()) return 0;
    if (pos_ >= in_.size()) {
      fail("truncated input reading " + std::string{what});
      return 0;
    }
    return static_cast<std::uint8_t>(in_[pos_++]);
  }

  std::uint64_t varint(std::string_view what) {
    std::uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      const std::uint8_t b = u8(what);
      if (failed()) return 0;
      if (i == 9 && b > 1) {
        fail(std::string{what} + " overflows 64 bits");
        return 0;
      }
      v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) {
          fail(std::string{what} + " is not a canonical varint");
          return 0;
        }
        return v;
      }
    }
    fail(std::string{what} + " is longer than 10 bytes");
    return 0;
  }

  std::int64_t i64(std::string_view what) {
    std::uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u |= static_cast<std::uint64_t>(u8(what)) << (8 * i);
    return static_cast<std::int64_t>(u);
  }

  bool boolean(std::string_view what) {
    const auto b = u8(what);
    if (b > 1) fail(std::string{what} + " is not 0 or 1");
    return b == 1;
  }

  std::string_view str(std::string_view what) {
    const auto n = varint(what);
    if (failed()) return {};
    // Compare against what is left before touching memory: a huge length is just an error.
    if (n > in_.size() - pos_) {
      fail("truncated input reading " + std::string{what});
      return {};
    }
    const auto s = in_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }

  template <class Id>
  Id id(std::string_view what) {
    const auto text = str(what);
    if (failed()) return {};
    auto parsed = Id::parse(text);
    if (!parsed) {
      fail(parsed.err().message);
      return {};
    }
    return std::move(parsed).value();
  }

  template <class Id>
  std::optional<Id> opt_id(std::string_view what) {
    if (!boolean(what)) return std::nullopt;
    auto v = id<Id>(what);
    if (failed()) return std::nullopt;
    return v;
  }

  /// Reads an enum stored as u8 whose last enumerator is `last`.
  template <class E>
  E enumerated(std::string_view what, E last) {
    const auto b = u8(what);
    if (b > static_cast<std::uint8_t>(last))
      fail(std::string{what} + " has unknown value " + std::to_string(b));
    return failed() ? E{} : static_cast<E>(b);
  }

private:
  std::string_view in_;
  std::size_t pos_ = 0;
  std::optional<std::string> error_;
};

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
