#include "actors/directory.hpp"

#include "storage/audit_log.hpp"
#include "storage/catalog.hpp"
#include "storage/recovery.hpp"
#include "storage/visit_log.hpp"
#include "tests/unit/actors/actor_test_support.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <gtest/gtest.h>

#include <stdexcept>

namespace visitd::actors {
namespace {

using namespace std::chrono_literals;
using storage::testing::at;
using storage::testing::id;
using testing::asker;
using testing::fake_journal;
using testing::outcome;
using testing::recording_subscriber;
using testing::subscriber_log;

domain::tenant make_tenant(std::string_view tenant) {
  auto t = domain::make_tenant(
    id<domain::tenant_id>(tenant), "Clinic", "local", {id<domain::account_id>("admin-1")},
    id<domain::account_id>("approver-1"), domain::ehr_kind::generic_smart);
  EXPECT_TRUE(t) << t.err().message;
  return *t;
}

const domain::account_id& operator_id() {
  static const auto op = id<domain::account_id>("op-1");
  return op;
}

domain::visit_info make_info(std::string_view visit, std::string_view tenant = "t-1",
                             std::optional<std::string_view> department = std::nullopt) {
  std::optional<domain::department_id> dept;
  if (department) dept = id<domain::department_id>(*department);
  auto info = domain::make_visit_info(
    id<domain::visit_id>(visit), id<domain::tenant_id>(tenant), id<domain::endpoint_id>("ep-1"),
    id<domain::fhir_reference>("Appointment/a1"), std::nullopt, dept, at(0));
  EXPECT_TRUE(info) << info.err().message;
  return *info;
}

domain::command join_provider(std::string_view who) {
  return domain::cmd::join{id<domain::participant_id>(who), id<domain::device_id>("d1"),
                           domain::participant_role::provider,
                           id<domain::ehr_user_id>(std::string{"Practitioner/"}.append(who))};
}

domain::command join_patient(std::string_view who) {
  return domain::cmd::join{id<domain::participant_id>(who), id<domain::device_id>("d2"),
                           domain::participant_role::patient,
                           id<domain::join_id>(std::string{"j-"}.append(who))};
}

domain::command leave(std::string_view who, std::string_view device) {
  return domain::cmd::leave{id<domain::participant_id>(who), id<domain::device_id>(device)};
}

/// Records what a tenant board sends.
struct board_log {
  std::vector<board_snapshot> snapshots;
  std::vector<board_update> updates;
};

board_subscriber::behavior_type recording_board_subscriber(board_subscriber::pointer self,
                                                           const std::shared_ptr<board_log>& log) {
  return {
    [self, log](board_snapshot_atom, board_snapshot& s) {
      self->send(caf::actor_cast<tenant_board>(self->current_sender()), board_ack_atom::value,
                 caf::actor_cast<board_subscriber>(self), s.seq);
      log->snapshots.push_back(std::move(s));
    },
    [self, log](board_update_atom, board_update& u) {
      self->send(caf::actor_cast<tenant_board>(self->current_sender()), board_ack_atom::value,
                 caf::actor_cast<board_subscriber>(self), u.seq);
      log->updates.push_back(std::move(u));
    },
    [](board_dropped_atom, const board_dropped&) {},
  };
}

/// What the directory's visit actors tell the write-back, in order: ("items", visit) per push,
/// ("resync", visit) per resync.
struct write_back_log {
  std::vector<std::pair<std::string, std::string>> messages;
};

write_back_sink::behavior_type recording_write_back(write_back_sink::pointer,
                                                    const std::shared_ptr<write_back_log>& log) {
  return {
    [log](wb_items_atom, std::vector<domain::write_back_item>& items) {
      log->messages.emplace_back("items", items.front().visit.str());
    },
    [log](wb_resync_atom, const domain::tenant_id&, const domain::endpoint_id&,
          const domain::visit_id& visit) { log->messages.emplace_back("resync", visit.str()); },
  };
}

/// A directory on CAF's test coordinator over a real RocksDB store, with a journal the test
/// completes by hand (it writes each group to the store when completed, like the real one).
class directory_test : public testing::coordinator_test {
protected:
  directory_test() : coordinator_test("visitd-directory") {}

