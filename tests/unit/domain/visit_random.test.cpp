// Randomized command sequences over one visit, checking invariants after every step. Seeds are
// deterministic; a failure prints the seed and the step so it can be replayed.

#include "domain/event_codec.hpp"
#include "domain/report.hpp"
#include "domain/visit.hpp"
#include "random_commands.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
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
using testing::pid;

constexpr std::uint64_t base_seed = 20261125;
constexpr int sequences = 5000;
constexpr int steps_per_sequence = 40;

/// The report recomputed the slow way: fold the visit event by event and look at presence.
visit_report brute_force_report(const visit_info& info, const std::vector<event_envelope>& log) {
  visit_report rep;
  visit_state s = initial_state(info);
  std::set<participant_id> present_before;
  std::optional<timestamp> last_leave;
  std::map<participant_id, std::size_t> wait_of;
  bool patient_ever_admitted = false;
  bool patient_lobbied = false;
  for (const auto& e : log) {
    apply(s, e);
    std::set<participant_id> present_now;
    bool staff = false;
    bool other = false;
    for (const auto& [id, p] : s.participants) {
      if (p.present()) {
        present_now.insert(id);
        (p.is_staff() ? staff : other) = true;
      }
      if (!p.is_staff() && p.status == admission::admitted) patient_ever_admitted = true;
      if (p.first_lobby_at) {
        patient_lobbied = true;
        if (!wait_of.contains(id)) {
          wait_of[id] = rep.lobby_waits.size();
          rep.lobby_waits.push_back(lobby_wait{id, *p.first_lobby_at, std::nullopt});
        }
        auto& w = rep.lobby_waits[wait_of[id]];
        if (p.status == admission::admitted && !w.wait) w.wait = *p.admitted_at - w.entered_at;
      }
    }
    for (const auto& id : present_before)
      if (!present_now.contains(id)) last_leave = e.at;
    rep.max_attendees = std::max(rep.max_attendees, present_now.size());
    if (!rep.started_at && staff && other) rep.started_at = e.at;
    present_before = std::move(present_now);
  }
  if (rep.started_at)
    rep.length = (present_before.empty() ? *last_leave : log.back().at) - *rep.started_at;
  if (s.status != visit_status::ended)
    rep.status = report_status::not_ended;
  else if (rep.started_at)
    rep.status = report_status::completed;
  else if (s.participants.empty())
    rep.status = report_status::cancelled;
  else if (patient_lobbied && !patient_ever_admitted)
    rep.status = report_status::abandoned;
  else
    rep.status = report_status::no_show;
  return rep;
}

/// The last admission-changing event about `id` in `log`.
std::optional<std::size_t> last_admission_event(const std::vector<event_envelope>& log,
                                                const participant_id& id) {
  for (std::size_t i = log.size(); i-- > 0;) {
    const auto& ev = log[i].event;
    if ((std::holds_alternative<admitted>(ev) && std::get<admitted>(ev).participant == id) ||
        (std::holds_alternative<lobby_entered>(ev) &&
         std::get<lobby_entered>(ev).participant == id) ||
        (std::holds_alternative<returned_to_lobby>(ev) &&
         std::get<returned_to_lobby>(ev).participant == id) ||
        (std::holds_alternative<denied>(ev) && std::get<denied>(ev).participant == id))
      return i;
  }
  return std::nullopt;
}

