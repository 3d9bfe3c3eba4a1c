#include "actors/approval_flow.hpp"

#include "actors/tenant_actor.hpp"
#include "storage/journal.hpp"
#include "tests/unit/actors/actor_test_support.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>

namespace visitd::actors {
namespace {

using namespace domain;
using namespace std::chrono_literals;

using storage::testing::id;

const auto url = std::string{"https://ehr.example.org/fhir"};

// A stand-in tenant actor that takes every request and never answers: the flow must give up
// after its request timeout instead of hanging.
struct silent_state {
  std::vector<caf::response_promise> held;
};

caf::behavior silent_tenant(caf::stateful_actor<silent_state>* self, int /*unused*/) {
  auto hold = [self] { self->state.held.push_back(self->make_response_promise()); };
  return {
    [hold](get_tenant_atom) { hold(); },
    [hold](list_endpoints_atom) { hold(); },
    [hold](const endpoint_command&) { hold(); },
  };
}

/// The configurable bounds of a flow, with the defaults of approval_flow_args. (At namespace
/// scope: GCC cannot use a nested class's member initializers in the enclosing class's default
/// arguments.)
struct flow_limits {
  std::chrono::milliseconds validation_ttl = 10min;
  std::chrono::milliseconds request_timeout = 5s;
  std::chrono::milliseconds idle_lifetime = 24h;
};

class approval_flow_test : public testing::live_actor_test {
protected:
  approval_flow_test() : live_actor_test("visitd-approval") {}
  ~approval_flow_test() override {
    for (const auto& a : actors_) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  /// The fake time both actors read (on their threads); tests move it forward by hand.
  static timestamp at(std::int64_t offset_us) {
    return timestamp{std::chrono::seconds{1'700'000'000}} + std::chrono::microseconds{offset_us};
  }
  timestamp now() const { return at(offset_us_->load()); }
  void advance(std::chrono::microseconds by) { *offset_us_ += by.count(); }
  std::function<timestamp()> clock() const {
    return [offset = offset_us_] { return at(offset->load()); };
  }

  tenant_actor spawn_tenant(ehr_kind ehr = ehr_kind::generic_smart,
                            std::vector<account_id> admins = {id<account_id>("admin")}) {
    auto t = make_tenant(id<tenant_id>("t1"), "General Hospital", "eu-west", std::move(admins),
                         id<account_id>("approver"), ehr);
    EXPECT_TRUE(t);
    auto actor = spawn_tenant_actor(system_, {*t, {}, journal_.get(), clock(), 5s});
    actors_.push_back(caf::actor_cast<caf::actor>(actor));
    return actor;
  }

  approval_flow spawn_flow(const tenant_actor& tenant, flow_limits limits = {}) {
    approval_flow_args args{tenant,
                            ep_,
                            rev1_,
                            clock(),
                            limits.validation_ttl,
                            limits.request_timeout,
                            limits.idle_lifetime};
    auto flow = spawn_approval_flow(system_, std::move(args));
    actors_.push_back(caf::actor_cast<caf::actor>(flow));
    return flow;
  }

  /// Registers ep-1 (revision 1, a draft) and, unless `submit` is false, submits it.
  void register_endpoint(const tenant_actor& tenant, bool submit = true) {
    auto s = make_endpoint_settings(url, fhir_environment::production, "client-7",
                                    client_type::public_client);
    ASSERT_TRUE(s);
    ASSERT_TRUE(change(tenant, endpoint_change::create{id<account_id>("admin"), ep_, *s}));
    if (submit) {
      ASSERT_TRUE(change(tenant, endpoint_change::submit{id<account_id>("admin"), ep_, rev1_}));
    }
  }

  result<fhir_endpoint> change(const tenant_actor& actor, endpoint_command command) {
    return ask<fhir_endpoint>(actor, std::move(command));
  }

  result<pending_validation> begin(const approval_flow& flow, std::string_view account) {
    return ask<pending_validation>(flow, begin_validation_atom::value, id<account_id>(account));
  }
  result<fhir_endpoint> complete(const approval_flow& flow, const std::string& state,
                                 std::string_view account = "approver") {
    return ask<fhir_endpoint>(flow, complete_validation_atom::value, state, id<account_id>(account),
                              id<ehr_user_id>("Practitioner/42"));
  }
  result<fhir_endpoint> approve(const approval_flow& flow, std::string_view account) {
    return ask<fhir_endpoint>(flow, approve_revision_atom::value, id<account_id>(account));
  }
  result<fhir_endpoint> reject(const approval_flow& flow, std::string_view account) {
    return ask<fhir_endpoint>(flow, reject_revision_atom::value, id<account_id>(account));
  }

  revision_state state_of_revision(const tenant_actor& tenant) {
    auto endpoints = ask<std::vector<fhir_endpoint>>(tenant, list_endpoints_atom::value);
    EXPECT_TRUE(endpoints);
    EXPECT_EQ(endpoints->size(), 1u);
    if (!endpoints || endpoints->empty()) return revision_state::superseded;
    return endpoints->front().revisions.front().state;
  }

  /// Whether `flow` terminates with exit reason `normal` within `within`.
  bool exits_normally(const approval_flow& flow, std::chrono::milliseconds within = 5s) {
    caf::scoped_actor self{system_};
    self->monitor(flow);
    bool normal = false;
    self->receive(
      [&](const caf::down_msg& msg) { normal = msg.reason == caf::exit_reason::normal; },
      caf::after(within) >> [&] { normal = false; });
    return normal;
  }

  std::shared_ptr<std::atomic<std::int64_t>> offset_us_ =
    std::make_shared<std::atomic<std::int64_t>>(0);
  std::vector<caf::actor> actors_;
  endpoint_id ep_ = id<endpoint_id>("ep-1");
  revision_number rev1_ = *revision_number::make(1);
};

TEST_F(approval_flow_test, approver_validates_then_approves_and_the_flow_stops) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant, {.validation_ttl = 10min});

  auto pending = begin(flow, "approver");
  ASSERT_TRUE(pending) << pending.err().message;
  EXPECT_EQ(pending->state.size(), 43u);
  EXPECT_EQ(pending->nonce.size(), 43u);
  EXPECT_EQ(pending->code_verifier.size(), 43u);
  EXPECT_EQ(pending->code_challenge.size(), 43u);
  EXPECT_NE(pending->state, pending->nonce);
  EXPECT_EQ(pending->expires_at, now() + 10min);

  auto validated = complete(flow, pending->state);
  ASSERT_TRUE(validated) << validated.err().message;
  EXPECT_EQ(validated->revisions.front().state, revision_state::validated);
  EXPECT_EQ(validated->revisions.front().validated_as, id<ehr_user_id>("Practitioner/42"));
  EXPECT_EQ(state_of_revision(tenant), revision_state::validated);

  auto approved = approve(flow, "approver");
  ASSERT_TRUE(approved) << approved.err().message;
  EXPECT_EQ(approved->revisions.front().state, revision_state::approved);
  EXPECT_EQ(state_of_revision(tenant), revision_state::approved);
  EXPECT_TRUE(exits_normally(flow));
}

TEST_F(approval_flow_test, a_wrong_state_is_refused_and_the_validation_stays_pending) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant);
  auto pending = begin(flow, "approver");
  ASSERT_TRUE(pending) << pending.err().message;

