#include "actors/visit_actor.hpp"

#include "actors/messages.hpp"
#include "domain/visit.hpp"
#include "storage/catalog.hpp"
#include "storage/journal.hpp"
#include "storage/store.hpp"
#include "storage/visit_log.hpp"
#include "tests/unit/actors/actor_test_support.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace visitd::actors {
namespace {

using storage::testing::at;
using storage::testing::id;
using namespace std::chrono_literals;

using testing::asker;
using testing::fake_journal;
using testing::outcome;
using testing::recording_subscriber;
using testing::subscriber_log;

domain::visit_info make_info(std::string_view visit) {
  auto info = domain::make_visit_info(
    id<domain::visit_id>(visit), id<domain::tenant_id>("t-1"), id<domain::endpoint_id>("ep-1"),
    id<domain::fhir_reference>("Appointment/a1"), std::nullopt, std::nullopt, at(0));
  EXPECT_TRUE(info) << info.err().message;
  return *info;
}

domain::command join_provider(std::string_view who, std::string_view device = "d1") {
  return domain::cmd::join{id<domain::participant_id>(who), id<domain::device_id>(device),
                           domain::participant_role::provider,
                           id<domain::ehr_user_id>(std::string{"Practitioner/"}.append(who))};
}

domain::command join_patient(std::string_view who, std::string_view device = "d2") {
  return domain::cmd::join{id<domain::participant_id>(who), id<domain::device_id>(device),
                           domain::participant_role::patient,
                           id<domain::join_id>(std::string{"j-"}.append(who))};
}

domain::command admit(std::string_view by, std::string_view who) {
  return domain::cmd::admit{id<domain::participant_id>(by), id<domain::participant_id>(who)};
}

bool has_column(const std::vector<storage::write_op>& ops, storage::column c) {
  return std::any_of(ops.begin(), ops.end(),
                     [c](const storage::write_op& op) { return op.c == c; });
}

// -- deterministic fixture ---------------------------------------------------------------------

/// An actor system on CAF's test coordinator: nothing runs until the test runs it, so every
/// interleaving below is the one written down.
class visit_actor_test : public ::testing::Test {
protected:
  visit_actor_test() {
    cfg_.set("scheduler.policy", caf::atom("testing"));
    sys_.emplace(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  }

  ~visit_actor_test() override {
    for (const auto& a : actors_) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (const auto& s : subscribers_) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    actors_.clear();
    subscribers_.clear();
    sched_->run();
    journal_.queue.clear();  // drop completions (weak addresses) before the system goes
    // A test that failed half-way may leave requesters waiting: fire their timeouts (bounded),
    // and never let ~actor_system wait for an actor the test clock will not wake.
    for (int i = 0; i < 100 && sched_->has_pending_timeout(); ++i) {
      sched_->trigger_timeouts();
      sched_->run();
    }
    sys_->await_actors_before_shutdown(false);
    sys_.reset();
  }

  visit_actor spawn(domain::visit_state state, visit_actor_limits limits = {},
                    std::vector<domain::event_envelope> history = {},
                    const storage::store* store = nullptr) {
    visit_actor_args args;
    args.state = std::move(state);
    args.history = std::move(history);
    args.journal = &journal_;
    args.store = store;
    args.clock = [this] { return now_; };
    args.limits = limits;
    auto a = spawn_visit_actor(*sys_, std::move(args));
    actors_.push_back(a);
    sched_->run();
    return a;
  }

  template <class Reply = command_reply, class... Ts>
  std::shared_ptr<outcome<Reply>> ask(const visit_actor& target, const Ts&... xs) {
    auto out = std::make_shared<outcome<Reply>>();
    sys_->spawn(asker<Reply, visit_actor, Ts...>, target, out, caf::timespan{request_timeout_},
                xs...);
    sched_->run();
    return out;
  }

  std::shared_ptr<subscriber_log> subscriber(const visit_actor& /*target*/, bool auto_ack = true) {
    auto log = std::make_shared<subscriber_log>();
    log->auto_ack = auto_ack;
    auto s = sys_->spawn(recording_subscriber, log);
    subscribers_.push_back(s);
    last_subscriber_ = s;
    sched_->run();
    return log;
  }

  domain::visit_state state_of(const visit_actor& target) {
    auto out = ask<domain::visit_state>(target, get_state_atom::value);
    EXPECT_TRUE(out->reply.has_value());
    return out->reply.value_or(domain::visit_state{});
  }

  /// Completes the oldest append and lets every actor react.
  void complete(domain::result<void> outcome = {}) {
    journal_.complete(std::move(outcome));
    sched_->run();
  }

  fake_journal journal_;
  caf::actor_system_config cfg_;
  std::optional<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  domain::timestamp now_ = at(100);
  std::chrono::milliseconds request_timeout_{10'000};
  std::vector<visit_actor> actors_;
  std::vector<visit_subscriber> subscribers_;
  visit_subscriber last_subscriber_;
};

// -- commands ----------------------------------------------------------------------------------

TEST_F(visit_actor_test, join_lobby_admit_replies_only_after_the_journal_acknowledges) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));

