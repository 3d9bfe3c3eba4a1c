#include "domain/event_codec.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace visitd::domain {
namespace {

using testing::t0;

using namespace std::chrono_literals;
using testing::did;
using testing::euid;
using testing::jid;
using testing::pid;

/// One envelope of every event type, with optional fields both set and unset.
std::vector<event_envelope> samples() {
  std::vector<visit_event> events = {
    participant_joined{pid("doc"), participant_role::provider, euid("Practitioner/123")},
    participant_joined{pid("pat"), participant_role::patient, jid("join-1")},
    participant_joined{pid("gst"), participant_role::guest, jid("join-2")},
    lobby_entered{pid("pat")},
    admitted{pid("pat"), pid("doc")},
    admitted{pid("pat"), std::nullopt},
    denied{pid("pat"), pid("doc"), deny_reason::wrong_visit},
    returned_to_lobby{pid("pat"), pid("doc")},
    returned_to_lobby{pid("pat"), std::nullopt},
    connected{pid("pat"), did("d1")},
    disconnected{pid("pat"), did("d1")},
    visit_started{},
    visit_ended{end_reason::last_left},
    visit_ended{end_reason::ended_by_provider},
    visit_ended{end_reason::timeout},
    lobby_message{pid("doc"), std::nullopt, "Running late\nsorry"},
    lobby_message{pid("doc"), pid("pat"), std::string(500, 'x')},
    device_test_result{pid("pat"), did("d1"), true, false, true},
    device_test_result{pid("pat"), did("d2"), false, true, false},
  };
  std::vector<event_envelope> out;
  std::uint64_t seq = 1;
  for (auto& e : events) {
    out.push_back(event_envelope{seq, t0 + std::chrono::microseconds{seq * 1234567}, e});
    seq = seq * 131 + 7;  // exercise multi-byte varints
  }
  out.push_back(event_envelope{UINT64_MAX, timestamp{duration{-5}}, visit_started{}});
  out.push_back(event_envelope{1, timestamp{duration{INT64_MIN}}, visit_started{}});
  out.push_back(event_envelope{1, timestamp{duration{INT64_MAX}}, visit_started{}});
  return out;
}

TEST(event_codec, round_trips_every_event_type) {
  std::set<std::size_t> types;
  for (const auto& env : samples()) {
    const std::string bytes = encode(env);
    EXPECT_EQ(static_cast<std::uint8_t>(bytes[0]), event_format_version);
    auto back = decode(bytes);
    ASSERT_TRUE(back.has_value()) << event_name(env.event) << ": " << back.err().message;
    EXPECT_EQ(*back, env) << event_name(env.event);
    types.insert(env.event.index());
  }
  EXPECT_EQ(types.size(), std::variant_size_v<visit_event>) << "a type lacks a sample";
}

TEST(event_codec, is_compact) {
  const std::string bytes = encode(event_envelope{3, t0, connected{pid("p1"), did("d1")}});
  EXPECT_EQ(bytes.size(), 1U + 1 + 8 + 1 + 3 + 3);
}

errc decode_error(std::string_view bytes) {
  auto r = decode(bytes);
  EXPECT_FALSE(r.has_value());
  return r ? errc::internal : r.err().code;
}

TEST(event_codec, rejects_unknown_version_type_and_trailing_bytes) {
  std::string bytes = encode(event_envelope{1, t0, visit_started{}});
  EXPECT_EQ(decode_error(""), errc::invalid_argument);
  std::string v2 = bytes;
  v2[0] = 2;
  EXPECT_EQ(decode_error(v2), errc::invalid_argument);
  EXPECT_NE(decode(v2).err().message.find("version"), std::string::npos);
  std::string unknown_type = bytes;
  unknown_type.back() = 11;
  EXPECT_EQ(decode_error(unknown_type), errc::invalid_argument);
  EXPECT_EQ(decode_error(bytes + '\0'), errc::invalid_argument);
  EXPECT_NE(decode(bytes + '\0').err().message.find("trailing"), std::string::npos);
}

TEST(event_codec, rejects_truncation_at_every_length) {
  for (const auto& env : samples()) {
    const std::string bytes = encode(env);
    for (std::size_t n = 0; n < bytes.size(); ++n)
      EXPECT_EQ(decode_error(std::string_view{bytes}.substr(0, n)), errc::invalid_argument)
        << event_name(env.event) << " cut at " << n;
  }
}

TEST(event_codec, rejects_invalid_field_values) {
  // seq 0, non-canonical varint, bad enum, bad bool, bad id, bad flags, bad text.
  std::string seq0 = encode(event_envelope{1, t0, visit_started{}});
  seq0[1] = 0;
  EXPECT_EQ(decode_error(seq0), errc::invalid_argument);
  std::string overlong = std::string{"\x01\x81\x00", 3} + std::string(8, '\0') + '\x07';
  EXPECT_EQ(decode_error(overlong), errc::invalid_argument);
  std::string ended = encode(event_envelope{1, t0, visit_ended{end_reason::timeout}});
  ended.back() = 3;
  EXPECT_EQ(decode_error(ended), errc::invalid_argument);
  std::string adm = encode(event_envelope{1, t0, admitted{pid("p"), std::nullopt}});
  adm.back() = 2;
  EXPECT_EQ(decode_error(adm), errc::invalid_argument);
  std::string bad_id = encode(event_envelope{1, t0, lobby_entered{pid("p")}});
  bad_id.back() = '/';
  EXPECT_NE(decode(bad_id).err().message.find("participant_id"), std::string::npos);
  std::string flags = encode(event_envelope{1, t0, device_test_result{pid("p"), did("d")}});
  flags.back() = 8;
  EXPECT_EQ(decode_error(flags), errc::invalid_argument);
  std::string text = encode(event_envelope{1, t0, lobby_message{pid("p"), std::nullopt, "hi"}});
  text.back() = '\x01';
  EXPECT_EQ(decode_error(text), errc::invalid_argument);
  // A string length far beyond the input must be an error, not an allocation or a read.
  std::string huge = std::string{"\x01\x01", 2} + std::string(8, '\0') + '\x01' +
                     std::string{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10};
  EXPECT_EQ(decode_error(huge), errc::invalid_argument);
}

TEST(event_codec, random_bytes_and_mutations_never_crash_and_stay_canonical) {
  const std::uint64_t seed = 77;
  std::mt19937_64 rng{seed};
  const auto corpus = samples();
  std::size_t accepted = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 40);
      for (auto& c : bytes) c = static_cast<char>(rng());
      if (!bytes.empty() && rng() % 2) bytes[0] = 1;  // get past the version check more often
    } else {
      bytes = encode(corpus[rng() % corpus.size()]);
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f)
        bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8));
    }
    auto r = decode(bytes);
    if (r) {
      ++accepted;
      // Whatever is accepted is a valid event whose encoding is exactly the input.
      ASSERT_EQ(encode(*r), bytes) << "seed " << seed << " iteration " << i;
    } else {
      ASSERT_EQ(r.err().code, errc::invalid_argument);
    }
  }
  EXPECT_GT(accepted, 1000U);
}

}  // namespace
}  // namespace visitd::domain