  auto wrong = complete(flow, std::string(43, 'A'));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.err().code, errc::invalid_argument);
  auto shorter = complete(flow, pending->state.substr(0, 42));
  ASSERT_FALSE(shorter);
  EXPECT_EQ(shorter.err().code, errc::invalid_argument);
  EXPECT_EQ(state_of_revision(tenant), revision_state::awaiting_validation);

  auto validated = complete(flow, pending->state);
  ASSERT_TRUE(validated) << validated.err().message;
}

TEST_F(approval_flow_test, a_used_state_cannot_be_used_again) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant);
  auto pending = begin(flow, "approver");
  ASSERT_TRUE(pending) << pending.err().message;
  ASSERT_TRUE(complete(flow, pending->state));
  auto again = complete(flow, pending->state);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.err().code, errc::conflict);
}

TEST_F(approval_flow_test, a_matching_state_from_another_account_is_forbidden_and_used_up) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant);
  auto pending = begin(flow, "approver");
  ASSERT_TRUE(pending) << pending.err().message;
  auto other = complete(flow, pending->state, "admin");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.err().code, errc::forbidden);
  // Single use: not even the right account may use it after that.
  auto after = complete(flow, pending->state, "approver");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.err().code, errc::conflict);
  EXPECT_EQ(state_of_revision(tenant), revision_state::awaiting_validation);
}