  auto doc = ask(visit, join_provider("doc"));
  ASSERT_EQ(journal_.queue.size(), 1u);
  EXPECT_FALSE(doc->done()) << "replied before the append was durable";
  EXPECT_EQ(state_of(visit).last_seq, 0u) << "applied before the append was durable";
  EXPECT_TRUE(has_column(journal_.queue.front().ops, storage::column::events));
  EXPECT_FALSE(has_column(journal_.queue.front().ops, storage::column::outbox))
    << "write-back items are rebuilt from the events, not stored with them";
  complete();
  ASSERT_TRUE(doc->reply.has_value());
  EXPECT_EQ(doc->reply->last_seq, 2u);
  ASSERT_EQ(doc->reply->events.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<domain::participant_joined>(doc->reply->events[0].event));
  EXPECT_TRUE(std::holds_alternative<domain::connected>(doc->reply->events[1].event));

  now_ += 10s;
  auto pat = ask(visit, join_patient("pat"));
  complete();
  ASSERT_TRUE(pat->reply.has_value());
  EXPECT_EQ(pat->reply->last_seq, 5u);
  auto s = state_of(visit);
  EXPECT_EQ(s.lobby, std::vector{id<domain::participant_id>("pat")});
  EXPECT_EQ(s.status, domain::visit_status::open);

  now_ += 50s;
  auto adm = ask(visit, admit("doc", "pat"));
  complete();
  ASSERT_TRUE(adm->reply.has_value()) << (adm->error ? adm->error->message : "");
  ASSERT_EQ(adm->reply->events.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<domain::admitted>(adm->reply->events[0].event));
  EXPECT_TRUE(std::holds_alternative<domain::visit_started>(adm->reply->events[1].event));
  EXPECT_EQ(adm->reply->events[0].at, now_);

  s = state_of(visit);
  EXPECT_EQ(s.status, domain::visit_status::in_progress);
  EXPECT_EQ(s.last_seq, 7u);
  EXPECT_TRUE(s.lobby.empty());
  EXPECT_EQ(domain::present_count(s), 2u);
  EXPECT_TRUE(journal_.queue.empty());
}

TEST_F(visit_actor_test, refused_command_replies_the_domain_error_and_appends_nothing) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));
  auto r = ask(visit, admit("nobody", "pat"));
  ASSERT_TRUE(r->error.has_value());
  EXPECT_EQ(r->error->code, domain::errc::forbidden);
  EXPECT_NE(r->error->message.find("only staff"), std::string::npos) << r->error->message;
  EXPECT_TRUE(journal_.queue.empty());
  EXPECT_EQ(state_of(visit), domain::initial_state(make_info("v-1")));
}