  ~directory_test() override {
    if (directory_) caf::anon_send_exit(directory_, caf::exit_reason::user_shutdown);
    for (const auto& s : others_) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }

  /// Starts the directory over what the store holds (as `visitd serve` does after recovery).
  void start(directory_options options = {}, bool expiry_timers = false) {
    auto recovered = storage::recover(*store_);
    ASSERT_TRUE(recovered) << recovered.err().message;
    directory_args args;
    args.journal = &journal_;
    args.store = store_.get();
    args.clock = [this] {
      if (fail_clock_) throw std::runtime_error("injected failure");
      return now_;
    };
    args.regions = domain::make_region_list("local, eu-west").value();
    args.write_back = write_back_;
    // Most tests drive expiry through the directory's sweep; one tests the expiry scheduler.
    args.expiry_timers = expiry_timers;
    options.detached_loader = false;
    options.compact_after = 10s;
    if (options.passivate_after == directory_options{}.passivate_after)
      options.passivate_after = 60s;
    options.sweep_interval = 1s;
    args.options = options;
    args.recovered = std::move(*recovered);
    directory_ = spawn_directory(*sys_, std::move(args));
    sched_->run();
  }

  void seed_tenant(std::string_view tenant = "t-1") {
    ASSERT_TRUE(store_->write(storage::tenant_ops(make_tenant(tenant))));
  }

  template <class Reply, class... Ts>
  std::shared_ptr<outcome<Reply>> ask(const Ts&... xs) {
    auto out = std::make_shared<outcome<Reply>>();
    sys_->spawn(asker<Reply, directory, Ts...>, directory_, out, caf::timespan{10s}, xs...);
    sched_->run();
    return out;
  }

  template <class Reply, class Handle, class... Ts>
  std::shared_ptr<outcome<Reply>> ask_actor(const Handle& target, const Ts&... xs) {
    auto out = std::make_shared<outcome<Reply>>();
    sys_->spawn(asker<Reply, Handle, Ts...>, target, out, caf::timespan{10s}, xs...);
    sched_->run();
    return out;
  }

  tenant_actor tenant_of(std::string_view tenant = "t-1") {
    auto out = ask<tenant_handles>(dir_tenant_atom::value, id<domain::tenant_id>(tenant));
    settle();
    EXPECT_TRUE(out->reply) << (out->error ? out->error->message : "no reply");
    return out->reply ? out->reply->tenant : tenant_actor{};
  }

  /// An endpoint created through the tenant actor, completed and settled.
  std::shared_ptr<outcome<domain::fhir_endpoint>> create_endpoint(const tenant_actor& tenant,
                                                                  std::string_view endpoint) {
    auto settings = domain::make_endpoint_settings(
      std::string{"https://ehr.example.org/"}.append(endpoint), domain::fhir_environment::test,
      "client-1", domain::client_type::public_client);
    EXPECT_TRUE(settings) << settings.err().message;
    auto out = ask_actor<domain::fhir_endpoint>(
      tenant, endpoint_command{endpoint_change::create{
                id<domain::account_id>("admin-1"), id<domain::endpoint_id>(endpoint), *settings}});
    settle();
    return out;
  }

  /// A command through the directory, completed and settled.
  std::shared_ptr<outcome<command_reply>> command(std::string_view visit, domain::command cmd) {
    auto out = ask<command_reply>(id<domain::visit_id>(visit), std::move(cmd));
    settle();
    return out;
  }

  domain::visit_state open(std::string_view visit, std::string_view department = "cardio") {
    auto out =
      ask<domain::visit_state>(dir_open_visit_atom::value, make_info(visit, "t-1", department),
                               id<domain::account_id>("admin-1"));
    settle();
    EXPECT_TRUE(out->reply) << (out->error ? out->error->message : "no reply");
    return out->reply.value_or(domain::visit_state{});
  }

