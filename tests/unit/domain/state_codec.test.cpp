#include "domain/state_codec.hpp"

#include "domain/record_codec.hpp"
#include "random_commands.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain {
namespace {

using testing::t0;

using namespace std::chrono_literals;
using testing::cast;
using testing::did;
using testing::euid;
using testing::generator;
using testing::jid;
using testing::make_id;
using testing::must;
using testing::pid;

visit_info small_info() {
  return must(make_visit_info(make_id<visit_id>("v"), make_id<tenant_id>("t"),
                              make_id<endpoint_id>("e"), std::nullopt,
                              make_id<fhir_reference>("Encounter/9"), std::nullopt, t0));
}

/// Ids of the length production uses (UUID-sized visit, participant and device ids).
visit_info realistic_info() {
  return must(make_visit_info(
    make_id<visit_id>("3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f8a9b0c"), make_id<tenant_id>("acme-health"),
    make_id<endpoint_id>("acme-epic-prod"), make_id<fhir_reference>("Appointment/eWzAbc123XyZ"),
    make_id<fhir_reference>("Encounter/e8Ta9kLmN0pQ"), make_id<department_id>("cardiology-3"), t0));
}

/// Runs commands through `decide` and `apply`, as the visit actor does.
class visit_driver {
public:
  explicit visit_driver(visit_info info) : state_(initial_state(std::move(info))) {}

  visit_driver& run(const command& c, timestamp now) {
    for (const auto& e : must(decide(state_, c, now, visit_policy{}))) apply(state_, e);
    return *this;
  }

