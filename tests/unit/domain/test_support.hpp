#pragma once

// Test helpers shared by the domain tests: build ids from literals that are known to be valid.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain::testing {

/// Parses `text` as an `Id`; aborts the test binary if it is invalid (a bug in the test).
template <class Id>
Id make_id(std::string_view text) {
  auto id = Id::parse(text);
  if (!id) {
    ADD_FAILURE() << "bad test id '" << text << "': " << id.err().message;
    std::abort();
  }
  return std::move(id).value();
}

inline participant_id pid(std::string_view text) {
  return make_id<participant_id>(text);
}
inline device_id did(std::string_view text) {
  return make_id<device_id>(text);
}
inline ehr_user_id euid(std::string_view text) {
  return make_id<ehr_user_id>(text);
}
inline join_id jid(std::string_view text) {
  return make_id<join_id>(text);
}
inline account_id aid(std::string_view text) {
  return make_id<account_id>(text);
}

/// The value of `r`; aborts the test binary when a domain call the fixtures rely on fails.
template <class T>
T must(result<T> r) {
  if (!r) {
    ADD_FAILURE() << "fixture step failed: " << r.err().message;
    std::abort();
  }
  return std::move(r).value();
}

inline void must(result<void> r) {
  if (!r) {
    ADD_FAILURE() << "fixture step failed: " << r.err().message;
    std::abort();
  }
}

/// One input for the decoders' fuzz tests: when `mutant`, a corpus entry with 1..3 random edits
/// (byte replaced, inserted, removed or bit flipped); otherwise up to `max_random_bytes` random
/// bytes, half the time starting with the format `version` so they reach past the version check.
inline std::string fuzz_input(std::mt19937_64& rng, const std::vector<std::string>& corpus,
                              std::uint8_t version, std::size_t max_random_bytes, bool mutant) {
  std::string bytes;
  if (!mutant) {
    bytes.resize(rng() % max_random_bytes);
    for (auto& c : bytes) c = static_cast<char>(rng());
    if (!bytes.empty() && rng() % 2) bytes[0] = static_cast<char>(version);
    return bytes;
  }
  bytes = corpus[rng() % corpus.size()];
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < edits && !bytes.empty(); ++k) {
    const std::size_t at = rng() % bytes.size();
    switch (rng() % 8) {
      case 0: bytes[at] = static_cast<char>(rng()); break;
      case 1: bytes.insert(at, 1, static_cast<char>(rng())); break;
      case 2: bytes.erase(at, 1); break;
      default: bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8))); break;
    }
  }
  return bytes;
}

/// A fixed instant the tests count from (2019-12-25, well clear of the epoch).
inline const timestamp t0 = timestamp{} + std::chrono::hours{24 * 365 * 50};

/// Revision `n`; n >= 1 (a bug in the test otherwise).
inline revision_number rev(std::uint32_t n) {
  return revision_number::make(n).value();
}

}  // namespace visitd::domain::testing