TEST_F(visit_actor_test, commands_during_an_in_flight_append_wait_and_see_its_events) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));
  auto first = ask(visit, join_provider("doc"));
  // Both arrive while the first append is in flight: the second would collide on seq 3 with a
  // stale state, and the third is only valid once the second is applied.
  auto second = ask(visit, join_patient("pat"));
  auto third = ask(visit, admit("doc", "pat"));
  ASSERT_EQ(journal_.queue.size(), 1u) << "a second append started before the first was acked";
  EXPECT_FALSE(second->done());

  complete();
  ASSERT_TRUE(first->reply.has_value());
  EXPECT_EQ(first->reply->last_seq, 2u);
  ASSERT_EQ(journal_.queue.size(), 1u);
  EXPECT_FALSE(second->done());

  complete();
  ASSERT_TRUE(second->reply.has_value());
  EXPECT_EQ(second->reply->events.front().seq, 3u);
  EXPECT_EQ(second->reply->last_seq, 5u);

  complete();
  ASSERT_TRUE(third->reply.has_value()) << (third->error ? third->error->message : "");
  EXPECT_EQ(third->reply->events.front().seq, 6u);
  EXPECT_EQ(state_of(visit).status, domain::visit_status::in_progress);
}

TEST_F(visit_actor_test, queued_command_refused_after_the_ack_does_not_block_the_next) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));
  auto first = ask(visit, join_provider("doc"));
  auto dup = ask(visit, join_provider("doc"));  // same device: conflict once the first is applied
  auto pat = ask(visit, join_patient("pat"));
  complete();
  ASSERT_TRUE(dup->error.has_value());
  EXPECT_EQ(dup->error->code, domain::errc::conflict);
  complete();
  ASSERT_TRUE(pat->reply.has_value());
  EXPECT_EQ(pat->reply->events.front().seq, 3u);
}

TEST_F(visit_actor_test, journal_failure_replies_an_error_changes_nothing_publishes_nothing) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));
  auto log = subscriber(visit);
  auto sub = ask<std::uint64_t>(visit, subscribe_atom::value, last_subscriber_);
  ASSERT_TRUE(sub->reply.has_value());

  auto r = ask(visit, join_provider("doc"));
  complete(domain::make_error(domain::errc::storage_failure, "disk full"));
  ASSERT_TRUE(r->error.has_value());
  EXPECT_EQ(r->error->code, domain::errc::storage_failure);
  EXPECT_EQ(r->error->message, "disk full");
  EXPECT_EQ(state_of(visit), domain::initial_state(make_info("v-1")));
  EXPECT_TRUE(log->events.empty());

  // The failed seq numbers are reused by the next command: nothing of them was written.
  auto again = ask(visit, join_provider("doc"));
  complete();
  ASSERT_TRUE(again->reply.has_value());
  EXPECT_EQ(again->reply->events.front().seq, 1u);
  EXPECT_EQ(log->seqs(), (std::vector<std::uint64_t>{1, 2}));
}

TEST_F(visit_actor_test, ending_the_visit_closes_it_in_the_same_group) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));
  ask(visit, join_provider("doc"));
  complete();
  auto end = ask(visit, domain::command{domain::cmd::end{id<domain::participant_id>("doc")}});
  ASSERT_EQ(journal_.queue.size(), 1u);
  const auto& ops = journal_.queue.front().ops;
  EXPECT_TRUE(has_column(ops, storage::column::events));
  EXPECT_TRUE(has_column(ops, storage::column::visits)) << "visit header not closed";
  EXPECT_TRUE(has_column(ops, storage::column::reports)) << "no report row";
  complete();
  ASSERT_TRUE(end->reply.has_value());
  EXPECT_EQ(state_of(visit).status, domain::visit_status::ended);
  auto late = ask(visit, join_patient("pat"));
  ASSERT_TRUE(late->error.has_value());
  EXPECT_EQ(late->error->code, domain::errc::conflict);
}

// -- timeouts ----------------------------------------------------------------------------------