  [[nodiscard]] const visit_state& state() const noexcept { return state_; }

private:
  visit_state state_;
};

/// A visit in progress: one provider and one admitted patient, one device each.
visit_state typical_state(visit_info info, std::string_view doc, std::string_view doc_device,
                          std::string_view pat, std::string_view pat_device) {
  const participant_id provider = pid(doc);
  const participant_id patient = pid(pat);
  const join_id link = jid("j-" + std::string{pat});
  visit_driver v{std::move(info)};
  v.run(cmd::join{patient, did(pat_device), participant_role::patient, link}, t0 - 3min)
    .run(cmd::report_device_test{patient, did(pat_device), true, true, false}, t0 - 2min)
    .run(cmd::join{provider, did(doc_device), participant_role::provider,
                   euid("Practitioner/1234567")},
         t0 + 1min)
    .run(cmd::admit{provider, patient}, t0 + 90s);
  EXPECT_EQ(v.state().status, visit_status::in_progress);
  return v.state();
}

/// Every optional field set, both identity kinds, every admission that can persist, several
/// devices, a two-entry lobby, and the extremes of the integer fields.
visit_state full_state() {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  visit_state s = initial_state(realistic_info());
  s.status = visit_status::ended;
  s.last_seq = std::numeric_limits<std::uint64_t>::max();
  s.last_event_at = timestamp{duration{hi}};
  s.opened_at = timestamp{duration{lo}};
  s.started_at = t0 + 1s;
  s.ended_at = t0 + 2h;
  s.ended_because = end_reason::timeout;

  participant_state doc;
  doc.role = participant_role::provider;
  doc.identity = euid("Practitioner/1");
  doc.status = admission::admitted;
  doc.devices[did("laptop")] =
    device_state{true, t0, device_check{true, true, true, timestamp{duration{-1}}}};
  doc.devices[did("phone")] = device_state{false, t0 + 5min, std::nullopt};
  doc.devices[did("tablet")] = device_state{false, std::nullopt, device_check{}};
  doc.first_lobby_at = t0 - 1h;  // not reachable through `apply`, but the format carries it
  doc.admitted_at = t0;
  doc.last_left_at = t0 + 6min;
  s.participants.emplace(pid("doc"), doc);

  participant_state waiting;
  waiting.role = participant_role::patient;
  waiting.identity = jid("join-1");
  waiting.status = admission::lobby;
  waiting.devices[did("d1")] =
    device_state{true, t0 + 3min, device_check{false, true, false, t0 + 2min}};
  waiting.first_lobby_at = t0 + 1min;
  waiting.admitted_at = t0 + 2min;
  waiting.last_left_at = t0 + 3min;
  s.participants.emplace(pid("pat"), waiting);

  participant_state guest = waiting;
  guest.role = participant_role::guest;
  guest.identity = jid("join-2");
  s.participants.emplace(pid("gst"), guest);

  participant_state refused;
  refused.role = participant_role::guest;
  refused.identity = jid(std::string(64, 'j'));
  refused.status = admission::denied;
  refused.first_lobby_at = t0;
  s.participants.emplace(pid(std::string(64, 'z')), refused);

  participant_state unplaced;
  unplaced.role = participant_role::patient;
  unplaced.identity = euid("Patient/" + std::string(200, '7'));
  s.participants.emplace(pid("new"), unplaced);

  // Queue order differs from id order, so positions are not simply 0, 1, ...
  s.lobby = {pid("pat"), pid("gst")};
  return s;
}

// -- random states, folded from random command sequences (after visit_random.test.cpp) --------

constexpr std::uint64_t base_seed = 20261126;
constexpr int sequences = 3000;
constexpr int steps_per_sequence = 40;

/// Calls `each` with every state reached by the random sequences (after each accepted command).
template <class Each>
void for_each_random_state(int count, Each each) {
  const auto people = cast();
  const visit_info info = small_info();
  for (int i = 0; i < count; ++i) {
    const std::uint64_t seed = base_seed + static_cast<std::uint64_t>(i);
    generator gen{seed};
    visit_policy policy;
    policy.auto_admit_on_provider_join = gen.coin(30);
    visit_state state = initial_state(info);
    timestamp now = t0 - 10min;
    for (int step = 0; step < steps_per_sequence && state.status != visit_status::ended; ++step) {
      now += gen.step();
      auto events = decide(state, gen.next(people), now, policy);
      if (!events) continue;
      for (const auto& e : *events) apply(state, e);
      each(state, seed, step);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

/// Hand-made and folded samples, for the tests that mutate encodings.
std::vector<visit_state> samples() {
  std::vector<visit_state> out;
  out.push_back(initial_state(small_info()));
  out.push_back(initial_state(realistic_info()));
  out.push_back(full_state());
  out.push_back(typical_state(small_info(), "doc1", "d1", "pat1", "d2"));
  int n = 0;
  for_each_random_state(40, [&](const visit_state& s, std::uint64_t, int) {
    if (++n % 7 == 0) out.push_back(s);
  });
  return out;
}

error decode_error(std::string_view bytes) {
  auto r = decode_state(bytes);
  EXPECT_FALSE(r.has_value()) << "accepted bad input";
  if (r) return error{errc::internal, "accepted"};
  EXPECT_EQ(r.err().code, errc::invalid_argument) << r.err().message;
  EXPECT_EQ(r.err().message.rfind("visit_state: ", 0), 0U) << r.err().message;
  return r.err();
}

bool mentions(const error& e, std::string_view text) {
  return e.message.find(text) != std::string::npos;
}

/// Encodes, decodes and re-encodes `s`, expecting an exact round trip.
void expect_round_trip(const visit_state& s) {
  const std::string bytes = encode_state(s);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[0]), visit_state_format_version);
  auto back = decode_state(bytes);
  ASSERT_TRUE(back.has_value()) << back.err().message;
  EXPECT_TRUE(*back == s) << "the state changed in the round trip";
  EXPECT_EQ(encode_state(*back), bytes);
}

// -- round trips -------------------------------------------------------------------------------

TEST(state_codec, round_trips_the_initial_state) {
  expect_round_trip(initial_state(small_info()));
  expect_round_trip(initial_state(realistic_info()));
}

TEST(state_codec, initial_state_bytes_are_as_documented) {
  const visit_info info = small_info();
  const std::string header = encode_record(info);
  // version, info as a string, status scheduled, last_seq 0, four absent timestamps, no
  // ended_because, no participants, empty lobby.
  std::string expected{"\x01"};
  expected.push_back(static_cast<char>(header.size()));
  expected.append(header).append(9, '\0');
  EXPECT_EQ(encode_state(initial_state(info)), expected);
}

TEST(state_codec, round_trips_a_state_with_every_optional_set) {
  const visit_state s = full_state();
  expect_round_trip(s);
  // The fixture must actually exercise what it claims to.
  EXPECT_TRUE(s.last_event_at && s.opened_at && s.started_at && s.ended_at && s.ended_because);
  EXPECT_TRUE(s.info.appointment && s.info.encounter && s.info.department);
  const auto& doc = s.participants.at(pid("doc"));
  EXPECT_TRUE(doc.first_lobby_at && doc.admitted_at && doc.last_left_at);
}

TEST(state_codec, round_trips_states_folded_from_random_commands) {
  std::size_t states = 0;
  std::size_t with_lobby = 0;
  std::size_t ended = 0;
  for_each_random_state(sequences, [&](const visit_state& s, std::uint64_t seed, int step) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(step));
    expect_round_trip(s);
    ++states;
    if (s.lobby.size() >= 2) ++with_lobby;
    if (s.status == visit_status::ended) ++ended;
  });
  // The sequences must reach the interesting shapes, or the round trips checked too little.
  EXPECT_GT(states, 20000U);
  EXPECT_GT(with_lobby, 1000U);
  EXPECT_GT(ended, 100U);
}

