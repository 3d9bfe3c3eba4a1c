#include "actors/tenant_actor.hpp"

#include "storage/audit_log.hpp"
#include "storage/catalog.hpp"
#include "storage/journal.hpp"
#include "storage/recovery.hpp"
#include "tests/unit/actors/actor_test_support.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <mutex>

namespace visitd::actors {
namespace {

using namespace domain;
using namespace std::chrono_literals;

using storage::testing::id;

// A journal the test completes by hand: appends wait until complete() is called.
class manual_journal final : public storage::journal {
public:
  void append(std::vector<storage::write_op> ops, completion done) override {
    std::lock_guard lock{mutex_};
    pending_.push_back({std::move(ops), std::move(done)});
  }
  void stop() override {}
  stats statistics() const override { return {}; }

  std::size_t pending() {
    std::lock_guard lock{mutex_};
    return pending_.size();
  }
  /// Completes the oldest append with `outcome`; returns its ops.
  std::vector<storage::write_op> complete(domain::result<void> outcome = {}) {
    std::unique_lock lock{mutex_};
    auto p = std::move(pending_.front());
    pending_.erase(pending_.begin());
    lock.unlock();
    p.second(std::move(outcome));
    return std::move(p.first);
  }
  bool wait_for_pending(std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      if (pending() >= n) return true;
      std::this_thread::sleep_for(2ms);
    }
    return false;
  }

private:
  std::mutex mutex_;
  std::vector<std::pair<std::vector<storage::write_op>, completion>> pending_;
};

class tenant_actor_test : public testing::live_actor_test {
protected:
  tenant_actor_test() : live_actor_test("visitd-tenant") {
    auto t =
      make_tenant(id<tenant_id>("t1"), "General Hospital", "eu-west", {id<account_id>("admin")},
                  id<account_id>("approver"), ehr_kind::generic_smart);
    EXPECT_TRUE(t);
    tenant_ = *t;
  }