TEST_F(visit_actor_test, unacknowledged_append_times_out_and_is_applied_when_acked_later) {
  visit_actor_limits limits;
  limits.append_timeout = 1000ms;
  auto visit = spawn(domain::initial_state(make_info("v-1")), limits);
  auto log = subscriber(visit);
  ask<std::uint64_t>(visit, subscribe_atom::value, last_subscriber_);

  auto r = ask(visit, join_provider("doc"));
  auto queued = ask(visit, join_patient("pat"));
  sched_->advance_time(1000ms);  // the actor's timer, not yet the requester's 10 s
  sched_->run();
  ASSERT_TRUE(r->error.has_value());
  EXPECT_EQ(r->error->code, domain::errc::timeout);
  EXPECT_FALSE(queued->done()) << "must keep waiting: the outcome of the append is unknown";
  EXPECT_EQ(state_of(visit).last_seq, 0u);

  complete();  // it was durable after all: the state and the subscribers must reflect it
  EXPECT_EQ(log->seqs(), (std::vector<std::uint64_t>{1, 2}));
  complete();
  ASSERT_TRUE(queued->reply.has_value());
  EXPECT_EQ(queued->reply->events.front().seq, 3u);
  EXPECT_EQ(state_of(visit).last_seq, 5u);
}

TEST_F(visit_actor_test, a_request_that_is_never_answered_is_a_timeout_error_not_a_hang) {
  request_timeout_ = 2000ms;
  visit_actor_limits limits;
  limits.append_timeout = std::chrono::hours{1};
  auto visit = spawn(domain::initial_state(make_info("v-1")), limits);
  auto r = ask(visit, join_provider("doc"));
  sched_->advance_time(2000ms);
  sched_->run();
  ASSERT_TRUE(r->error.has_value());
  EXPECT_EQ(r->error->code, domain::errc::timeout);
}

TEST_F(visit_actor_test, command_that_waited_too_long_in_the_queue_is_not_executed) {
  visit_actor_limits limits;
  limits.append_timeout = 5000ms;
  limits.max_queue_wait = 1000ms;
  auto visit = spawn(domain::initial_state(make_info("v-1")), limits);
  auto first = ask(visit, join_provider("doc"));
  auto stale = ask(visit, join_patient("pat"));
  sched_->advance_time(1500ms);
  sched_->run();
  complete();
  ASSERT_TRUE(first->reply.has_value());
  ASSERT_TRUE(stale->error.has_value());
  EXPECT_EQ(stale->error->code, domain::errc::timeout);
  EXPECT_TRUE(journal_.queue.empty()) << "a command its requester gave up on was executed";
  EXPECT_EQ(state_of(visit).last_seq, 2u);
}

TEST_F(visit_actor_test, full_command_queue_is_refused_as_unavailable) {
  visit_actor_limits limits;
  limits.max_queued_commands = 1;
  auto visit = spawn(domain::initial_state(make_info("v-1")), limits);
  auto in_flight = ask(visit, join_provider("doc"));
  auto queued = ask(visit, join_patient("pat"));
  auto refused = ask(visit, join_patient("pat2"));
  ASSERT_TRUE(refused->error.has_value());
  EXPECT_EQ(refused->error->code, domain::errc::unavailable);
  complete();
  complete();
  EXPECT_TRUE(in_flight->reply.has_value());
  EXPECT_TRUE(queued->reply.has_value());
}

// -- subscriptions -----------------------------------------------------------------------------

TEST_F(visit_actor_test, subscriber_gets_a_snapshot_then_every_event_without_gaps) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));
  ask(visit, join_provider("doc"));
  complete();

  auto log = subscriber(visit);
  auto sub = ask<std::uint64_t>(visit, subscribe_atom::value, last_subscriber_);
  ASSERT_TRUE(sub->reply.has_value());
  EXPECT_EQ(*sub->reply, 2u);
  ASSERT_EQ(log->snapshots.size(), 1u);
  EXPECT_EQ(log->snapshots[0], state_of(visit));

  // Subscribing while an append is in flight: the snapshot predates it, the events follow.
  auto pat = ask(visit, join_patient("pat"));
  auto late_log = subscriber(visit);
  ask<std::uint64_t>(visit, subscribe_atom::value, last_subscriber_);
  complete();
  ask(visit, admit("doc", "pat"));
  complete();

  EXPECT_EQ(log->seqs(), (std::vector<std::uint64_t>{3, 4, 5, 6, 7}));
  EXPECT_FALSE(log->gap_or_duplicate);
  ASSERT_EQ(late_log->snapshots.size(), 1u);
  EXPECT_EQ(late_log->snapshots[0].last_seq, 2u);
  EXPECT_EQ(late_log->seqs(), (std::vector<std::uint64_t>{3, 4, 5, 6, 7}));
  EXPECT_FALSE(late_log->gap_or_duplicate);

  // Both views fold to the actor's state.
  auto folded = log->snapshots[0];
  for (const auto& e : log->events) domain::apply(folded, e);
  EXPECT_EQ(folded, state_of(visit));
}

