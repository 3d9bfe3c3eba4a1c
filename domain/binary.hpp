#pragma once

// Internal to the domain's codecs (`event_codec`, `record_codec`): the low-level binary writer and
// the bounds-checked reader they share, so every stored format uses the same primitives:
//
//   u8 = one byte; varint = unsigned LEB128, canonical (no redundant 0x80 continuation bytes);
//   i64 = 8 bytes little-endian, two's complement; string = varint byte length + bytes;
//   optional = u8 0/1 + value; enum and bool = u8; timestamp and duration = i64 microseconds.
//
// Not part of the domain's public API: include it only from codec sources.

#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace visitd::domain::binary {

// -- writing -----------------------------------------------------------------------------------

/// Appends values to a byte string. Never fails.
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

  void boolean(bool v) { u8(v ? 1 : 0); }

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

  void time(timestamp t) { i64(t.time_since_epoch().count()); }

  void opt_time(const std::optional<timestamp>& t) {
    boolean(t.has_value());
    if (t) time(*t);
  }

  void span(duration d) { i64(d.count()); }

  void opt_span(const std::optional<duration>& d) {
    boolean(d.has_value());
    if (d) span(*d);
  }

  [[nodiscard]] std::string take() && { return std::move(out_); }

private:
  std::string out_;
};

// -- reading -----------------------------------------------------------------------------------

/// Reads with bounds checks; the first failure sticks and later reads return defaults, so a
/// decoder can be written straight-line and checked once at the end. `what` names the field in
/// the failure message.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}

  [[nodiscard]] bool failed() const noexcept { return error_.has_value(); }
  [[nodiscard]] bool at_end() const noexcept { return pos_ == in_.size(); }
  [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }
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

  /// Reads an id; a parse failure is reported with the id kind's own message.
  template <class Id>
  Id id(std::string_view what) {
    return parse_id<Id>(what, false);
  }

  template <class Id>
  std::optional<Id> opt_id(std::string_view what) {
    if (!boolean(what)) return std::nullopt;
    auto v = id<Id>(what);
    if (failed()) return std::nullopt;
    return v;
  }

  /// Like `id`, but a parse failure names the field first (`created_by: account_id ...`), for
  /// records that hold several ids of one kind.
  template <class Id>
  Id named_id(std::string_view what) {
    return parse_id<Id>(what, true);
  }

  template <class Id>
  std::optional<Id> opt_named_id(std::string_view what) {
    if (!boolean(what)) return std::nullopt;
    auto v = named_id<Id>(what);
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

  timestamp time(std::string_view what) { return timestamp{duration{i64(what)}}; }

  std::optional<timestamp> opt_time(std::string_view what) {
    if (!boolean(what)) return std::nullopt;
    const auto t = time(what);
    if (failed()) return std::nullopt;
    return t;
  }

  duration span(std::string_view what) { return duration{i64(what)}; }

  std::optional<duration> opt_span(std::string_view what) {
    if (!boolean(what)) return std::nullopt;
    const auto d = span(what);
    if (failed()) return std::nullopt;
    return d;
  }

  /// Reads the element count of a list whose elements take at least `min_element_bytes` each.
  /// A count the rest of the input cannot hold fails here, so a decoder never reserves or loops
  /// on a corrupt count.
  std::size_t count(std::string_view what, std::size_t min_element_bytes) {
    const auto n = varint(what);
    if (failed()) return 0;
    if (min_element_bytes == 0) min_element_bytes = 1;
    if (n > remaining() / min_element_bytes) {
      std::string why{"truncated input: "};
      why.append(what).append(" count ").append(std::to_string(n));
      why.append(" does not fit in the remaining ").append(std::to_string(remaining()));
      why.append(" bytes");
      fail(std::move(why));
      return 0;
    }
    return static_cast<std::size_t>(n);
  }

private:
  template <class Id>
  Id parse_id(std::string_view what, bool name_field) {
    const auto text = str(what);
    if (failed()) return {};
    auto parsed = Id::parse(text);
    if (!parsed) {
      if (name_field) {
        std::string why{what};
        why.append(": ").append(parsed.err().message);
        fail(std::move(why));
      } else {
        fail(parsed.err().message);
      }
      return {};
    }
    return std::move(parsed).value();
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::optional<std::string> error_;
};

}  // namespace visitd::domain::binary
