#include "domain/write_back.hpp"

#include "random_commands.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <random>

namespace visitd::domain {
namespace {

using namespace std::chrono_literals;
using namespace testing;

timestamp t0() {
  return timestamp{std::chrono::seconds{1'800'000'000}};
}

visit_info info_with(bool encounter, bool appointment) {
  return must(make_visit_info(
    make_id<visit_id>("v-1"), make_id<tenant_id>("t-1"), make_id<endpoint_id>("ep-1"),
    appointment ? std::optional{make_id<fhir_reference>("Appointment/a1")} : std::nullopt,
    encounter ? std::optional{make_id<fhir_reference>("Encounter/e1")} : std::nullopt, std::nullopt,
    t0()));
}

/// Runs commands through decide/apply as the visit actor does, collecting the items each append
/// causes from the state before it.
struct driver {
  visit_state state;
  std::vector<write_back_item> items;
  timestamp now = t0();

  explicit driver(visit_info info) : state(initial_state(std::move(info))) {}

  void run(const command& c) {
    now += 10s;
    auto events = must(decide(state, c, now, visit_policy{}));
    auto more = write_back_items(state, events);
    items.insert(items.end(), more.begin(), more.end());
    for (const auto& e : events) apply(state, e);
  }

  std::vector<write_back_kind> kinds() const {
    std::vector<write_back_kind> out;
    for (const auto& i : items) out.push_back(i.kind);
    return out;
  }
};

driver full_visit(visit_info info) {
  driver d{std::move(info)};
  d.run(cmd::join{pid("doc"), did("d1"), participant_role::provider, euid("Practitioner/p1")});
  d.run(cmd::join{pid("pat"), did("d2"), participant_role::patient, euid("Patient/x1")});
  d.run(cmd::report_device_test{pid("pat"), did("d2"), true, false, true});
  d.run(cmd::admit{pid("doc"), pid("pat")});
  d.run(cmd::join{pid("guest"), did("d3"), participant_role::guest, jid("j-9")});
  d.run(cmd::leave{pid("pat"), did("d2")});
  d.run(cmd::end{pid("doc")});
  return d;
}

TEST(write_back_items, a_full_visit_causes_exactly_the_expected_items) {
  auto d = full_visit(info_with(true, true));
  using k = write_back_kind;
  // doc connects; the patient enters the lobby (Appointment arrived) and connects; device test;
  // admitted: visit starts; a guest connects (no Appointment change for a guest's lobby entry);
  // the patient leaves; the end disconnects the others and ends the visit.
  std::vector<k> expected{k::connected,     k::lobby_entered, k::connected,    k::device_test,
                          k::visit_started, k::connected,     k::disconnected, k::disconnected,
                          k::disconnected,  k::visit_ended};
  EXPECT_EQ(d.kinds(), expected);
  for (std::size_t i = 1; i < d.items.size(); ++i)
    EXPECT_LT(d.items[i - 1].seq, d.items[i].seq) << "items follow the event order";

  const auto& first = d.items.front();
  EXPECT_EQ(first.tenant.str(), "t-1");
  EXPECT_EQ(first.endpoint.str(), "ep-1");
  EXPECT_EQ(first.visit.str(), "v-1");
  ASSERT_TRUE(first.participant);
  EXPECT_EQ(first.participant->role, participant_role::provider);
  EXPECT_EQ(first.participant->identity, participant_identity{euid("Practitioner/p1")});
  EXPECT_EQ(first.participant->device, did("d1"));
  EXPECT_EQ(first.encounter, make_id<fhir_reference>("Encounter/e1"));

  const auto& check = d.items[3];
  ASSERT_TRUE(check.check);
  EXPECT_EQ(check.check, (write_back_device_check{true, false, true}));

  const auto& guest = d.items[5];
  EXPECT_EQ(guest.participant->identity, participant_identity{jid("j-9")});

  const auto& ended = d.items.back();
  EXPECT_EQ(ended.started_at, d.items[4].at);
  EXPECT_EQ(ended.ended_because, end_reason::ended_by_provider);
}

TEST(write_back_items, a_visit_without_encounter_or_appointment_writes_only_audit_events) {
  auto d = full_visit(info_with(false, true));
  for (const auto& i : d.items) EXPECT_NE(i.kind, write_back_kind::visit_started);
  auto d2 = full_visit(info_with(true, false));
  for (const auto& i : d2.items) EXPECT_NE(i.kind, write_back_kind::lobby_entered);
}

// The outbox rebuilds pending items from the journal (write_back_items_after) instead of storing
// them, so that must give exactly what the appends computed, however decide grouped the events.
TEST(write_back_items_after, rebuilds_from_the_journal_what_the_appends_computed) {
  const auto people = cast();
  std::size_t compared = 0;
  std::size_t ended = 0;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    generator gen{seed};
    const bool encounter = gen.coin(60);
    auto info = info_with(encounter, !encounter || gen.coin(50));  // a visit needs one of them
    visit_state state = initial_state(info);
    std::vector<event_envelope> journal;
    std::vector<write_back_item> appended;
    timestamp now = t0() - 10min;
    for (int step = 0; step < 60 && state.status != visit_status::ended; ++step) {
      now += gen.step();
      auto events = decide(state, gen.next(people), now, visit_policy{});
      if (!events) continue;
      auto items = write_back_items(state, *events);
      appended.insert(appended.end(), items.begin(), items.end());
      for (const auto& e : *events) {
        apply(state, e);
        journal.push_back(e);
      }
    }
    ASSERT_EQ(write_back_items_after(info, journal, 0), appended);
    compared += appended.size();
    const auto after = gen.below(state.last_seq + 1);
    std::vector<write_back_item> tail;
    for (const auto& i : appended)
      if (i.seq > after) tail.push_back(i);
    EXPECT_EQ(write_back_items_after(info, journal, after), tail) << "after seq " << after;
    if (state.status == visit_status::ended) {
      ++ended;
      ASSERT_FALSE(appended.empty());
      EXPECT_EQ(appended.back().kind, write_back_kind::visit_ended)
        << "an ended visit's last item is its end";
    }
  }
  EXPECT_GT(compared, 3000u) << "too few items to compare";
  EXPECT_GT(ended, 30u) << "too few visits ended";
}

TEST(write_back_items, a_visit_that_never_started_ends_without_started_at) {
  driver d{info_with(true, true)};
  d.run(cmd::join{pid("pat"), did("d2"), participant_role::patient, euid("Patient/x1")});
  d.run(cmd::leave{pid("pat"), did("d2")});
  d.now += 2h;  // past the idle timeout
  d.run(cmd::expire{});
  ASSERT_FALSE(d.items.empty());
  const auto& ended = d.items.back();
  EXPECT_EQ(ended.kind, write_back_kind::visit_ended);
  EXPECT_FALSE(ended.started_at);
  EXPECT_EQ(ended.ended_because, end_reason::timeout);
  EXPECT_EQ(ended.outcome, report_status::abandoned) << "the patient waited, nobody came";
  EXPECT_EQ(planned_writes(ended, write_back_targets{}), std::vector{fhir_write::encounter})
    << "an abandoned visit leaves the Appointment as the EHR has it";
}

TEST(write_back_items, the_visit_end_carries_the_reports_outcome) {
  EXPECT_EQ(full_visit(info_with(true, true)).items.back().outcome, report_status::completed);

  driver no_show{info_with(true, true)};
  no_show.run(
    cmd::join{pid("doc"), did("d1"), participant_role::provider, euid("Practitioner/p1")});
  no_show.run(cmd::end{pid("doc")});
  const auto& ended = no_show.items.back();
  EXPECT_EQ(ended.kind, write_back_kind::visit_ended);
  EXPECT_EQ(ended.outcome, report_status::no_show) << "staff came, no patient";
  EXPECT_EQ(planned_writes(ended, write_back_targets{}),
            (std::vector{fhir_write::encounter, fhir_write::appointment}));

  driver cancelled{info_with(true, true)};
  cancelled.now += 24h;
  cancelled.run(cmd::expire{});
  ASSERT_EQ(cancelled.items.size(), 1u);
  EXPECT_EQ(cancelled.items.back().outcome, report_status::cancelled) << "nobody joined";
}

TEST(planned_writes, follow_the_kind_the_participant_and_the_targets) {
  auto d = full_visit(info_with(true, true));
  write_back_targets all;
  using w = fhir_write;
  EXPECT_EQ(planned_writes(d.items[0], all), (std::vector<w>{w::audit_event, w::encounter}));
  EXPECT_EQ(planned_writes(d.items[1], all), (std::vector<w>{w::appointment}));
  EXPECT_EQ(planned_writes(d.items[2], all), (std::vector<w>{w::audit_event}))
    << "a patient is no Encounter participant";
  EXPECT_EQ(planned_writes(d.items[3], all), (std::vector<w>{w::audit_event}));
  EXPECT_EQ(planned_writes(d.items[4], all), (std::vector<w>{w::encounter}));
  EXPECT_EQ(planned_writes(d.items.back(), all), (std::vector<w>{w::encounter, w::appointment}));

  write_back_targets audit_only{true, false, false};
  EXPECT_EQ(planned_writes(d.items[0], audit_only), (std::vector<w>{w::audit_event}));
  EXPECT_TRUE(planned_writes(d.items.back(), audit_only).empty());
}

TEST(event_key, is_tenant_visit_and_seq) {
  auto d = full_visit(info_with(true, true));
  EXPECT_EQ(event_key(d.items[0]), "t-1/v-1/" + std::to_string(d.items[0].seq));
}

TEST(write_back_codec, round_trips_every_item_of_a_visit_and_dead_letters) {
  auto d = full_visit(info_with(true, true));
  for (const auto& item : d.items) {
    auto bytes = encode(item);
    auto back = decode_write_back(bytes);
    ASSERT_TRUE(back) << back.err().message;
    EXPECT_EQ(*back, item);
  }
  dead_letter letter{d.items[2], "PUT AuditEvent/x: HTTP 400", 3, t0()};
  auto back = decode_dead_letter(encode(letter));
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, letter);
}

TEST(write_back_codec, refuses_what_encode_never_writes) {
  auto d = full_visit(info_with(true, true));
  auto bytes = encode(d.items[3]);
  EXPECT_FALSE(decode_write_back(""));
  EXPECT_FALSE(decode_write_back(bytes + "x")) << "trailing bytes";
  EXPECT_FALSE(decode_write_back(bytes.substr(0, bytes.size() - 1))) << "truncated";
  auto wrong_version = bytes;
  wrong_version[0] = 9;
  EXPECT_FALSE(decode_write_back(wrong_version));
  // Random mutations never crash and never decode to something that re-encodes differently.
  std::mt19937_64 rng{7};
  std::vector<std::string> corpus;
  for (const auto& i : d.items) corpus.push_back(encode(i));
  for (int n = 0; n < 20000; ++n) {
    auto input = fuzz_input(rng, corpus, write_back_format_version, 64, n % 2 == 0);
    if (auto decoded = decode_write_back(input)) {
      EXPECT_EQ(encode(*decoded), input);
    }
  }
}

TEST(verdict_for_status, sorts_statuses_into_done_retry_and_permanent) {
  EXPECT_EQ(verdict_for_status(200), delivery_verdict::delivered);
  EXPECT_EQ(verdict_for_status(201), delivery_verdict::delivered);
  for (int s : {408, 409, 412, 425, 429, 500, 502, 503, 504})
    EXPECT_EQ(verdict_for_status(s), delivery_verdict::retry) << s;
  for (int s : {400, 401, 403, 404, 405, 410, 422})
    EXPECT_EQ(verdict_for_status(s), delivery_verdict::permanent) << s;
}

TEST(retry_delay, grows_exponentially_within_jitter_caps_and_honours_retry_after) {
  retry_policy p{1s, 60s, 100};
  EXPECT_EQ(retry_delay(p, 1, 0.0), 500ms);
  EXPECT_EQ(retry_delay(p, 1, 0.999999), 999999us);
  EXPECT_EQ(retry_delay(p, 3, 0.0), 2s);
  EXPECT_EQ(retry_delay(p, 30, 0.0), 30s) << "capped at max_delay, half of it without jitter";
  EXPECT_EQ(retry_delay(p, 4'000'000'000U, 1.0), 60s) << "no overflow for huge attempt counts";
  EXPECT_EQ(retry_delay(p, 1, 0.0, 90s), 90s) << "Retry-After wins when longer";
  EXPECT_EQ(retry_delay(p, 3, 0.0, 1s), 2s) << "and not when shorter";
}

TEST(circuit_breaker, opens_after_consecutive_failures_then_probes_once) {
  circuit_breaker b{{3, 30s}};
  auto now = t0();
  using s = circuit_breaker::state;
  EXPECT_TRUE(b.allow(now));
  b.record_failure(now);
  b.record_failure(now);
  b.record_success();  // resets the count
  b.record_failure(now);
  b.record_failure(now);
  EXPECT_EQ(b.current(now), s::closed);
  b.record_failure(now);
  EXPECT_EQ(b.current(now), s::open);
  EXPECT_FALSE(b.allow(now + 29s));
  EXPECT_TRUE(b.allow(now + 30s)) << "one probe when the wait is over";
  EXPECT_FALSE(b.allow(now + 30s)) << "only one at a time";
  EXPECT_EQ(b.current(now + 30s), s::half_open);
  b.record_failure(now + 31s);
  EXPECT_EQ(b.current(now + 32s), s::open) << "a failed probe opens it again at once";
  EXPECT_TRUE(b.allow(now + 61s));
  b.record_success();
  EXPECT_EQ(b.current(now + 61s), s::closed);
  EXPECT_TRUE(b.allow(now + 61s));
}

}  // namespace
}  // namespace visitd::domain