TEST(state_codec, typical_state_size) {
  const visit_state small = typical_state(small_info(), "doc1", "d1", "pat1", "d2");
  const visit_state realistic =
    typical_state(realistic_info(), "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                  "a8098c1a-f86e-11da-bd1a-00112444be1e", "16fd2706-8baf-433b-82eb-8c7fada847da",
                  "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  for (const auto* s : {&small, &realistic}) expect_round_trip(*s);
  const auto small_bytes = encode_state(small).size();
  const auto realistic_bytes = encode_state(realistic).size();
  std::cout << "[   info   ] in-progress visit, 2 participants with 1 device each: " << small_bytes
            << " bytes with short test ids, " << realistic_bytes
            << " bytes with UUID ids and a full header\n";
  RecordProperty("typical_state_bytes_short_ids", static_cast<int>(small_bytes));
  RecordProperty("typical_state_bytes_uuid_ids", static_cast<int>(realistic_bytes));
}

// -- malformed input ---------------------------------------------------------------------------

TEST(state_codec, rejects_truncation_at_every_length) {
  for (const auto& s : samples()) {
    const std::string bytes = encode_state(s);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      const auto e = decode_error(std::string_view{bytes}.substr(0, n));
      EXPECT_TRUE(mentions(e, n == 0 ? "empty input" : "truncated"))
        << "cut at " << n << " of " << bytes.size() << ": " << e.message;
    }
  }
}

TEST(state_codec, rejects_trailing_bytes) {
  for (const auto& s : samples()) {
    const std::string bytes = encode_state(s);
    for (std::string_view extra : {std::string_view{"\0", 1}, std::string_view{"\x01"},
                                   std::string_view{"trailing garbage"}}) {
      std::string longer = bytes;
      longer.append(extra);
      EXPECT_TRUE(mentions(decode_error(longer), "trailing bytes"));
    }
  }
}

TEST(state_codec, rejects_unknown_versions) {
  std::string bytes = encode_state(full_state());
  for (int v : {0, 2, 0x81, 255}) {
    bytes[0] = static_cast<char>(v);
    EXPECT_TRUE(mentions(decode_error(bytes), "unknown format version " + std::to_string(v)));
  }
  // The embedded header keeps its own version, checked by `decode_visit_info`.
  bytes = encode_state(initial_state(small_info()));
  bytes[2] = 7;
  EXPECT_TRUE(mentions(decode_error(bytes), "info: visit_info: unknown format version 7"));
}

TEST(state_codec, rejects_a_lobby_entry_naming_a_non_lobby_participant) {
  visit_state s = full_state();
  s.lobby.push_back(pid("doc"));
  EXPECT_TRUE(mentions(decode_error(encode_state(s)),
                       "lobby lists participant 'doc', whose admission is admitted, not lobby"));
  s.lobby.back() = pid("new");
  EXPECT_TRUE(mentions(decode_error(encode_state(s)), "whose admission is none, not lobby"));
}

TEST(state_codec, rejects_other_broken_lobby_invariants) {
  // Repeated entry.
  visit_state s = full_state();
  s.lobby.push_back(pid("pat"));
  EXPECT_TRUE(mentions(decode_error(encode_state(s)), "lobby lists participant 'pat' twice"));
  // A lobby participant missing from the queue.
  s = full_state();
  s.lobby.pop_back();
  EXPECT_TRUE(mentions(decode_error(encode_state(s)),
                       "participant 'gst' has admission lobby but is not in the lobby"));
  // An entry that is no participant at all is written one past the end.
  s = full_state();
  s.lobby.push_back(pid("stranger"));
  EXPECT_TRUE(mentions(decode_error(encode_state(s)), "is position 5 of only 5 participants"));
  // Staff are never lobbied.
  s = full_state();
  s.participants.at(pid("doc")).status = admission::lobby;
  s.lobby.push_back(pid("doc"));
  EXPECT_TRUE(mentions(decode_error(encode_state(s)), "is a provider in the lobby"));
}

/// Replaces the single occurrence of `from` in `bytes` with `to` (same length).
std::string replace_once(std::string bytes, std::string_view from, std::string_view to) {
  const auto at = bytes.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(bytes.find(from, at + 1), std::string::npos) << from << " occurs twice";
  EXPECT_EQ(from.size(), to.size());
  if (at != std::string::npos) bytes.replace(at, from.size(), to);
  return bytes;
}