TEST_F(visit_actor_test, unsubscribed_and_exited_subscribers_get_nothing_more) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));
  auto gone = subscriber(visit);
  auto gone_handle = last_subscriber_;
  ask<std::uint64_t>(visit, subscribe_atom::value, gone_handle);
  auto quit = subscriber(visit);
  ask<std::uint64_t>(visit, subscribe_atom::value, last_subscriber_);
  caf::anon_send(visit, unsubscribe_atom::value, gone_handle);
  caf::anon_send_exit(last_subscriber_, caf::exit_reason::user_shutdown);
  sched_->run();

  auto r = ask(visit, join_provider("doc"));
  complete();
  ASSERT_TRUE(r->reply.has_value());
  EXPECT_TRUE(gone->events.empty());
  EXPECT_TRUE(quit->events.empty());
}

TEST_F(visit_actor_test, resume_sends_the_missed_events_from_memory_then_live_ones) {
  auto visit = spawn(domain::initial_state(make_info("v-1")));
  ask(visit, join_provider("doc"));
  complete();
  ask(visit, join_patient("pat"));
  complete();

  auto log = subscriber(visit);
  auto r = ask<std::uint64_t>(visit, resume_atom::value, last_subscriber_, std::uint64_t{2});
  ASSERT_TRUE(r->reply.has_value());
  EXPECT_EQ(*r->reply, 5u);
  EXPECT_TRUE(log->snapshots.empty());
  ask(visit, admit("doc", "pat"));
  complete();
  EXPECT_EQ(log->seqs(), (std::vector<std::uint64_t>{3, 4, 5, 6, 7}));

  // Resuming at the head sends nothing until the next event.
  auto head = subscriber(visit);
  ask<std::uint64_t>(visit, resume_atom::value, last_subscriber_, std::uint64_t{7});
  EXPECT_EQ(head->messages, 0u);

  auto ahead = ask<std::uint64_t>(visit, resume_atom::value, last_subscriber_, std::uint64_t{8});
  ASSERT_TRUE(ahead->error.has_value());
  EXPECT_EQ(ahead->error->code, domain::errc::invalid_argument);
}

TEST_F(visit_actor_test, resume_from_before_the_memory_reads_the_store) {
  storage::testing::temp_dir dir{"visitd-visit-actor"};
  auto opened = storage::open_rocksdb_store({dir.path(), storage::durability::relaxed});
  ASSERT_TRUE(opened) << opened.err().message;
  auto& store = **opened;
  journal_.target = &store;

  visit_actor_limits limits;
  limits.max_history_events = 2;
  auto visit = spawn(domain::initial_state(make_info("v-1")), limits, {}, &store);
  ask(visit, join_provider("doc"));
  complete();
  ask(visit, join_patient("pat"));
  complete();
  ask(visit, admit("doc", "pat"));
  complete();

  auto log = subscriber(visit);
  auto r = ask<std::uint64_t>(visit, resume_atom::value, last_subscriber_, std::uint64_t{1});
  ASSERT_TRUE(r->reply.has_value()) << r->error->message;
  EXPECT_EQ(log->seqs(), (std::vector<std::uint64_t>{2, 3, 4, 5, 6, 7}));

  // The report at the end needs the whole journal: also read back from the store.
  auto end = ask(visit, domain::command{domain::cmd::end{id<domain::participant_id>("doc")}});
  complete();
  ASSERT_TRUE(end->reply.has_value()) << end->error->message;
  auto header = storage::load_visit_header(store, id<domain::visit_id>("v-1"));
  ASSERT_TRUE(header) << header.err().message;
  EXPECT_TRUE(header->ended_at.has_value());
  auto stored = storage::read_events(store, id<domain::visit_id>("v-1"));
  ASSERT_TRUE(stored);
  auto folded = domain::fold(make_info("v-1"), *stored);
  ASSERT_TRUE(folded);
  EXPECT_EQ(*folded, state_of(visit));
  // Drop the actor before the store it reads.
  caf::anon_send_exit(visit, caf::exit_reason::user_shutdown);
  actors_.clear();
  sched_->run();
}