  directory_stats stats() {
    auto out = ask<directory_stats>(dir_stats_atom::value);
    EXPECT_TRUE(out->reply);
    return out->reply.value_or(directory_stats{});
  }

  /// Lets CAF's clock run `d` in sweep steps, so idle visits are compacted and passivated.
  void idle_for(caf::timespan d) {
    for (caf::timespan t{0}; t < d; t += 1s) {
      sched_->advance_time(1s);
      settle();
    }
  }

  std::shared_ptr<subscriber_log> subscribe(std::string_view visit) {
    auto log = std::make_shared<subscriber_log>();
    auto s = sys_->spawn(recording_subscriber, log);
    others_.push_back(caf::actor_cast<caf::actor>(s));
    last_subscriber_ = s;
    auto out = ask<std::uint64_t>(id<domain::visit_id>(visit), subscribe_atom::value, s);
    EXPECT_TRUE(out->reply);
    return log;
  }

  directory directory_;
  std::vector<caf::actor> others_;
  write_back_sink write_back_;  ///< Null unless a test records what the visits tell it.
  visit_subscriber last_subscriber_;
  domain::timestamp now_ = at(60);
  bool fail_clock_ = false;
};

TEST_F(directory_test, opens_a_visit_durably_and_routes_commands_to_it) {
  seed_tenant();
  start();
  auto state = open("v-1");
  EXPECT_EQ(state.info.id.str(), "v-1");
  EXPECT_TRUE(storage::load_visit_header(*store_, id<domain::visit_id>("v-1")));
  auto audit = storage::read_audit(*store_, id<domain::tenant_id>("t-1"), domain::timestamp{},
                                   domain::timestamp::max(), 10);
  ASSERT_TRUE(audit) << audit.err().message;
  ASSERT_EQ(audit->size(), 1u) << "the opening is audited with the visit";
  EXPECT_EQ(audit->front().action, "visit.open");
  EXPECT_EQ(audit->front().actor, id<domain::account_id>("admin-1"));
  EXPECT_EQ(audit->front().target, "v-1");

  auto joined = command("v-1", join_provider("doc"));
  ASSERT_TRUE(joined->reply) << joined->error->message;
  EXPECT_EQ(joined->reply->last_seq, joined->reply->events.back().seq);

  // Opening again looks the visit up instead of creating it.
  auto again = open("v-1");
  EXPECT_EQ(again.last_seq, joined->reply->last_seq);
  EXPECT_EQ(stats().live_visits, 1u);
}

TEST_F(directory_test, refuses_unknown_tenants_visits_and_duplicate_tenants) {
  seed_tenant();
  start();
  auto no_tenant = ask<domain::visit_state>(dir_open_visit_atom::value, make_info("v-1", "t-9"),
                                            id<domain::account_id>("admin-1"));
  ASSERT_TRUE(no_tenant->error);
  EXPECT_EQ(no_tenant->error->code, domain::errc::not_found);

  auto no_visit = command("v-404", join_provider("doc"));
  ASSERT_TRUE(no_visit->error);
  EXPECT_EQ(no_visit->error->code, domain::errc::not_found);

  auto dup = ask<tenant_handles>(dir_create_tenant_atom::value, make_tenant("t-1"), operator_id(),
                                 std::string{"{}"});
  ASSERT_TRUE(dup->error);
  EXPECT_EQ(dup->error->code, domain::errc::conflict);
}

TEST_F(directory_test, creates_tenants_durably) {
  start();
  auto created = ask<tenant_handles>(dir_create_tenant_atom::value, make_tenant("t-2"),
                                     operator_id(), std::string{R"({"id":"t-2"})"});
  EXPECT_FALSE(created->done()) << "answered before the journal acknowledged";
  settle();
  ASSERT_TRUE(created->reply) << created->error->message;
  auto recovered = storage::recover(*store_);
  ASSERT_TRUE(recovered);
  ASSERT_EQ(recovered->tenants.size(), 1u);
  EXPECT_EQ(recovered->tenants[0].id.str(), "t-2");
  auto audit = storage::read_audit(*store_, domain::box_tenant(), domain::timestamp{},
                                   domain::timestamp::max(), 10);
  ASSERT_TRUE(audit);
  ASSERT_EQ(audit->size(), 1u) << "the tenant and its audit entry are one write";
  EXPECT_EQ(audit->front().action, "tenant.create");
  EXPECT_EQ(audit->front().actor, operator_id());
  EXPECT_EQ(audit->front().after, R"({"id":"t-2"})");
  auto listed = ask<std::vector<tenant_handles>>(dir_list_tenants_atom::value);
  ASSERT_TRUE(listed->reply);
  EXPECT_EQ(listed->reply->size(), 1u);
  auto found = ask<tenant_handles>(dir_tenant_atom::value, id<domain::tenant_id>("t-2"));
  EXPECT_TRUE(found->reply);
}

TEST_F(directory_test, refuses_a_tenant_outside_the_configured_regions) {
  start();
  auto t = make_tenant("t-3");
  t.region = "us-east";
  auto refused =
    ask<tenant_handles>(dir_create_tenant_atom::value, t, operator_id(), std::string{"{}"});
  settle();
  ASSERT_TRUE(refused->error);
  EXPECT_EQ(refused->error->code, domain::errc::invalid_argument);
  EXPECT_NE(refused->error->message.find("local, eu-west"), std::string::npos)
    << refused->error->message;
  auto recovered = storage::recover(*store_);
  ASSERT_TRUE(recovered);
  EXPECT_TRUE(recovered->tenants.empty()) << "a refused tenant was written";

  t.region = "eu-west";
  auto accepted =
    ask<tenant_handles>(dir_create_tenant_atom::value, t, operator_id(), std::string{"{}"});
  settle();
  EXPECT_TRUE(accepted->reply) << accepted->error->message;
}

TEST_F(directory_test, passivates_idle_visits_and_reactivates_them_transparently) {
  seed_tenant();
  start();
  open("v-1");
  open("v-2");
  ASSERT_TRUE(command("v-1", join_provider("doc"))->reply);
  ASSERT_TRUE(command("v-1", join_patient("pat"))->reply);
  auto before = ask<domain::visit_state>(id<domain::visit_id>("v-1"), get_state_atom::value);
  ASSERT_TRUE(before->reply);

  idle_for(15s);  // compacted, still live
  EXPECT_EQ(stats().compactions, 2u);
  EXPECT_EQ(stats().live_visits, 2u);
  auto compacted = ask<domain::visit_state>(id<domain::visit_id>("v-1"), get_state_atom::value);
  ASSERT_TRUE(compacted->reply);
  EXPECT_EQ(*compacted->reply, *before->reply);

  idle_for(70s);
  auto s = stats();
  EXPECT_EQ(s.passivations, 2u);
  EXPECT_EQ(s.live_visits, 0u);
  EXPECT_EQ(s.visits, 2u);

  // The next command re-activates v-1 from the store and continues its sequence.
  auto admitted = command("v-1", domain::cmd::admit{id<domain::participant_id>("doc"),
                                                    id<domain::participant_id>("pat")});
  ASSERT_TRUE(admitted->reply) << admitted->error->message;
  EXPECT_EQ(admitted->reply->events.front().seq, before->reply->last_seq + 1);
  s = stats();
  EXPECT_EQ(s.reactivations, 1u);
  EXPECT_EQ(s.live_visits, 1u);
  auto stored = storage::read_events(*store_, id<domain::visit_id>("v-1"), 0);
  ASSERT_TRUE(stored);
  auto folded = domain::fold(make_info("v-1", "t-1", "cardio"), *stored);
  ASSERT_TRUE(folded);
  auto live = ask<domain::visit_state>(id<domain::visit_id>("v-1"), get_state_atom::value);
  ASSERT_TRUE(live->reply);
  EXPECT_EQ(*live->reply, *folded);
}

TEST_F(directory_test,
       a_subscribed_visit_stays_and_a_resumed_stream_is_gapless_across_passivation) {
  seed_tenant();
  start();
  open("v-1");
  ASSERT_TRUE(command("v-1", join_provider("doc"))->reply);
  auto log = subscribe("v-1");
  settle();
  ASSERT_EQ(log->snapshots.size(), 1u);

  idle_for(70s);
  EXPECT_EQ(stats().passivations, 0u) << "a visit with a subscriber must stay";
  ASSERT_TRUE(command("v-1", join_patient("pat"))->reply);
  auto seen = log->seen();

  caf::anon_send(directory_, id<domain::visit_id>("v-1"), unsubscribe_atom::value,
                 last_subscriber_);
  settle();
  idle_for(70s);
  EXPECT_EQ(stats().passivations, 1u);

  // Events while the subscriber was away, then resume after what it saw: no gap, no duplicate.
  ASSERT_TRUE(command("v-1", domain::cmd::admit{id<domain::participant_id>("doc"),
                                                id<domain::participant_id>("pat")})
                ->reply);
  auto resumed =
    ask<std::uint64_t>(id<domain::visit_id>("v-1"), resume_atom::value, last_subscriber_, seen);
  settle();
  ASSERT_TRUE(resumed->reply);
  ASSERT_TRUE(command("v-1", leave("pat", "d2"))->reply);
  EXPECT_FALSE(log->gap_or_duplicate);
  auto live = ask<domain::visit_state>(id<domain::visit_id>("v-1"), get_state_atom::value);
  ASSERT_TRUE(live->reply);
  EXPECT_EQ(log->seen(), live->reply->last_seq);
}

TEST_F(directory_test, restarts_a_failed_visit_from_the_store_and_leaves_others_alone) {
  seed_tenant();
  auto wb_log = std::make_shared<write_back_log>();
  write_back_ = sys_->spawn(recording_write_back, wb_log);
  others_.push_back(caf::actor_cast<caf::actor>(write_back_));
  start();
  open("v-1");
  open("v-2");
  auto first = command("v-1", join_provider("doc"));
  ASSERT_TRUE(first->reply);
  ASSERT_TRUE(command("v-2", join_provider("doc"))->reply);
  auto log = subscribe("v-1");
  settle();

  const auto pushes_before = wb_log->messages.size();
  fail_clock_ = true;  // the next decide throws inside v-1's actor
  auto failed = command("v-1", join_patient("pat"));
  fail_clock_ = false;
  ASSERT_TRUE(failed->error);
  EXPECT_EQ(failed->error->code, domain::errc::unavailable);
  settle();
  ASSERT_EQ(log->dropped.size(), 1u);
  EXPECT_EQ(log->dropped[0].reason, "visit restarted");
  auto s = stats();
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.restarts, 1u);
  EXPECT_EQ(s.live_visits, 2u);

