#pragma once

// The stored form of a visit's live state, so an idle visit actor can keep its state as compact
// bytes (and, later, so snapshots can shorten recovery). Same primitives as the other codecs (see
// `binary.hpp`): string = varint byte length + bytes; optional = u8 0/1 + value; enum and bool =
// u8; timestamp = i64 microseconds, little-endian; list and map = varint count + elements. Fields
// appear in declaration order. Layout (format version 1):
//
//   u8 version | info | u8 status | varint last_seq | opt last_event_at | opt opened_at |
//   opt started_at | opt ended_at | opt u8 ended_because |
//   varint n, n x participant (in id order) | varint k, k x varint lobby index
//
//   info        = string holding `encode_record(visit_info)` (with its own version byte, so the
//                 header can evolve without a new state format)
//   participant = id | u8 role | u8 identity kind (0 ehr_user_id, 1 join_id) + id |
//                 u8 admission | varint m, m x device (in id order) | opt first_lobby_at |
//                 opt admitted_at | opt last_left_at
//   device      = id | u8 connected | opt last_change | opt last_check, where last_check =
//                 u8 flags (camera 1, microphone 2, speaker 4) | i64 at
//   lobby index = the 0-based position of the waiting participant in the participants list
//                 (ids are already stored there; an index is one byte instead of a string)
//
// Decoding validates every field as the other codecs do (the header through
// `decode_visit_info`), and refuses what `apply` can never produce from any journal: map keys
// out of strictly increasing order (so duplicates too), a lobby entry out of range, repeated or
// naming a participant whose admission is not `lobby` (or a provider: staff are never lobbied),
// a `lobby` participant missing from the lobby, `ended_at` without `ended_because` or the
// reverse, `last_event_at` present with `last_seq` 0 or missing with any other, and a connected
// device without `last_change`. Every accepted input re-encodes to exactly the same bytes.

#include "domain/error.hpp"
#include "domain/visit.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace visitd::domain {

/// The format version `encode_state` writes (the first byte of each encoding).
inline constexpr std::uint8_t visit_state_format_version = 1;

/// Encodes a visit's live state. Precondition: it is as `fold`/`apply` produce it (in
/// particular every lobby entry is a participant); otherwise the bytes are written but
/// `decode_state` refuses them.
[[nodiscard]] std::string encode_state(const visit_state& state);

/// Decodes a state from exactly `bytes`. Never reads out of bounds and never throws on arbitrary
/// input (short of memory exhaustion); returns `invalid_argument`, with a message starting with
/// "visit_state", for an unknown version, truncated input, trailing bytes, a non-canonical
/// varint, an out-of-range enum or bool, an invalid id or header, or a broken invariant (see
/// above).
[[nodiscard]] result<visit_state> decode_state(std::string_view bytes);

}  // namespace visitd::domain