  tenant_actor spawn(storage::journal& journal, std::chrono::milliseconds timeout = 5s) {
    return spawn_tenant_actor(system_,
                              {tenant_,
                               {},
                               &journal,
                               [] { return timestamp{std::chrono::seconds{1'700'000'000}}; },
                               timeout});
  }

  /// Sends `command` and waits for the reply: the endpoint, or the domain error.
  result<fhir_endpoint> change(const tenant_actor& actor, endpoint_command command) {
    return ask<fhir_endpoint>(actor, std::move(command));
  }

  result<endpoint_match> find(const tenant_actor& actor, const std::string& url) {
    return ask<endpoint_match>(actor, find_endpoint_atom::value, url);
  }

  std::vector<fhir_endpoint> list(const tenant_actor& actor) {
    auto listed = ask<std::vector<fhir_endpoint>>(actor, list_endpoints_atom::value);
    if (!listed) ADD_FAILURE() << "list failed";
    return listed ? *listed : std::vector<fhir_endpoint>{};
  }

  static endpoint_settings settings(std::string_view url) {
    auto s = make_endpoint_settings(url, fhir_environment::production, "client-7",
                                    client_type::public_client);
    EXPECT_TRUE(s) << s.err().message;
    return *s;
  }

  tenant tenant_;
};

TEST_F(tenant_actor_test, approval_flow_is_durable_and_enables_launch_lookup) {
  auto actor = spawn(*journal_);
  const auto url = std::string{"https://ehr.example.org/fhir"};
  auto ep = id<endpoint_id>("ep-1");
  auto rev1 = *revision_number::make(1);
  ASSERT_TRUE(change(actor, endpoint_change::create{id<account_id>("admin"), ep, settings(url)}));
  ASSERT_TRUE(change(actor, endpoint_change::submit{id<account_id>("admin"), ep, rev1}));

  auto before = find(actor, url);
  ASSERT_FALSE(before);
  EXPECT_EQ(before.err().code, errc::not_found);
  EXPECT_NE(before.err().message.find("no approved revision"), std::string::npos);

  ASSERT_TRUE(change(actor, endpoint_change::validate{id<account_id>("approver"), ep, rev1,
                                                      id<ehr_user_id>("Practitioner/42")}));
  auto approved = change(actor, endpoint_change::approve{id<account_id>("approver"), ep, rev1});
  ASSERT_TRUE(approved) << approved.err().message;

  auto match = find(actor, url);
  ASSERT_TRUE(match) << match.err().message;
  EXPECT_EQ(match->endpoint, ep);
  EXPECT_EQ(match->revision.state, revision_state::approved);
  EXPECT_EQ(find(actor, "https://other.example.org/fhir").err().code, errc::not_found);

  // What the actor answered is what the store holds: recovery reads the same endpoint.
  auto recovered = storage::recover(*store_);
  ASSERT_TRUE(recovered) << recovered.err().message;
  ASSERT_EQ(recovered->endpoints.size(), 1u);
  EXPECT_EQ(recovered->endpoints[0], *approved);

  // Each change left its audit entry, written with it: who, what, and the endpoint before/after.
  auto audit = storage::read_audit(*store_, tenant_.id, timestamp{}, timestamp::max(), 100);
  ASSERT_TRUE(audit) << audit.err().message;
  std::vector<std::string> actions;
  for (const auto& e : *audit) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"endpoint.create", "endpoint.submit",
                                               "endpoint.validate", "endpoint.approve"}));
  ASSERT_EQ(audit->size(), 4u);
  EXPECT_EQ(audit->front().before, "") << "created: nothing before";
  EXPECT_EQ(audit->front().actor, id<account_id>("admin"));
  EXPECT_EQ(audit->back().actor, id<account_id>("approver"));
  EXPECT_EQ(audit->back().target, "ep-1");
  EXPECT_NE(audit->back().before.find(R"("state":"validated")"), std::string::npos)
    << audit->back().before;
  EXPECT_NE(audit->back().after.find(R"("state":"approved")"), std::string::npos)
    << audit->back().after;
  EXPECT_NE(audit->back().after.find(R"("in_force":1)"), std::string::npos) << audit->back().after;
  auto indexed = storage::find_endpoints_by_url(*store_, url);
  ASSERT_TRUE(indexed);
  EXPECT_EQ(indexed->size(), 1u);
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_F(tenant_actor_test, refused_changes_write_nothing) {
  manual_journal journal;
  auto actor = spawn(journal);
  auto ep = id<endpoint_id>("ep-1");
  auto no_such =
    change(actor, endpoint_change::submit{id<account_id>("admin"), ep, *revision_number::make(1)});
  ASSERT_FALSE(no_such);
  EXPECT_EQ(no_such.err().code, errc::not_found);
  auto not_admin = change(actor, endpoint_change::create{id<account_id>("mallory"), ep,
                                                         settings("https://ehr.example.org/fhir")});
  ASSERT_FALSE(not_admin);
  EXPECT_EQ(not_admin.err().code, errc::forbidden);
  EXPECT_EQ(journal.pending(), 0u);
  EXPECT_TRUE(list(actor).empty());
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_F(tenant_actor_test, changes_wait_for_the_journal_and_apply_in_order) {
  manual_journal journal;
  auto actor = spawn(journal);
  auto ep = id<endpoint_id>("ep-1");
  caf::scoped_actor self{system_};
  std::vector<std::string> replies;
  // Three changes sent at once: the second is decided only after the first is durable.
  self->send(actor, endpoint_command{endpoint_change::create{
                      id<account_id>("admin"), ep, settings("https://a.example.org/fhir")}});
  self->send(actor, endpoint_command{endpoint_change::propose{
                      id<account_id>("admin"), ep, settings("https://b.example.org/fhir")}});
  self->send(actor, endpoint_command{endpoint_change::create{
                      id<account_id>("admin"), ep, settings("https://c.example.org/fhir")}});
  ASSERT_TRUE(journal.wait_for_pending(1));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(journal.pending(), 1u) << "a second write started before the first was durable";
  EXPECT_TRUE(list(actor).empty()) << "applied before durable";

  journal.complete();
  ASSERT_TRUE(journal.wait_for_pending(1));
  journal.complete();
  // The third (a second create of ep-1) is refused against the applied state: no write.
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(journal.pending(), 0u);
  auto endpoints = list(actor);
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_EQ(endpoints[0].revisions.back().settings.base_url, "https://b.example.org/fhir");
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_F(tenant_actor_test, a_failed_write_is_reported_and_changes_nothing) {
  manual_journal journal;
  auto actor = spawn(journal);
  auto ep = id<endpoint_id>("ep-1");
  caf::scoped_actor self{system_};
  std::optional<result<fhir_endpoint>> out;
  auto handle =
    self->request(actor, 10s,
                  endpoint_command{endpoint_change::create{
                    id<account_id>("admin"), ep, settings("https://a.example.org/fhir")}});
  ASSERT_TRUE(journal.wait_for_pending(1));
  journal.complete(make_error(errc::storage_failure, "disk full"));
  handle.receive([&](const fhir_endpoint& e) { out.emplace(e); },
                 [&](const caf::error& err) { out.emplace(to_domain_error(err)); });
  ASSERT_FALSE(*out);
  EXPECT_EQ(out->err().code, errc::storage_failure);
  EXPECT_NE(out->err().message.find("disk full"), std::string::npos);
  EXPECT_TRUE(list(actor).empty());
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_F(tenant_actor_test, a_slow_write_times_out_but_is_applied_once_durable) {
  manual_journal journal;
  auto actor = spawn(journal, 50ms);
  auto ep = id<endpoint_id>("ep-1");
  auto timed_out = [&] {
    caf::scoped_actor self{system_};
    std::optional<result<fhir_endpoint>> out;
    self
      ->request(actor, 10s,
                endpoint_command{endpoint_change::create{id<account_id>("admin"), ep,
                                                         settings("https://a.example.org/fhir")}})
      .receive([&](const fhir_endpoint& e) { out.emplace(e); },
               [&](const caf::error& err) { out.emplace(to_domain_error(err)); });
    return *out;
  }();
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.err().code, errc::timeout);
  // The outcome was unknown; the write then succeeds, and the actor follows the store.
  journal.complete();
  std::vector<fhir_endpoint> endpoints;
  for (int i = 0; i < 100 && endpoints.empty(); ++i) {
    endpoints = list(actor);
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(endpoints.size(), 1u);
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace visitd::actors