  // v-1 serves again from its stored events; v-2 never noticed.
  auto retried = command("v-1", join_patient("pat"));
  ASSERT_TRUE(retried->reply) << retried->error->message;
  EXPECT_EQ(retried->reply->events.front().seq, first->reply->last_seq + 1);
  auto other = command("v-2", join_patient("pat"));
  ASSERT_TRUE(other->reply) << other->error->message;

  // The restarted actor told the write-back to read v-1 from the store before its first push
  // (its predecessor may have died between a durable append and the push).
  settle();
  std::vector<std::pair<std::string, std::string>> after_failure(
    wb_log->messages.begin() + static_cast<std::ptrdiff_t>(pushes_before), wb_log->messages.end());
  std::vector<std::pair<std::string, std::string>> v1;
  for (const auto& m : after_failure)
    if (m.second == "v-1") v1.push_back(m);
  ASSERT_GE(v1.size(), 2u);
  EXPECT_EQ(v1[0], (std::pair<std::string, std::string>{"resync", "v-1"}));
  EXPECT_EQ(v1[1], (std::pair<std::string, std::string>{"items", "v-1"}));
  for (const auto& m : after_failure) {
    if (m.first != "resync") continue;
    EXPECT_EQ(m.second, "v-1") << "only the restarted visit";
  }
}

TEST_F(directory_test, restarts_a_failed_tenant_actor_from_the_store) {
  seed_tenant();
  start();
  auto before = tenant_of();
  ASSERT_TRUE(create_endpoint(before, "ep-1")->reply);

  fail_clock_ = true;  // the next change throws inside the tenant actor
  auto failed = ask_actor<domain::fhir_endpoint>(
    before, endpoint_command{endpoint_change::revoke{id<domain::account_id>("admin-1"),
                                                     id<domain::endpoint_id>("ep-1")}});
  fail_clock_ = false;
  ASSERT_TRUE(failed->error) << "the requester must hear of the failure";
  EXPECT_EQ(failed->error->code, domain::errc::unavailable);

  // Requests made while it restarts wait for the new actor: the loader first waits for the
  // journal to settle what the failed actor left in flight (a barrier this test completes).
  auto waiting = ask<tenant_handles>(dir_tenant_atom::value, id<domain::tenant_id>("t-1"));
  EXPECT_FALSE(waiting->done()) << "answered before the restart";
  settle();
  ASSERT_TRUE(waiting->reply) << waiting->error->message;
  EXPECT_NE(waiting->reply->tenant, before);
  auto s = stats();
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.restarts, 1u);