void check_invariants(const visit_info& info, const visit_state& s,
                      const std::vector<event_envelope>& log) {
  // Seq numbers gapless from 1; time never runs backwards.
  for (std::size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].seq, i + 1);
    if (i > 0) {
      ASSERT_LE(log[i - 1].at, log[i].at);
    }
  }
  ASSERT_EQ(s.last_seq, log.size());

  // The live state is the fold of all events from scratch.
  auto rebuilt = fold(info, log);
  ASSERT_TRUE(rebuilt.has_value());
  ASSERT_EQ(*rebuilt, s);

  // No patient/guest present unless their latest admission event admitted them.
  for (const auto& [id, p] : s.participants) {
    if (p.is_staff()) {
      ASSERT_FALSE(lobby_position(s, id).has_value()) << "staff in the lobby";
      ASSERT_FALSE(last_admission_event(log, id).has_value()) << "staff were lobbied";
      continue;
    }
    if (p.present()) {
      auto last = last_admission_event(log, id);
      ASSERT_TRUE(last.has_value());
      ASSERT_TRUE(std::holds_alternative<admitted>(log[*last].event))
        << id.str() << " present without admission";
    }
    ASSERT_EQ(p.status == admission::lobby, lobby_position(s, id).has_value());
  }
  std::set<participant_id> unique(s.lobby.begin(), s.lobby.end());
  ASSERT_EQ(unique.size(), s.lobby.size()) << "duplicate lobby entry";

  // visit_started at most once, and only with staff and a patient/guest present at that point.
  std::size_t starts = 0;
  std::size_t ends = 0;
  for (const auto& e : log) {
    starts += std::holds_alternative<visit_started>(e.event) ? 1 : 0;
    ends += std::holds_alternative<visit_ended>(e.event) ? 1 : 0;
  }
  ASSERT_LE(starts, 1U);
  ASSERT_LE(ends, 1U);
  ASSERT_EQ(ends == 1, s.status == visit_status::ended);
  if (!log.empty() && ends == 1) {
    ASSERT_TRUE(std::holds_alternative<visit_ended>(log.back().event)) << "events after end";
  }
  if (s.status == visit_status::in_progress) {
    ASSERT_GT(std::count_if(s.participants.begin(), s.participants.end(),
                            [](const auto& kv) { return kv.second.connected(); }),
              0)
      << "in progress with nobody connected should have ended";
  }
  if (s.status == visit_status::ended) {
    ASSERT_EQ(present_count(s), 0U);
  }

  // The report equals the brute-force recomputation, and its start is the visit's start.
  const auto rep = make_report(log);
  ASSERT_EQ(rep, brute_force_report(info, log));
  ASSERT_EQ(rep.started_at, s.started_at);
  ASSERT_LE(rep.max_attendees, s.participants.size());
}

TEST(visit_random, invariants_hold_over_random_command_sequences) {
  const auto people = cast();
  const visit_info info =
    make_visit_info(make_id<visit_id>("v"), make_id<tenant_id>("t"), make_id<endpoint_id>("e"),
                    std::nullopt, make_id<fhir_reference>("Encounter/9"), std::nullopt, t0)
      .value();
  std::size_t accepted = 0;
  std::size_t refused = 0;
  std::map<report_status, std::size_t> outcomes;
  std::map<std::string_view, std::size_t> event_types;
  std::map<end_reason, std::size_t> end_reasons;
  std::size_t grace_expired = 0;
  std::size_t auto_admitted = 0;
  for (int i = 0; i < sequences; ++i) {
    const std::uint64_t seed = base_seed + static_cast<std::uint64_t>(i);
    generator gen{seed};
    visit_policy policy;
    policy.auto_admit_on_provider_join = gen.coin(30);
    visit_state state = initial_state(info);
    std::vector<event_envelope> log;
    timestamp now = t0 - 10min;
    for (int step = 0; step < steps_per_sequence; ++step) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(step));
      now += gen.step();
      const command c = gen.next(people);
      const bool was_ended = state.status == visit_status::ended;
      auto events = decide(state, c, now, policy);
      if (events) {
        ASSERT_FALSE(was_ended) << "a command was accepted after the visit ended";
        ASSERT_FALSE(events->empty()) << "an accepted command produced no event";
        ++accepted;
        for (const auto& e : *events) {
          auto stored = decode(encode(e));
          ASSERT_TRUE(stored.has_value()) << stored.err().message;
          ASSERT_EQ(*stored, e) << "codec round trip";
          apply(state, e);
          log.push_back(e);
        }
      } else {
        ++refused;
      }
      check_invariants(info, state, log);
      if (::testing::Test::HasFatalFailure()) {
        ADD_FAILURE() << "replay with seed " << seed;
        return;
      }
    }
    ++outcomes[make_report(log).status];
    for (const auto& e : log) {
      ++event_types[event_name(e.event)];
      if (const auto* ended = std::get_if<visit_ended>(&e.event)) ++end_reasons[ended->reason];
      if (const auto* back = std::get_if<returned_to_lobby>(&e.event); back && !back->by)
        ++grace_expired;
      if (const auto* adm = std::get_if<admitted>(&e.event); adm && !adm->by) ++auto_admitted;
    }
  }
  // The generator must reach every outcome, or the invariants above were checked on too little.
  EXPECT_GT(accepted, 10000U);
  EXPECT_GT(refused, 10000U);
  for (auto s : {report_status::not_ended, report_status::completed, report_status::no_show,
                 report_status::cancelled, report_status::abandoned})
    EXPECT_GT(outcomes[s], 0U) << to_string(s);
  EXPECT_EQ(event_types.size(), std::variant_size_v<visit_event>) << "an event type never occurred";
  for (auto r : {end_reason::last_left, end_reason::ended_by_provider, end_reason::timeout})
    EXPECT_GT(end_reasons[r], 0U) << to_string(r);
  EXPECT_GT(grace_expired, 0U) << "rejoin after the grace period never happened";
  EXPECT_GT(auto_admitted, 0U) << "auto-admission never happened";
}

}  // namespace
}  // namespace visitd::domain