TEST_F(approval_flow_test, only_the_approver_may_begin) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant);
  auto pending = begin(flow, "approver");
  ASSERT_TRUE(pending) << pending.err().message;
  for (const auto* account : {"admin", "mallory"}) {
    auto refused = begin(flow, account);
    ASSERT_FALSE(refused) << account;
    EXPECT_EQ(refused.err().code, errc::forbidden) << account;
  }
  // A refused begin leaves the approver's pending validation alone.
  ASSERT_TRUE(complete(flow, pending->state));
}

TEST_F(approval_flow_test, an_expired_validation_is_refused) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  // By the clock: the timer has not fired yet (10 min), but the clock says it is too late.
  auto flow = spawn_flow(tenant, {.validation_ttl = 10min});
  auto pending = begin(flow, "approver");
  ASSERT_TRUE(pending) << pending.err().message;
  advance(10min);
  auto late = complete(flow, pending->state);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.err().code, errc::conflict);
  EXPECT_NE(late.err().message.find("expired"), std::string::npos) << late.err().message;
  EXPECT_EQ(state_of_revision(tenant), revision_state::awaiting_validation);

  // By the timer: the pending validation is dropped after validation_ttl of real time.
  auto quick = spawn_flow(tenant, {.validation_ttl = 50ms});
  auto short_lived = begin(quick, "approver");
  ASSERT_TRUE(short_lived) << short_lived.err().message;
  std::this_thread::sleep_for(200ms);
  auto dropped = complete(quick, short_lived->state);
  ASSERT_FALSE(dropped);
  EXPECT_EQ(dropped.err().code, errc::conflict);

  // Beginning again works, and the stale timer of the first begin does not end the new one.
  auto fresh = begin(quick, "approver");
  ASSERT_TRUE(fresh) << fresh.err().message;
  auto validated = complete(quick, fresh->state);
  ASSERT_TRUE(validated) << validated.err().message;
}

TEST_F(approval_flow_test, a_stale_expiry_timer_does_not_end_a_newer_validation) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant, {.validation_ttl = 300ms});
  auto first = begin(flow, "approver");
  ASSERT_TRUE(first) << first.err().message;
  std::this_thread::sleep_for(200ms);
  auto second = begin(flow, "approver");
  ASSERT_TRUE(second) << second.err().message;
  // The first begin's timer fires at ~300 ms; the second's at ~500 ms.
  std::this_thread::sleep_for(200ms);
  auto validated = complete(flow, second->state);
  ASSERT_TRUE(validated) << validated.err().message;
}

TEST_F(approval_flow_test, a_second_begin_replaces_the_first) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant);
  auto first = begin(flow, "approver");
  ASSERT_TRUE(first) << first.err().message;
  auto second = begin(flow, "approver");
  ASSERT_TRUE(second) << second.err().message;
  EXPECT_NE(first->state, second->state);
  EXPECT_NE(first->code_verifier, second->code_verifier);
  auto old = complete(flow, first->state);
  ASSERT_FALSE(old);
  EXPECT_EQ(old.err().code, errc::invalid_argument);
  auto validated = complete(flow, second->state);
  ASSERT_TRUE(validated) << validated.err().message;
}

TEST_F(approval_flow_test, the_approver_rejects_and_the_flow_stops) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant);
  // Someone else may not; a refused decision leaves the flow running.
  auto refused = reject(flow, "admin");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, errc::forbidden);
  auto rejected = reject(flow, "approver");
  ASSERT_TRUE(rejected) << rejected.err().message;
  EXPECT_EQ(rejected->revisions.front().state, revision_state::rejected);
  EXPECT_EQ(state_of_revision(tenant), revision_state::rejected);
  EXPECT_TRUE(exits_normally(flow));
}

TEST_F(approval_flow_test, approval_without_validation_is_refused_and_the_flow_stays) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant);
  auto early = approve(flow, "approver");
  ASSERT_FALSE(early);
  EXPECT_EQ(early.err().code, errc::conflict);
  // Still running: the approver can validate and approve.
  auto pending = begin(flow, "approver");
  ASSERT_TRUE(pending) << pending.err().message;
  ASSERT_TRUE(complete(flow, pending->state));
  ASSERT_TRUE(approve(flow, "approver"));
  EXPECT_TRUE(exits_normally(flow));
}