  auto listed = ask_actor<std::vector<domain::fhir_endpoint>>(waiting->reply->tenant,
                                                              list_endpoints_atom::value);
  ASSERT_TRUE(listed->reply);
  ASSERT_EQ(listed->reply->size(), 1u) << "the restarted actor starts from the store";
  EXPECT_EQ(listed->reply->front().id.str(), "ep-1");
  EXPECT_TRUE(create_endpoint(waiting->reply->tenant, "ep-2")->reply);
}

TEST_F(directory_test, serves_one_approval_flow_per_revision_until_it_is_done) {
  seed_tenant();
  start();
  auto tenant = tenant_of();
  auto created = create_endpoint(tenant, "ep-1");
  ASSERT_TRUE(created->reply);
  const auto first = created->reply->revisions.front().number;
  const auto endpoint = id<domain::endpoint_id>("ep-1");
  const auto t1 = id<domain::tenant_id>("t-1");

  auto flow = ask<approval_flow>(dir_approval_flow_atom::value, t1, endpoint, first);
  ASSERT_TRUE(flow->reply) << flow->error->message;
  auto same = ask<approval_flow>(dir_approval_flow_atom::value, t1, endpoint, first);
  ASSERT_TRUE(same->reply);
  EXPECT_EQ(*same->reply, *flow->reply) << "a sign-in begun through one flow ends through it";
  auto next = ask<approval_flow>(dir_approval_flow_atom::value, t1, endpoint,
                                 domain::revision_number::make(2).value());
  ASSERT_TRUE(next->reply);
  EXPECT_NE(*next->reply, *flow->reply);
  auto unknown = ask<approval_flow>(dir_approval_flow_atom::value, id<domain::tenant_id>("t-9"),
                                    endpoint, first);
  ASSERT_TRUE(unknown->error);
  EXPECT_EQ(unknown->error->code, domain::errc::not_found);
  EXPECT_EQ(stats().approval_flows, 2u);

  // The whole approval through the flow: submit (admin), validate (approver's sign-in), approve.
  auto submitted = ask_actor<domain::fhir_endpoint>(
    tenant,
    endpoint_command{endpoint_change::submit{id<domain::account_id>("admin-1"), endpoint, first}});
  settle();
  ASSERT_TRUE(submitted->reply) << submitted->error->message;
  const auto approver = id<domain::account_id>("approver-1");
  auto pending =
    ask_actor<pending_validation>(*flow->reply, begin_validation_atom::value, approver);
  settle();
  ASSERT_TRUE(pending->reply) << pending->error->message;
  auto validated = ask_actor<domain::fhir_endpoint>(*flow->reply, complete_validation_atom::value,
                                                    pending->reply->state, approver,
                                                    id<domain::ehr_user_id>("Practitioner/7"));
  settle();
  ASSERT_TRUE(validated->reply) << validated->error->message;
  auto approved =
    ask_actor<domain::fhir_endpoint>(*flow->reply, approve_revision_atom::value, approver);
  settle();
  ASSERT_TRUE(approved->reply) << approved->error->message;
  EXPECT_EQ(stats().approval_flows, 1u) << "a flow that is done stops and is forgotten";
  auto again = ask<approval_flow>(dir_approval_flow_atom::value, t1, endpoint, first);
  ASSERT_TRUE(again->reply);
  EXPECT_NE(*again->reply, *flow->reply);

  // A failed tenant actor takes its flows with it (they hold its old handle).
  fail_clock_ = true;
  (void)create_endpoint(tenant, "ep-2");
  fail_clock_ = false;
  settle();
  EXPECT_EQ(stats().approval_flows, 0u);
  auto after_restart = ask<approval_flow>(dir_approval_flow_atom::value, t1, endpoint, first);
  settle();
  ASSERT_TRUE(after_restart->reply) << after_restart->error->message;
  EXPECT_NE(*after_restart->reply, *again->reply);
}

