#pragma once

// The stored form of a visit event: compact, versioned binary. Layout (format version 1):
//
//   u8      format version (1)
//   varint  seq                         (LEB128, canonical, >= 1)
//   i64     at, microseconds since 1970 (little-endian, two's complement)
//   u8      event type                  (index in `visit_event`)
//   ...     the event's fields, in declaration order:
//           string = varint byte length + bytes; optional = u8 0/1 + value;
//           enum and bool = u8; device test flags = u8 bits (camera 1, microphone 2, speaker 4)
//
// Decoding validates everything it reads (ids, enum ranges, message text), so a decoded event is
// as valid as one made by `decide`, and every accepted input re-encodes to the same bytes.

#include "domain/error.hpp"
#include "domain/events.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace visitd::domain {

/// The format version `encode` writes.
inline constexpr std::uint8_t event_format_version = 1;

/// Encodes `event`. Precondition: its ids are non-empty (as `decide` guarantees).
[[nodiscard]] std::string encode(const event_envelope& event);

/// Decodes one event from exactly `bytes`. Never reads out of bounds and never throws on
/// arbitrary input: returns `invalid_argument` for an unknown version or event type, truncated
/// input, trailing bytes, non-canonical varints, out-of-range values or invalid ids/text.
[[nodiscard]] result<event_envelope> decode(std::string_view bytes);

}  // namespace visitd::domain
