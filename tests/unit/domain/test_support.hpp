#pragma once

// Test helpers shared by the domain tests: build ids from literals that are known to be valid.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

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

/// A fixed instant the tests count from (2019-12-25, well clear of the epoch).
inline const timestamp t0 = timestamp{} + std::chrono::hours{24 * 365 * 50};

/// Revision `n`; n >= 1 (a bug in the test otherwise).
inline revision_number rev(std::uint32_t n) {
  return revision_number::make(n).value();
}

}  // namespace visitd::domain::testing