TEST_F(directory_test, recovered_visits_are_served_at_start) {
  seed_tenant();
  start();
  open("v-1");
  ASSERT_TRUE(command("v-1", join_provider("doc"))->reply);
  auto before = ask<domain::visit_state>(id<domain::visit_id>("v-1"), get_state_atom::value);
  ASSERT_TRUE(before->reply);
  caf::anon_send_exit(directory_, caf::exit_reason::user_shutdown);
  sched_->run();

  start();  // a new directory over the same store, as after a restart
  EXPECT_EQ(stats().live_visits, 1u);
  auto after = ask<domain::visit_state>(id<domain::visit_id>("v-1"), get_state_atom::value);
  ASSERT_TRUE(after->reply);
  EXPECT_EQ(*after->reply, *before->reply);
}

TEST_F(directory_test, wakes_a_passivated_visit_to_expire_it) {
  seed_tenant();
  start();
  open("v-1");
  ASSERT_TRUE(command("v-1", join_provider("doc"))->reply);
  ASSERT_TRUE(command("v-1", leave("doc", "d1"))->reply);
  idle_for(70s);
  ASSERT_EQ(stats().passivations, 1u);

  now_ = now_ + std::chrono::hours{13};  // past max_duration and the idle timeout
  idle_for(2s);
  auto header = storage::load_visit_header(*store_, id<domain::visit_id>("v-1"));
  ASSERT_TRUE(header);
  EXPECT_TRUE(header->ended_at.has_value()) << "the visit was not expired";
}