TEST_F(visit_actor_test, slow_subscriber_is_dropped_and_can_resume_without_a_gap) {
  visit_actor_limits limits;
  limits.max_unacked_messages = 2;
  auto visit = spawn(domain::initial_state(make_info("v-1")), limits);
  auto fast = subscriber(visit);
  ask<std::uint64_t>(visit, subscribe_atom::value, last_subscriber_);
  auto slow = subscriber(visit, /*auto_ack=*/false);
  auto slow_handle = last_subscriber_;
  ask<std::uint64_t>(visit, subscribe_atom::value, slow_handle);  // unacked: snapshot

  ask(visit, join_provider("doc"));
  complete();  // unacked: snapshot, [1,2]
  EXPECT_TRUE(slow->dropped.empty());
  ask(visit, join_patient("pat"));
  complete();  // no credit left: dropped
  ASSERT_EQ(slow->dropped.size(), 1u);
  EXPECT_EQ(slow->dropped[0].reason, "too slow");
  EXPECT_EQ(slow->dropped[0].last_seq, 2u);
  EXPECT_EQ(slow->seqs(), (std::vector<std::uint64_t>{1, 2}));
  ask(visit, admit("doc", "pat"));
  complete();
  EXPECT_EQ(slow->seqs(), (std::vector<std::uint64_t>{1, 2}))
    << "a dropped subscriber was sent more";
  EXPECT_EQ(fast->seqs(), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(fast->dropped.empty());

  slow->auto_ack = true;
  auto r = ask<std::uint64_t>(visit, resume_atom::value, slow_handle, slow->dropped[0].last_seq);
  ASSERT_TRUE(r->reply.has_value());
  EXPECT_EQ(slow->seqs(), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_FALSE(slow->gap_or_duplicate);
}

TEST_F(visit_actor_test, acknowledging_subscriber_is_never_dropped) {
  visit_actor_limits limits;
  limits.max_unacked_messages = 1;
  auto visit = spawn(domain::initial_state(make_info("v-1")), limits);
  auto log = subscriber(visit);
  ask<std::uint64_t>(visit, subscribe_atom::value, last_subscriber_);
  for (int i = 0; i < 20; ++i) {
    auto device = std::string{"d"}.append(std::to_string(i));
    ask(visit, domain::command{domain::cmd::join{
                 id<domain::participant_id>("doc"), id<domain::device_id>(device),
                 domain::participant_role::provider, id<domain::ehr_user_id>("Practitioner/doc")}});
    complete();
  }
  EXPECT_TRUE(log->dropped.empty());
  EXPECT_EQ(log->seen(), state_of(visit).last_seq);
  EXPECT_FALSE(log->gap_or_duplicate);
}

// -- many visits, real scheduler, real journal -------------------------------------------------

/// What the drivers of the multi-threaded test saw, summed over all of them.
struct drive_stats {
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};  ///< decide said no (conflict, not_found, ...): expected.
  std::atomic<int> failed{0};   ///< anything else (timeout, storage, unavailable): a bug.
  std::atomic<int> running{0};
  std::mutex mutex;
  std::condition_variable all_done;
};

/// One participant issuing random commands to its visit, one after the other.
struct driver_state {
  visit_actor target;
  int participant = 0;  ///< 0 is the provider.
  int steps_left = 0;
  std::mt19937 rng;
  std::shared_ptr<drive_stats> stats;
};

domain::participant_id participant_name(int i) {
  return id<domain::participant_id>(std::string{"p"}.append(std::to_string(i)));
}

domain::command random_command(driver_state& d) {
  auto me = participant_name(d.participant);
  auto device = id<domain::device_id>("d0");
  auto roll = std::uniform_int_distribution<int>{0, 99}(d.rng);
  if (d.participant == 0) {
    if (roll < 35)
      return domain::cmd::join{me, device, domain::participant_role::provider,
                               id<domain::ehr_user_id>("Practitioner/p0")};
    if (roll < 42) return domain::cmd::leave{me, device};
    if (roll < 75)
      return domain::cmd::admit{me,
                                participant_name(std::uniform_int_distribution<int>{1, 3}(d.rng))};
    if (roll < 90) return domain::cmd::admit_all{me};
    return domain::cmd::send_lobby_message{me, std::nullopt, "the doctor is on the way"};
  }
  if (roll < 55)
    return domain::cmd::join{
      me, device, domain::participant_role::patient,
      id<domain::join_id>(std::string{"j-"}.append(std::to_string(d.participant)))};
  if (roll < 85) return domain::cmd::leave{me, device};
  return domain::cmd::report_device_test{me, device, true, true, roll % 2 == 0};
}

void drive_step(caf::event_based_actor* self, const std::shared_ptr<driver_state>& d) {
  if (d->steps_left-- == 0) {
    std::lock_guard lock{d->stats->mutex};
    if (--d->stats->running == 0) d->stats->all_done.notify_all();
    return;  // no behavior and no pending request: the actor ends
  }
  self->request(d->target, std::chrono::seconds{10}, random_command(*d))
    .then(
      [self, d](command_reply&) {
        ++d->stats->accepted;
        drive_step(self, d);
      },
      [self, d](caf::error& err) {
        auto e = to_domain_error(err);
        auto expected = e.code == domain::errc::conflict || e.code == domain::errc::not_found ||
                        e.code == domain::errc::forbidden;
        ++(expected ? d->stats->refused : d->stats->failed);
        drive_step(self, d);
      });
}

void driver(caf::event_based_actor* self, const std::shared_ptr<driver_state>& d) {
  drive_step(self, d);
}

TEST(visit_actor_concurrency, many_visits_stay_equal_to_their_journal_and_subscribers_see_all) {
  constexpr int visits = 1000;  // the figure the actors issue names
  constexpr int participants = 4;
  constexpr int steps = 30;

  storage::testing::temp_dir dir{"visitd-visit-actors"};
  auto opened = storage::open_rocksdb_store({dir.path(), storage::durability::sync});
  ASSERT_TRUE(opened) << opened.err().message;
  std::unique_ptr<storage::store> store = std::move(*opened);
  auto journal = storage::start_journal(*store);

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", std::size_t{2});
  caf::actor_system sys{cfg};

  std::vector<domain::visit_info> infos;
  std::vector<visit_actor> actors;
  std::vector<std::shared_ptr<subscriber_log>> logs;
  std::vector<visit_subscriber> subs;
  auto clock = [] {
    return std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now());
  };
  {
    caf::scoped_actor self{sys};
    for (int v = 0; v < visits; ++v) {
      auto info = make_info(std::string{"v-"}.append(std::to_string(v)));
      ASSERT_TRUE(journal->append_and_wait(storage::open_visit_ops(info)));
      visit_actor_args args;
      args.state = domain::initial_state(info);
      args.journal = journal.get();
      args.store = store.get();
      args.clock = clock;
      // Generous on a loaded CI machine: a queue wait or append timeout here is not what this
      // test is about (the deterministic tests cover them), and would count as a failure.
      args.limits.max_queue_wait = std::chrono::seconds{8};
      args.limits.append_timeout = std::chrono::seconds{8};
      // The fake clock runs far past the visits' deadlines; expiry is not what this test is
      // about (the directory tests cover it), and an expired visit refuses everything.
      args.expiry_timer = false;
      actors.push_back(spawn_visit_actor(sys, std::move(args)));
      infos.push_back(info);
      logs.push_back(std::make_shared<subscriber_log>());
      subs.push_back(sys.spawn(recording_subscriber, logs.back()));
      self->request(actors.back(), std::chrono::seconds{5}, subscribe_atom::value, subs.back())
        .receive([](std::uint64_t seq) { EXPECT_EQ(seq, 0u); },
                 [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
    }
  }

  auto started = std::chrono::steady_clock::now();
  auto stats = std::make_shared<drive_stats>();
  stats->running = visits * participants;
  std::mt19937 seeds{20261125};
  for (int v = 0; v < visits; ++v)
    for (int p = 0; p < participants; ++p)
      sys.spawn(driver, std::make_shared<driver_state>(
                          driver_state{actors[v], p, steps, std::mt19937{seeds()}, stats}));
  {
    std::unique_lock lock{stats->mutex};
    ASSERT_TRUE(
      stats->all_done.wait_for(lock, std::chrono::seconds{60}, [&] { return stats->running == 0; }))
      << stats->running << " drivers still running";
  }
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(stats->failed, 0);
  EXPECT_EQ(stats->accepted + stats->refused + stats->failed, visits * participants * steps);
  EXPECT_GT(stats->accepted, visits * participants) << "the random walk hardly did anything";
  std::cout << "commands: " << stats->accepted << " accepted, " << stats->refused << " refused in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
            << " ms; journal commits: " << journal->statistics().commits << "\n";

  std::size_t ended = 0;
  {
    caf::scoped_actor self{sys};
    for (int v = 0; v < visits; ++v) {
      domain::visit_state live;
      self->request(actors[v], std::chrono::seconds{5}, get_state_atom::value)
        .receive([&](domain::visit_state& s) { live = std::move(s); },
                 [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
      auto stored = storage::read_events(*store, infos[v].id);
      ASSERT_TRUE(stored) << stored.err().message;
      auto folded = domain::fold(infos[v], *stored);
      ASSERT_TRUE(folded) << folded.err().message;
      EXPECT_EQ(*folded, live) << "visit " << v << " differs from its journal";
      if (live.status == domain::visit_status::ended) {
        ++ended;
        auto header = storage::load_visit_header(*store, infos[v].id);
        ASSERT_TRUE(header);
        EXPECT_EQ(header->ended_at, live.ended_at);
      }

      // The subscriber acknowledges as it goes, so it is never dropped; wait for its last event.
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
      while (logs[v]->seen() < live.last_seq && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds{1});
      std::lock_guard lock{logs[v]->mutex};
      EXPECT_FALSE(logs[v]->gap_or_duplicate) << "visit " << v;
      EXPECT_TRUE(logs[v]->dropped.empty()) << "visit " << v;
      ASSERT_EQ(logs[v]->snapshots.size(), 1u);
      auto seen = logs[v]->snapshots[0];
      for (const auto& e : logs[v]->events) domain::apply(seen, e);
      EXPECT_EQ(seen, live) << "visit " << v << ": the subscriber's view differs";
    }
  }
  std::cout << ended << " of " << visits << " visits ended\n";

  // Stop the actors before the journal and the store they point to.
  for (const auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  for (const auto& s : subs) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  actors.clear();
  subs.clear();
  sys.await_all_actors_done();
  journal->stop();
  ASSERT_TRUE(store->close());
}

TEST(visit_actor_errors, domain_errors_survive_the_trip_through_caf) {
  for (auto code :
       {domain::errc::invalid_argument, domain::errc::conflict, domain::errc::storage_failure,
        domain::errc::internal, domain::errc::rate_limited}) {
    auto err = domain::make_error(code, "why");
    auto caf_err = to_caf_error(err);
    EXPECT_TRUE(static_cast<bool>(caf_err));  // code 0 would read as "no error"
    EXPECT_EQ(to_domain_error(caf_err), err);
  }
  EXPECT_EQ(to_domain_error(caf::make_error(caf::sec::request_timeout)).code,
            domain::errc::timeout);
  EXPECT_EQ(to_domain_error(caf::make_error(caf::sec::request_receiver_down)).code,
            domain::errc::unavailable);
}

}  // namespace
}  // namespace visitd::actors