TEST(state_codec, rejects_map_keys_out_of_order_or_repeated) {
  visit_state s = initial_state(small_info());
  s.status = visit_status::open;
  for (const auto* id : {"pp-b", "pp-c"}) {
    participant_state p;
    p.role = participant_role::provider;
    p.identity = euid("Practitioner/1");
    p.status = admission::admitted;
    p.devices[did("dv-x")] = device_state{true, t0, std::nullopt};
    p.devices[did("dv-y")] = device_state{false, t0, std::nullopt};
    s.participants.emplace(pid(id), std::move(p));
  }
  const std::string bytes = encode_state(s);
  ASSERT_TRUE(decode_state(bytes).has_value());
  EXPECT_TRUE(mentions(decode_error(replace_once(bytes, "pp-c", "pp-b")),
                       "participants are not in strictly increasing id order at 'pp-b'"));
  EXPECT_TRUE(mentions(decode_error(replace_once(bytes, "pp-c", "pp-a")),
                       "participants are not in strictly increasing id order at 'pp-a'"));
  std::string devices = bytes;
  devices.replace(devices.find("dv-y"), 4, "dv-x");
  EXPECT_TRUE(mentions(decode_error(devices),
                       "participants.devices are not in strictly increasing id order at 'dv-x'"));
}

TEST(state_codec, rejects_broken_field_invariants) {
  visit_state s = typical_state(small_info(), "doc1", "d1", "pat1", "d2");
  s.ended_at = t0;
  EXPECT_TRUE(mentions(decode_error(encode_state(s)), "ended_at and ended_because"));
  s = typical_state(small_info(), "doc1", "d1", "pat1", "d2");
  s.last_seq = 0;
  EXPECT_TRUE(mentions(decode_error(encode_state(s)), "last_event_at must be present exactly"));
  s = typical_state(small_info(), "doc1", "d1", "pat1", "d2");
  s.participants.at(pid("doc1")).devices.at(did("d1")).last_change.reset();
  EXPECT_TRUE(mentions(decode_error(encode_state(s)), "a connected device needs last_change"));
  // An invalid id inside an otherwise valid encoding.
  s = typical_state(small_info(), "doc1", "d1", "pat1", "d2");
  EXPECT_TRUE(
    mentions(decode_error(replace_once(encode_state(s), "doc1", "doc!")), "participants.id: "));
}

TEST(state_codec, rejects_out_of_range_enums_bools_and_non_canonical_varints) {
  const visit_info info = small_info();
  const std::size_t at = 2 + encode_record(info).size();  // first byte after the header
  const std::string bytes = encode_state(initial_state(info));
  std::string bad = bytes;
  bad[at] = 4;
  EXPECT_TRUE(mentions(decode_error(bad), "status has unknown value 4"));
  bad = bytes;
  bad[at + 2] = 2;
  EXPECT_TRUE(mentions(decode_error(bad), "last_event_at is not 0 or 1"));
  // last_seq 0 written as 0x80 0x00.
  bad = bytes;
  bad.insert(at + 1, 1, '\x80');
  EXPECT_TRUE(mentions(decode_error(bad), "last_seq is not a canonical varint"));
}

/// Random bytes, and samples with flipped bits or bytes inserted, removed or overwritten: the
/// decoder must not crash (the sanitizer build checks memory), must refuse with
/// `invalid_argument`, or accept a value whose encoding is exactly the input.
TEST(state_codec, random_bytes_and_mutations_never_crash_and_stay_canonical) {
  const std::uint64_t seed = 0x5eed57a7;
  std::mt19937_64 rng{seed};
  std::vector<std::string> corpus;
  for (const auto& s : samples()) corpus.push_back(encode_state(s));
  std::size_t accepted_mutants = 0;
  constexpr int cases = 100000;
  for (int i = 0; i < cases; ++i) {
    const bool mutant = i % 4 != 0;
    const auto bytes = testing::fuzz_input(rng, corpus, visit_state_format_version, 96, mutant);
    auto r = decode_state(bytes);
    if (r) {
      if (mutant) ++accepted_mutants;
      ASSERT_EQ(encode_state(*r), bytes) << "seed " << seed << " case " << i;
    } else {
      ASSERT_EQ(r.err().code, errc::invalid_argument) << "seed " << seed << " case " << i;
      ASSERT_EQ(r.err().message.rfind("visit_state: ", 0), 0U) << r.err().message;
    }
  }
  // The mutations must reach past the first checks often enough for the canonical assertion to
  // mean something (timestamps and flags accept most values).
  EXPECT_GT(accepted_mutants, static_cast<std::size_t>(cases / 50));
}

}  // namespace
}  // namespace visitd::domain