TEST_F(directory_test, an_ended_visit_is_read_back_from_the_store_once_it_is_forgotten) {
  seed_tenant();
  start();
  open("v-1");
  ASSERT_TRUE(command("v-1", join_provider("doc"))->reply);
  ASSERT_TRUE(command("v-1", domain::cmd::end{id<domain::participant_id>("doc")})->reply);
  idle_for(70s);
  ASSERT_EQ(stats().visits, 0u) << "the ended visit was not forgotten";
  auto served = ask<domain::visit_state>(id<domain::visit_id>("v-1"), get_state_atom::value);
  ASSERT_TRUE(served->error);
  EXPECT_EQ(served->error->code, domain::errc::not_found);

  auto read = ask<domain::visit_state>(dir_read_visit_atom::value, id<domain::visit_id>("v-1"));
  settle();
  ASSERT_TRUE(read->reply) << (read->error ? read->error->message : "no reply");
  EXPECT_EQ(read->reply->status, domain::visit_status::ended);
  EXPECT_EQ(read->reply->info.id, id<domain::visit_id>("v-1"));
  EXPECT_TRUE(read->reply->participants.contains(id<domain::participant_id>("doc")));
  EXPECT_EQ(stats().visits, 0u) << "reading an ended visit must not bring it back to life";

  auto unknown = ask<domain::visit_state>(dir_read_visit_atom::value, id<domain::visit_id>("v-9"));
  settle();
  ASSERT_TRUE(unknown->error);
  EXPECT_EQ(unknown->error->code, domain::errc::not_found);
}