TEST_F(approval_flow_test, begin_submits_a_draft_when_the_approver_is_an_admin) {
  auto tenant =
    spawn_tenant(ehr_kind::generic_smart, {id<account_id>("admin"), id<account_id>("approver")});
  register_endpoint(tenant, /*submit=*/false);
  auto flow = spawn_flow(tenant);
  auto pending = begin(flow, "approver");
  ASSERT_TRUE(pending) << pending.err().message;
  EXPECT_EQ(state_of_revision(tenant), revision_state::awaiting_validation);
  ASSERT_TRUE(complete(flow, pending->state));
}

TEST_F(approval_flow_test, begin_on_a_draft_needs_an_admin_to_submit_it) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant, /*submit=*/false);
  auto flow = spawn_flow(tenant);
  auto refused = begin(flow, "approver");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, errc::conflict);
  EXPECT_NE(refused.err().message.find("admin must submit"), std::string::npos);
  EXPECT_EQ(state_of_revision(tenant), revision_state::draft);
}

TEST_F(approval_flow_test, begin_refuses_unknown_and_decided_revisions) {
  auto tenant = spawn_tenant();
  auto unknown = begin(spawn_flow(tenant), "approver");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.err().code, errc::not_found);

  register_endpoint(tenant);
  ASSERT_TRUE(change(tenant, endpoint_change::reject{id<account_id>("approver"), ep_, rev1_}));
  auto decided = begin(spawn_flow(tenant), "approver");
  ASSERT_FALSE(decided);
  EXPECT_EQ(decided.err().code, errc::conflict);
}

TEST_F(approval_flow_test, oracle_health_admin_approves_without_validation) {
  auto tenant = spawn_tenant(ehr_kind::oracle_health);
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant);
  auto no_validation = begin(flow, "approver");
  ASSERT_FALSE(no_validation);
  EXPECT_EQ(no_validation.err().code, errc::conflict);
  auto approved = approve(flow, "admin");
  ASSERT_TRUE(approved) << approved.err().message;
  EXPECT_EQ(approved->revisions.front().state, revision_state::approved);
  EXPECT_TRUE(exits_normally(flow));
}

TEST_F(approval_flow_test, a_silent_tenant_actor_is_a_timeout_not_a_hang) {
  auto silent = system_.spawn(silent_tenant, 0);
  actors_.push_back(silent);
  auto flow = spawn_flow(caf::actor_cast<tenant_actor>(silent), {.request_timeout = 100ms});
  for (int which = 0; which < 3; ++which) {
    const auto start = std::chrono::steady_clock::now();
    auto out = which == 0   ? begin(flow, "approver").has_value()
               : which == 1 ? approve(flow, "approver").has_value()
                            : reject(flow, "approver").has_value();
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(out) << which;
    EXPECT_GE(took, 100ms) << which;
    EXPECT_LT(took, 2s) << which;
  }
  auto err = begin(flow, "approver");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.err().code, errc::timeout);
  EXPECT_NE(err.err().message.find("100 ms"), std::string::npos) << err.err().message;
}

TEST_F(approval_flow_test, the_flow_stops_when_idle) {
  auto tenant = spawn_tenant();
  register_endpoint(tenant);
  auto flow = spawn_flow(tenant, {.idle_lifetime = 300ms});
  // Activity postpones the end: 3 messages 150 ms apart keep it alive past its first deadline.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(150ms);
    auto early = approve(flow, "approver");
    ASSERT_FALSE(early);
    EXPECT_EQ(early.err().code, errc::conflict) << "the flow stopped while in use";
  }
  EXPECT_TRUE(exits_normally(flow, 2s));
}

TEST_F(approval_flow_test, the_flow_stops_with_its_tenant_actor) {
  auto tenant = spawn_tenant();
  auto flow = spawn_flow(tenant);
  caf::anon_send_exit(tenant, caf::exit_reason::user_shutdown);
  EXPECT_TRUE(exits_normally(flow));
}

}  // namespace
}  // namespace visitd::actors