TEST_F(directory_test, the_expiry_scheduler_expires_a_live_visit_when_its_deadline_passes) {
  seed_tenant();
  directory_options options;
  options.passivate_after = std::chrono::hours{100};  // stays live: the scheduler must act
  start(options, true);
  open("v-1");
  // Connected throughout, so only max_duration (12 h after the scheduled start) ends it.
  ASSERT_TRUE(command("v-1", join_provider("doc"))->reply);

  now_ = now_ + std::chrono::hours{11};
  sched_->advance_time(std::chrono::hours{11});
  settle();
  auto before = ask<domain::visit_state>(id<domain::visit_id>("v-1"), get_state_atom::value);
  ASSERT_TRUE(before->reply);
  EXPECT_NE(before->reply->status, domain::visit_status::ended) << "expired before its deadline";

  now_ = now_ + std::chrono::hours{2};  // past max_duration (12 h after the scheduled start)
  sched_->advance_time(std::chrono::hours{2});
  settle();
  auto header = storage::load_visit_header(*store_, id<domain::visit_id>("v-1"));
  ASSERT_TRUE(header);
  EXPECT_TRUE(header->ended_at.has_value()) << "the scheduler did not expire the visit";
}

TEST_F(directory_test, the_tenant_board_shows_lobby_counts_and_state_changes) {
  seed_tenant();
  start();
  open("v-1", "cardio");
  open("v-2", "derm");
  auto handles = ask<tenant_handles>(dir_tenant_atom::value, id<domain::tenant_id>("t-1"));
  ASSERT_TRUE(handles->reply);
  auto log = std::make_shared<board_log>();
  auto sub = sys_->spawn(recording_board_subscriber, log);
  others_.push_back(caf::actor_cast<caf::actor>(sub));
  auto subscribed = std::make_shared<outcome<std::uint64_t>>();
  sys_->spawn(
    asker<std::uint64_t, tenant_board, board_subscribe_atom, board_subscriber, department_filter>,
    handles->reply->board, subscribed, caf::timespan{10s}, board_subscribe_atom::value, sub,
    department_filter{id<domain::department_id>("cardio")});
  sched_->run();
  ASSERT_TRUE(subscribed->reply);
  ASSERT_EQ(log->snapshots.size(), 1u);
  ASSERT_EQ(log->snapshots[0].visits.size(), 1u) << "filtered by department";
  EXPECT_EQ(log->snapshots[0].visits[0].visit.str(), "v-1");

  ASSERT_TRUE(command("v-1", join_provider("doc"))->reply);
  ASSERT_TRUE(command("v-1", join_patient("pat"))->reply);
  ASSERT_TRUE(command("v-2", join_patient("pat"))->reply);  // another department: not sent
  ASSERT_GE(log->updates.size(), 2u);
  const auto& last = log->updates.back().visit;
  EXPECT_EQ(last.visit.str(), "v-1");
  EXPECT_EQ(last.lobby, 1u);
  EXPECT_EQ(last.status, domain::visit_status::open);
  for (const auto& u : log->updates) EXPECT_EQ(u.visit.visit.str(), "v-1");
}

}  // namespace
}  // namespace visitd::actors
