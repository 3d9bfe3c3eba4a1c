#include "actors/write_back.hpp"

#include "actors/directory.hpp"
#include "actors/wall_clock.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/tenant.hpp"
#include "domain/visit.hpp"
#include "storage/catalog.hpp"
#include "storage/journal.hpp"
#include "storage/outbox.hpp"
#include "storage/recovery.hpp"
#include "storage/visit_log.hpp"
#include "tests/unit/actors/actor_test_support.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// The write-back hub and its endpoint actors on a real, threaded actor system: a RocksDB store
// with its journal, a real directory (whose tenant actor answers the endpoint's approved
// revision) and a fake EHR behind `write_back_transport` that records every call and answers
// as each test scripts it (at once from its own thread, or when the test releases a held call).

namespace visitd::actors {
namespace {

using namespace std::chrono_literals;
using storage::testing::id;
using steady = std::chrono::steady_clock;

// -- the fake EHR ------------------------------------------------------------------------------

fhir::write_back_support full_support() {
  fhir::write_back_support s;
  s.fhir_version = "4.0.1";
  s.audit_event = {true, true, true, true, true, false, "no-version"};
  s.encounter = {true, true, false, true, false, false, "versioned"};
  s.appointment = {true, true, false, true, false, false, "versioned"};
  return s;
}

fhir::delivery_outcome delivered() {
  return {domain::delivery_verdict::delivered, 200, std::nullopt, "HTTP 200"};
}

fhir::delivery_outcome retry(std::string detail,
                             std::optional<domain::duration> retry_after = std::nullopt) {
  return {domain::delivery_verdict::retry, 503, retry_after, std::move(detail)};
}

fhir::delivery_outcome permanent(std::string detail) {
  return {domain::delivery_verdict::permanent, 400, std::nullopt, std::move(detail)};
}

/// One deliver call as the fake EHR saw it.
struct call {
  std::string key;  ///< domain::event_key of the item.
  domain::visit_id visit;
  std::uint64_t seq = 0;
  domain::fhir_write write{};
  domain::audit_event_codes codes;  ///< The plan's AuditEvent codes at the call.
  steady::time_point at;
  std::optional<domain::delivery_verdict> verdict;  ///< Once answered.
  steady::time_point answered_at;
};

/// A write of one item: (event key, write).
using write_key = std::pair<std::string, domain::fhir_write>;

/// An EHR behind `write_back_transport`. Thread-safe: the actors call it on CAF workers, its
/// answer thread and the test thread answer it.
class fake_ehr {
public:
  /// What to answer the `attempt`-th call (from 1) for this write of this item; nullopt holds
  /// the call until the test releases it.
  using policy = std::function<std::optional<fhir::delivery_outcome>(
    const domain::write_back_item&, domain::fhir_write, std::size_t attempt)>;

  fake_ehr() : worker_([this] { run(); }) {}
  ~fake_ehr() { stop(); }
  fake_ehr(const fake_ehr&) = delete;
  fake_ehr& operator=(const fake_ehr&) = delete;

  /// The transport the actors use; it keeps the fake alive.
  static write_back_transport transport_of(const std::shared_ptr<fake_ehr>& ehr) {
    write_back_transport t;
    t.check = [ehr](const fhir::write_back_endpoint& endpoint,
                    const write_back_transport::check_reply& reply) {
      ehr->check(endpoint, reply);
    };
    t.deliver = [ehr](const fhir::write_back_endpoint&, const fhir::write_back_plan& plan,
                      const domain::write_back_item& item, domain::fhir_write write,
                      const write_back_transport::deliver_reply& reply) {
      ehr->deliver(item, write, reply, plan.codes);
    };
    return t;
  }

  /// Answers checks with `support`, or fails them (saying `failure`) when it is empty.
  void set_support(std::optional<fhir::write_back_support> support,
                   std::string failure = "GET metadata: HTTP 503") {
    std::lock_guard lock{mutex_};
    support_ = std::move(support);
    check_failure_ = std::move(failure);
  }

  void set_policy(policy p) {
    std::lock_guard lock{mutex_};
    policy_ = std::move(p);
  }

  /// Stops answering (held calls are dropped) and joins the answer thread. Idempotent.
  void stop() {
    std::deque<std::function<void()>> dropped_jobs;
    std::vector<held_call> dropped_held;
    {
      std::lock_guard lock{mutex_};
      stopping_ = true;
      dropped_jobs.swap(jobs_);
      dropped_held.swap(held_);
    }
    wake_.notify_all();
    if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
  }

  /// Answers the held call for (`key`, `write`) from this thread; false when none is held.
  bool release(const std::string& key, domain::fhir_write write,
               const fhir::delivery_outcome& outcome) {
    std::unique_lock lock{mutex_};
    auto found = std::find_if(held_.begin(), held_.end(), [&](const held_call& h) {
      return calls_[h.index].key == key && calls_[h.index].write == write;
    });
    if (found == held_.end()) return false;
    auto h = std::move(*found);
    held_.erase(found);
    lock.unlock();
    answer(h.index, outcome, h.reply);
    return true;
  }

  /// Answers the held call at `position` (in call order) from this thread.
  bool release_nth(std::size_t position, const fhir::delivery_outcome& outcome) {
    std::unique_lock lock{mutex_};
    if (position >= held_.size()) return false;
    auto h = std::move(held_[position]);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(position));
    lock.unlock();
    answer(h.index, outcome, h.reply);
    return true;
  }

  [[nodiscard]] std::vector<call> calls() const {
    std::lock_guard lock{mutex_};
    return calls_;
  }
  [[nodiscard]] std::vector<call> calls_of(const std::string& key, domain::fhir_write w) const {
    std::lock_guard lock{mutex_};
    std::vector<call> out;
    for (const auto& c : calls_)
      if (c.key == key && c.write == w) out.push_back(c);
    return out;
  }
  [[nodiscard]] std::size_t checks() const {
    std::lock_guard lock{mutex_};
    return checks_;
  }
  [[nodiscard]] std::size_t held() const {
    std::lock_guard lock{mutex_};
    return held_.size();
  }
  /// Successful deliveries per write of an item.
  [[nodiscard]] std::map<write_key, int> successes() const {
    std::lock_guard lock{mutex_};
    std::map<write_key, int> out;
    for (const auto& c : calls_)
      if (c.verdict == domain::delivery_verdict::delivered) ++out[{c.key, c.write}];
    return out;
  }
  /// The most calls outstanding at once.
  [[nodiscard]] std::size_t max_outstanding() const {
    std::lock_guard lock{mutex_};
    return max_outstanding_;
  }
  /// A call came for a visit that already had one outstanding.
  [[nodiscard]] bool overlap_within_a_visit() const {
    std::lock_guard lock{mutex_};
    return overlap_;
  }

private:
  struct held_call {
    std::size_t index = 0;
    write_back_transport::deliver_reply reply;
  };

  void check(const fhir::write_back_endpoint&, const write_back_transport::check_reply& reply) {
    std::lock_guard lock{mutex_};
    ++checks_;
    if (stopping_) return;
    if (support_)
      jobs_.emplace_back([reply, s = *support_] { reply(s); });
    else
      jobs_.emplace_back([reply, why = check_failure_] {
        reply(domain::make_error(domain::errc::unavailable, why));
      });
    wake_.notify_all();
  }

  void deliver(const domain::write_back_item& item, domain::fhir_write write,
               const write_back_transport::deliver_reply& reply,
               const domain::audit_event_codes& codes) {
    std::lock_guard lock{mutex_};
    if (stopping_) return;
    call c;
    c.key = domain::event_key(item);
    c.visit = item.visit;
    c.seq = item.seq;
    c.write = write;
    c.codes = codes;
    c.at = steady::now();
    std::size_t attempt = 1;
    for (const auto& earlier : calls_)
      if (earlier.key == c.key && earlier.write == write) ++attempt;
    if (outstanding_per_visit_[item.visit]++ > 0) overlap_ = true;
    max_outstanding_ = std::max(max_outstanding_, ++outstanding_);
    auto index = calls_.size();
    calls_.push_back(std::move(c));
    auto outcome = policy_ ? policy_(item, write, attempt) : std::optional{delivered()};
    if (!outcome) {
      held_.push_back({index, reply});
      return;
    }
    jobs_.emplace_back([this, index, o = *outcome, reply] { answer(index, o, reply); });
    wake_.notify_all();
  }

  /// Books the answer, then gives it (outside the lock: the actor may call again at once).
  void answer(std::size_t index, const fhir::delivery_outcome& outcome,
              const write_back_transport::deliver_reply& reply) {
    {
      std::lock_guard lock{mutex_};
      auto& c = calls_[index];
      c.verdict = outcome.verdict;
      c.answered_at = steady::now();
      --outstanding_;
      --outstanding_per_visit_[c.visit];
    }
    reply(outcome);
  }

  void run() {
    std::unique_lock lock{mutex_};
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::optional<fhir::write_back_support> support_ = full_support();
  std::string check_failure_;
  policy policy_;
  std::size_t checks_ = 0;
  std::vector<call> calls_;
  std::vector<held_call> held_;
  std::map<domain::visit_id, std::size_t> outstanding_per_visit_;
  std::size_t outstanding_ = 0;
  std::size_t max_outstanding_ = 0;
  bool overlap_ = false;
  std::thread worker_;  // last: started once everything above is constructed
};

// -- visits --------------------------------------------------------------------------------------

domain::timestamp t0() {
  return domain::timestamp{std::chrono::seconds{1'800'000'000}};
}

/// A visit driven through decide/apply as its actor drives it: opened (header and write-back
/// cursor), then each append made durable through the journal (with the close when it ends the
/// visit) and yielding its write-back items.
class visit_driver {
public:
  visit_driver(storage::journal& journal, std::string_view visit,
               std::string_view endpoint = "ep-1")
    : journal_(journal) {
    auto info = domain::make_visit_info(
      id<domain::visit_id>(visit), id<domain::tenant_id>("t-1"), id<domain::endpoint_id>(endpoint),
      id<domain::fhir_reference>("Appointment/a1"), id<domain::fhir_reference>("Encounter/e1"),
      std::nullopt, t0());
    EXPECT_TRUE(info) << info.err().message;
    state_ = domain::initial_state(*info);
    auto opened = journal_.append_and_wait(storage::open_visit_ops(*info));
    EXPECT_TRUE(opened) << opened.err().message;
  }

  /// Appends what `c` decides; returns the append's items (in sequence order).
  std::vector<domain::write_back_item> run(const domain::command& c) {
    now_ += 10s;
    auto events = domain::decide(state_, c, now_, domain::visit_policy{});
    EXPECT_TRUE(events) << events.err().message;
    if (!events) return {};
    auto items = domain::write_back_items(state_, *events);
    auto ops = storage::event_ops(state_.info.id, *events);
    for (const auto& e : *events) {
      domain::apply(state_, e);
      journal_events_.push_back(e);
    }
    if (state_.status == domain::visit_status::ended)
      for (auto& op : storage::close_visit_ops(state_.info, journal_events_, now_))
        ops.push_back(std::move(op));
    auto written = journal_.append_and_wait(std::move(ops));
    EXPECT_TRUE(written) << written.err().message;
    items_.insert(items_.end(), items.begin(), items.end());
    return items;
  }

  /// The steps of a whole visit (10 items: see domain/write_back.test.cpp).
  static std::vector<domain::command> full_script() {
    using domain::participant_role;
    auto p = [](std::string_view s) { return id<domain::participant_id>(s); };
    auto d = [](std::string_view s) { return id<domain::device_id>(s); };
    return {
      domain::cmd::join{p("doc"), d("d1"), participant_role::provider,
                        id<domain::ehr_user_id>("Practitioner/p1")},
      domain::cmd::join{p("pat"), d("d2"), participant_role::patient,
                        id<domain::ehr_user_id>("Patient/x1")},
      domain::cmd::report_device_test{p("pat"), d("d2"), true, false, true},
      domain::cmd::admit{p("doc"), p("pat")},
      domain::cmd::join{p("guest"), d("d3"), participant_role::guest, id<domain::join_id>("j-9")},
      domain::cmd::leave{p("pat"), d("d2")},
      domain::cmd::end{p("doc")},
    };
  }

  /// Runs the whole script; returns each append's items.
  std::vector<std::vector<domain::write_back_item>> run_all() {
    std::vector<std::vector<domain::write_back_item>> out;
    for (const auto& c : full_script()) out.push_back(run(c));
    return out;
  }

  [[nodiscard]] const std::vector<domain::write_back_item>& items() const { return items_; }

private:
  storage::journal& journal_;
  domain::visit_state state_;
  domain::timestamp now_ = t0();
  std::vector<domain::write_back_item> items_;
  std::vector<domain::event_envelope> journal_events_;
};

/// The writes `items` cause under `targets`, item by item, in order.
std::vector<std::pair<std::uint64_t, domain::fhir_write>> expected_writes(
  const std::vector<domain::write_back_item>& items,
  const domain::write_back_targets& targets = {}) {
  std::vector<std::pair<std::uint64_t, domain::fhir_write>> out;
  for (const auto& item : items)
    for (auto w : domain::planned_writes(item, targets)) out.emplace_back(item.seq, w);
  return out;
}

/// Polls `done` until it holds or `within` passed.
template <class Pred>
bool eventually(Pred done, std::chrono::milliseconds within = 10s) {
  auto until = steady::now() + within;
  while (!done()) {
    if (steady::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// -- the fixture -------------------------------------------------------------------------------

class write_back_test : public testing::live_actor_test {
protected:
  write_back_test() : live_actor_test("visitd-write-back") {
    options_.max_in_flight = 4;
    options_.retry.first_delay = 1ms;
    options_.retry.max_delay = 20ms;
    options_.breaker.failure_threshold = 5;
    options_.breaker.open_for = 20ms;
    options_.setup_retry = 20ms;
    options_.request_timeout = 2s;
  }

  ~write_back_test() override {
    ehr_->stop();
    if (hub_) caf::anon_send_exit(hub_, caf::exit_reason::user_shutdown);
    if (directory_) caf::anon_send_exit(directory_, caf::exit_reason::user_shutdown);
  }

  /// An `oracle_health` tenant (an admin approves without validation) with three endpoints:
  /// ep-1 (confidential, approved), ep-pub (public, approved) and ep-draft (confidential,
  /// submitted but not approved).
  static storage::recovered_state recovered() {
    auto admin = id<domain::account_id>("admin-1");
    auto tenant =
      domain::make_tenant(id<domain::tenant_id>("t-1"), "Clinic", "local", {admin},
                          id<domain::account_id>("approver-1"), domain::ehr_kind::oracle_health);
    EXPECT_TRUE(tenant) << tenant.err().message;
    storage::recovered_state r;
    r.tenants.push_back(*tenant);
    auto rev1 = domain::revision_number::make(1).value();
    auto make = [&](std::string_view endpoint, domain::client_type type, bool approve) {
      auto settings =
        domain::make_endpoint_settings(std::string{"https://ehr.example.org/"}.append(endpoint),
                                       domain::fhir_environment::test, "client-1", type);
      EXPECT_TRUE(settings) << settings.err().message;
      auto e =
        domain::create_endpoint(*tenant, admin, id<domain::endpoint_id>(endpoint), *settings, t0());
      EXPECT_TRUE(e) << e.err().message;
      e = domain::submit(*e, *tenant, admin, rev1, t0());
      EXPECT_TRUE(e) << e.err().message;
      if (approve) {
        e = domain::approve(*e, *tenant, admin, rev1, t0());
        EXPECT_TRUE(e) << e.err().message;
        EXPECT_NE(domain::in_force(*e), nullptr);
      }
      r.endpoints.push_back(*e);
    };
    make("ep-1", domain::client_type::confidential_private_key_jwt, true);
    make("ep-pub", domain::client_type::public_client, true);
    make("ep-draft", domain::client_type::confidential_private_key_jwt, false);
    return r;
  }

  /// Spawns the directory and the hub (which resumes what the store holds) and attaches them.
  void start(bool resume_stored = true) {
    directory_args dargs;
    dargs.journal = journal_.get();
    dargs.store = store_.get();
    dargs.clock = wall_clock_now;
    dargs.regions = domain::make_region_list("local").value();
    dargs.recovered = recovered();
    directory_ = spawn_directory(system_, std::move(dargs));

    write_back_args args;
    args.journal = journal_.get();
    args.store = store_.get();
    args.transport = fake_ehr::transport_of(ehr_);
    args.options = options_;
    args.resume_stored = resume_stored;
    hub_ = spawn_write_back_hub(system_, std::move(args));
    caf::anon_send(hub_, wb_attach_atom::value, directory_);
  }

  /// `by` sets tenant t-1's write-back policy through its tenant actor; on success the hub is
  /// told, as the runtime does. The tenant after the change, or the refusal.
  domain::result<domain::tenant> set_tenant_policy(const domain::write_back_policy& policy,
                                                   std::string_view by = "admin-1") {
    auto handles =
      ask<tenant_handles>(directory_, dir_tenant_atom::value, id<domain::tenant_id>("t-1"));
    if (!handles) return std::move(handles).err();
    auto changed = ask<domain::tenant>(
      handles->tenant,
      tenant_command{tenant_change::set_write_back{id<domain::account_id>(by), policy}});
    if (changed) caf::anon_send(hub_, wb_refresh_atom::value, id<domain::tenant_id>("t-1"));
    return changed;
  }

  /// Tenant t-1 as its actor has it now.
  domain::result<domain::tenant> current_tenant() {
    auto handles =
      ask<tenant_handles>(directory_, dir_tenant_atom::value, id<domain::tenant_id>("t-1"));
    if (!handles) return std::move(handles).err();
    return ask<domain::tenant>(handles->tenant, get_tenant_atom::value);
  }

  void push(std::vector<domain::write_back_item> items) {
    caf::anon_send(hub_, wb_items_atom::value, std::move(items));
  }

  write_back_status status(std::string_view endpoint = "ep-1") {
    auto s = ask<write_back_status>(hub_, wb_status_atom::value, id<domain::tenant_id>("t-1"),
                                    id<domain::endpoint_id>(endpoint));
    EXPECT_TRUE(s) << s.err().message;
    return s ? *s : write_back_status{};
  }

  /// Polls the endpoint's status until `done` holds (at most `within`); the last status seen.
  template <class Pred>
  write_back_status wait_status(Pred done, std::string_view endpoint = "ep-1",
                                std::chrono::milliseconds within = 10s) {
    auto until = steady::now() + within;
    for (;;) {
      auto s = status(endpoint);
      if (done(s)) return s;
      if (steady::now() > until) {
        ADD_FAILURE() << "status never got there; last: blocked=\"" << s.blocked
                      << "\" pending=" << s.pending << " delivered=" << s.delivered
                      << " in_flight=" << s.in_flight << " dead_letters=" << s.dead_letters
                      << " breaker=" << s.breaker << " last_error=\"" << s.last_error << "\"";
        return s;
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  std::vector<domain::write_back_item> outbox(std::string_view endpoint = "ep-1") {
    auto page = storage::read_outbox(*store_, id<domain::tenant_id>("t-1"),
                                     id<domain::endpoint_id>(endpoint), {}, 1000);
    EXPECT_TRUE(page) << page.err().message;
    std::vector<domain::write_back_item> items;
    if (page)
      for (auto& p : page->items) items.push_back(std::move(p.item));
    return items;
  }

  std::vector<domain::dead_letter> stored_dead_letters() {
    auto letters = storage::read_dead_letters(*store_, id<domain::tenant_id>("t-1"),
                                              id<domain::endpoint_id>("ep-1"), 1000);
    EXPECT_TRUE(letters) << letters.err().message;
    return letters ? *letters : std::vector<domain::dead_letter>{};
  }

  /// Every planned write of `items` was delivered exactly once.
  void expect_each_write_delivered_once(const std::vector<domain::write_back_item>& items,
                                        const domain::write_back_targets& targets = {}) {
    auto successes = ehr_->successes();
    std::size_t planned = 0;
    for (const auto& item : items)
      for (auto w : domain::planned_writes(item, targets)) {
        ++planned;
        EXPECT_EQ((successes[write_key{domain::event_key(item), w}]), 1)
          << domain::event_key(item) << " " << domain::to_string(w);
      }
    std::size_t total = 0;
    for (const auto& [key, n] : successes) total += static_cast<std::size_t>(n);
    EXPECT_EQ(total, planned) << "no write beyond the planned ones";
  }

  /// The successful writes the EHR saw for `visit`, in the order it saw them.
  std::vector<std::pair<std::uint64_t, domain::fhir_write>> delivered_writes_of(
    std::string_view visit) {
    std::vector<std::pair<std::uint64_t, domain::fhir_write>> out;
    for (const auto& c : ehr_->calls())
      if (c.visit.str() == visit && c.verdict == domain::delivery_verdict::delivered)
        out.emplace_back(c.seq, c.write);
    return out;
  }

  std::shared_ptr<fake_ehr> ehr_ = std::make_shared<fake_ehr>();
  write_back_options options_;
  directory directory_;
  write_back_hub hub_;
};

// -- delivery ----------------------------------------------------------------------------------

TEST_F(write_back_test, pushed_items_are_delivered_in_order_per_visit_and_leave_the_outbox_empty) {
  start();
  std::vector<std::unique_ptr<visit_driver>> visits;
  for (auto name : {"v-a", "v-b", "v-c"})
    visits.push_back(std::make_unique<visit_driver>(*journal_, name));
  // The visits' appends interleave, each pushed once durable (as visit actors do).
  for (const auto& step : visit_driver::full_script())
    for (auto& v : visits) push(v->run(step));
  std::vector<domain::write_back_item> all;
  for (const auto& v : visits) all.insert(all.end(), v->items().begin(), v->items().end());
  ASSERT_EQ(all.size(), 30u);

  auto s = wait_status([&](const write_back_status& st) { return st.delivered == all.size(); });
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.writes, expected_writes(all).size());
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(s.dead_letters, 0u);
  EXPECT_EQ(s.blocked, "");
  EXPECT_EQ(s.breaker, "closed");
  EXPECT_TRUE(s.last_delivered_at);
  ASSERT_TRUE(s.plan);
  EXPECT_EQ(s.plan->audit_events, fhir::audit_event_strategy::update_as_create);
  EXPECT_EQ(s.plan->targets, (domain::write_back_targets{true, true, true}));
  EXPECT_TRUE(s.plan->notes.empty());
  ASSERT_TRUE(s.support);
  EXPECT_EQ(*s.support, full_support());
  EXPECT_TRUE(s.checked_at);

  // Per visit: every item in sequence order, each item's writes in planned order, one call in
  // flight at a time.
  EXPECT_FALSE(ehr_->overlap_within_a_visit());
  for (const auto& v : visits) {
    const auto& items = v->items();
    EXPECT_EQ(delivered_writes_of(items.front().visit.str()), expected_writes(items))
      << items.front().visit.str();
    EXPECT_EQ(domain::planned_writes(items.front(), {}),
              (std::vector{domain::fhir_write::audit_event, domain::fhir_write::encounter}))
      << "a provider's connect: AuditEvent, then the Encounter's participant";
  }
  for (const auto& c : ehr_->calls())
    EXPECT_EQ(c.verdict, domain::delivery_verdict::delivered) << "every call was answered";
  expect_each_write_delivered_once(all);

  // Each visit's cursor went with its end (through the journal): nothing of them is left.
  EXPECT_TRUE(eventually([&] {
    auto left = storage::outbox_endpoints(*store_);
    return left && left->empty();
  }))
    << outbox().size() << " items left";
}

TEST_F(write_back_test, items_stored_before_a_restart_are_delivered_without_any_push) {
  // What a crash left: appends durable, their items never delivered.
  visit_driver a{*journal_, "v-a"};
  visit_driver b{*journal_, "v-b"};
  a.run_all();
  b.run_all();
  std::vector<domain::write_back_item> all = a.items();
  all.insert(all.end(), b.items().begin(), b.items().end());
  ASSERT_EQ(outbox().size(), all.size());
  auto stored = storage::outbox_endpoints(*store_);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);

  start();  // no push: the hub finds the endpoint's outbox itself
  auto s = wait_status([&](const write_back_status& st) { return st.delivered == all.size(); });
  EXPECT_EQ(s.pending, 0u);
  EXPECT_FALSE(s.more_in_store);
  EXPECT_EQ(delivered_writes_of("v-a"), expected_writes(a.items()));
  EXPECT_EQ(delivered_writes_of("v-b"), expected_writes(b.items()));
  expect_each_write_delivered_once(all);
  EXPECT_TRUE(eventually([&] { return outbox().empty(); })) << outbox().size() << " left";
}

TEST_F(write_back_test, a_backlog_larger_than_memory_is_read_from_the_store_as_memory_drains) {
  options_.max_in_memory = 3;
  visit_driver a{*journal_, "v-a"};
  visit_driver b{*journal_, "v-b"};
  a.run_all();
  b.run_all();
  start();
  // Items of a live visit meanwhile: pushed while the backlog waits in the store, so they are
  // read from there too.
  visit_driver c{*journal_, "v-c"};
  for (auto& items : c.run_all()) push(std::move(items));
  std::vector<domain::write_back_item> all = a.items();
  all.insert(all.end(), b.items().begin(), b.items().end());
  all.insert(all.end(), c.items().begin(), c.items().end());

  std::uint64_t most_held = 0;
  auto s = wait_status([&](const write_back_status& st) {
    most_held = std::max(most_held, st.pending);
    return st.delivered >= all.size();
  });
  EXPECT_EQ(s.delivered, all.size());
  EXPECT_LE(most_held, 3u) << "never more than max_in_memory items held";
  EXPECT_FALSE(ehr_->overlap_within_a_visit());
  EXPECT_EQ(delivered_writes_of("v-a"), expected_writes(a.items()));
  EXPECT_EQ(delivered_writes_of("v-c"), expected_writes(c.items()));
  expect_each_write_delivered_once(all);
  EXPECT_TRUE(eventually([&] { return outbox().empty(); })) << outbox().size() << " left";
}

TEST_F(write_back_test, a_push_lost_with_its_visit_actor_is_read_from_the_store_on_resync) {
  // A visit actor fails after an append is durable and before it pushes the items. Its
  // successor (restarted from the store) sends a resync before pushing anything: the lost items
  // are read from the store, and its later pushes cannot move the cursor past them.
  start();
  visit_driver v{*journal_, "v-a"};
  const auto& script = visit_driver::full_script();
  push(v.run(script[0]));
  auto lost = v.run(script[1]);  // the patient's lobby entry and connect: never pushed
  ASSERT_EQ(lost.size(), 2u);
  caf::anon_send(hub_, wb_resync_atom::value, id<domain::tenant_id>("t-1"),
                 id<domain::endpoint_id>("ep-1"), id<domain::visit_id>("v-a"));
  for (std::size_t i = 2; i < script.size(); ++i) push(v.run(script[i]));
  auto s =
    wait_status([&](const write_back_status& st) { return st.delivered == v.items().size(); });
  EXPECT_EQ(s.pending, 0u);
  expect_each_write_delivered_once(v.items());
  EXPECT_EQ(delivered_writes_of("v-a"), expected_writes(v.items()));
  EXPECT_TRUE(eventually([&] {
    auto left = storage::outbox_endpoints(*store_);
    return left && left->empty();
  }))
    << "the visit's end takes its cursor";
}

TEST_F(write_back_test,
       a_push_arriving_after_its_item_was_read_from_the_store_and_delivered_is_dropped) {
  // A visit actor pushes its items right after the durable append; a store read in between
  // (at start, or as memory drains) may get them first. The late push must not deliver again.
  visit_driver v{*journal_, "v-a"};
  const auto& script = visit_driver::full_script();
  std::vector<std::vector<domain::write_back_item>> appends{v.run(script[0]), v.run(script[1])};
  start();  // the store read finds every item
  auto s =
    wait_status([&](const write_back_status& st) { return st.delivered == v.items().size(); });
  ASSERT_TRUE(eventually([&] { return outbox().empty(); }));
  for (auto& items : appends) push(std::move(items));  // the late pushes
  // A later item of the same visit is still delivered: the pushes were looked at, not lost.
  auto later = v.run(script[2]);  // the patient's device test
  ASSERT_EQ(later.size(), 1u);
  push(later);
  s = wait_status([&](const write_back_status& st) { return st.delivered == v.items().size(); });
  EXPECT_EQ(s.pending, 0u);
  expect_each_write_delivered_once(v.items());
}

TEST_F(write_back_test, writes_the_ehr_does_not_allow_are_skipped_without_holding_up_the_visit) {
  // Appointment is listed but cannot be updated: the patient's lobby entry has nothing to write.
  auto support = full_support();
  support.appointment.update = false;
  ehr_->set_support(support);
  start();
  visit_driver v{*journal_, "v-a"};
  const auto& script = visit_driver::full_script();
  push(v.run(script[0]));  // the provider connects
  push(v.run(script[1]));  // the patient: lobby entry (nothing to write), then connected
  ASSERT_EQ(v.items().size(), 3u);
  ASSERT_EQ(v.items()[1].kind, domain::write_back_kind::lobby_entered);

  auto s = wait_status([&](const write_back_status& st) { return st.delivered == 3; });
  EXPECT_EQ(s.pending, 0u);
  ASSERT_TRUE(s.plan);
  EXPECT_FALSE(s.plan->targets.appointments);
  ASSERT_EQ(s.plan->notes.size(), 1u);
  EXPECT_NE(s.plan->notes.front().find("Appointment"), std::string::npos) << s.plan->notes.front();
  domain::write_back_targets no_appointments{true, true, false};
  EXPECT_EQ(delivered_writes_of("v-a"), expected_writes(v.items(), no_appointments));
  expect_each_write_delivered_once(v.items(), no_appointments);
  EXPECT_TRUE(eventually([&] { return outbox().empty(); })) << outbox().size() << " left";
}

TEST_F(write_back_test, the_tenants_policy_within_the_boxs_allowance_decides_writes_and_codes) {
  // The box allows no Encounter writes; the tenant turns Appointments off and codes its own
  // AuditEvents: only AuditEvents are written, with the tenant's codes.
  options_.allowed.encounters = false;
  start();
  domain::write_back_policy policy;
  policy.writes.appointments = false;
  policy.codes.connected = {"urn:oid:1.2.3", "VV-IN", "Joined video visit"};
  auto changed = set_tenant_policy(policy);
  ASSERT_TRUE(changed) << changed.err().message;
  EXPECT_EQ(changed->write_back, policy);

  visit_driver v{*journal_, "v-a"};
  const auto& script = visit_driver::full_script();
  push(v.run(script[0]));  // the provider connects
  push(v.run(script[1]));  // the patient: lobby entry, then connected
  auto s = wait_status([&](const write_back_status& st) { return st.delivered == 3; });
  ASSERT_TRUE(s.plan);
  EXPECT_EQ(s.plan->targets, (domain::write_back_targets{true, false, false}));
  EXPECT_EQ(s.plan->codes, policy.codes);
  domain::write_back_targets audit_only{true, false, false};
  EXPECT_EQ(delivered_writes_of("v-a"), expected_writes(v.items(), audit_only));
  for (const auto& c : ehr_->calls()) EXPECT_EQ(c.codes.connected.code, "VV-IN");

  // Back to the defaults: the next items get every write the box allows, with DICOM codes.
  auto restored = set_tenant_policy(domain::write_back_policy{});
  ASSERT_TRUE(restored) << restored.err().message;
  s = wait_status(
    [&](const write_back_status& st) { return st.plan && st.plan->targets.appointments; });
  EXPECT_EQ(s.plan->codes, domain::audit_event_codes{});
  EXPECT_FALSE(s.plan->targets.encounters) << "the box's allowance still holds";
}

TEST_F(write_back_test, a_plan_changed_mid_item_neither_skips_nor_repeats_a_write) {
  // The provider's connect needs an AuditEvent, then the Encounter. The AuditEvent is made, the
  // Encounter write fails and, while it waits for its retry, the tenant turns AuditEvents off:
  // the item still gets its Encounter write (it is not finished as if the plan's second write
  // had been made), and its AuditEvent is not made again.
  start();
  visit_driver v{*journal_, "v-a"};
  auto items = v.run(visit_driver::full_script()[0]);
  ASSERT_EQ(items.size(), 1u);
  ASSERT_EQ(domain::planned_writes(items[0], {}),
            (std::vector{domain::fhir_write::audit_event, domain::fhir_write::encounter}));
  const auto key = domain::event_key(items[0]);
  ehr_->set_policy([](const domain::write_back_item&, domain::fhir_write w,
                      std::size_t attempt) -> std::optional<fhir::delivery_outcome> {
    if (w == domain::fhir_write::encounter && attempt == 1) return std::nullopt;  // held
    return delivered();
  });
  push(items);
  ASSERT_TRUE(eventually([&] { return ehr_->held() == 1; }));

  domain::write_back_policy no_audit;
  no_audit.writes.audit_events = false;
  ASSERT_TRUE(set_tenant_policy(no_audit));
  ASSERT_TRUE(eventually([&] {
    auto s = status();
    return s.plan && !s.plan->targets.audit_events;
  }));
  ASSERT_TRUE(ehr_->release(key, domain::fhir_write::encounter, retry("HTTP 503")));

  auto s = wait_status([&](const write_back_status& st) { return st.delivered == 1; });
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(ehr_->calls_of(key, domain::fhir_write::audit_event).size(), 1u) << "not repeated";
  auto encounter_calls = ehr_->calls_of(key, domain::fhir_write::encounter);
  ASSERT_EQ(encounter_calls.size(), 2u) << "the failed write is retried, not skipped";
  EXPECT_EQ(encounter_calls.back().verdict, domain::delivery_verdict::delivered);
}

TEST_F(write_back_test, only_an_admin_sets_the_policy_and_a_bad_coding_changes_nothing) {
  start();
  domain::write_back_policy policy;
  policy.writes.encounters = false;
  auto by_approver = set_tenant_policy(policy, "approver-1");
  ASSERT_FALSE(by_approver);
  EXPECT_EQ(by_approver.err().code, domain::errc::forbidden);
  policy.codes.type.system = "not a uri";
  auto bad = set_tenant_policy(policy);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().code, domain::errc::invalid_argument);
  EXPECT_NE(bad.err().message.find("audit_event_codes.type.system"), std::string::npos)
    << bad.err().message;
  auto now = current_tenant();
  ASSERT_TRUE(now);
  EXPECT_EQ(now->write_back, domain::write_back_policy{});
}

// -- failures ----------------------------------------------------------------------------------

TEST_F(write_back_test, transient_failures_are_retried_with_backoff_behind_the_breaker) {
  options_.breaker.failure_threshold = 3;
  options_.breaker.open_for = 25ms;
  visit_driver v{*journal_, "v-a"};
  auto appends = v.run_all();
  const auto& first = v.items().front();
  const auto first_key = domain::event_key(first);
  // The first item's AuditEvent fails three times (the first answer with a Retry-After); the
  // fourth attempt (the breaker's probe) is held until the test releases it.
  ehr_->set_policy([first_key](const domain::write_back_item& item, domain::fhir_write w,
                               std::size_t attempt) -> std::optional<fhir::delivery_outcome> {
    if (domain::event_key(item) != first_key || w != domain::fhir_write::audit_event)
      return delivered();
    switch (attempt) {
      case 1: return retry("PUT AuditEvent: HTTP 503", domain::duration{8ms});
      case 2: return retry("PUT AuditEvent: HTTP 502");
      case 3: return retry("PUT AuditEvent: connection reset");
      default: return std::nullopt;
    }
  });
  start(false);
  for (auto& items : appends) push(std::move(items));

  ASSERT_TRUE(eventually([&] { return ehr_->held() == 1; }));
  auto s = status();
  EXPECT_EQ(s.breaker, "half_open") << "the held call is the breaker's probe";
  EXPECT_EQ(s.in_flight, 1u) << "nothing else while the probe is out";
  EXPECT_EQ(s.retries, 3u);
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_EQ(s.last_error, "PUT AuditEvent: connection reset");

  auto tries = ehr_->calls_of(first_key, domain::fhir_write::audit_event);
  ASSERT_EQ(tries.size(), 4u);
  EXPECT_GE(tries[1].at - tries[0].answered_at, 8ms) << "Retry-After is honoured";
  EXPECT_GE(tries[3].at - tries[2].answered_at, 25ms)
    << "the breaker opened after 3 failures in a row: no call while open";
  EXPECT_EQ(ehr_->calls().size(), 4u) << "the visit's later items wait for its first";

  ASSERT_TRUE(ehr_->release(first_key, domain::fhir_write::audit_event, delivered()));
  s = wait_status([&](const write_back_status& st) { return st.delivered == v.items().size(); });
  EXPECT_EQ(s.breaker, "closed");
  EXPECT_EQ(s.retries, 3u);
  EXPECT_EQ(s.dead_letters, 0u);
  EXPECT_EQ(delivered_writes_of("v-a"), expected_writes(v.items()));
  expect_each_write_delivered_once(v.items());
  EXPECT_TRUE(eventually([&] { return outbox().empty(); }));
}

TEST_F(write_back_test, an_item_is_dead_lettered_after_max_attempts) {
  options_.retry.max_attempts = 3;
  options_.breaker.failure_threshold = 100;
  visit_driver v{*journal_, "v-a"};
  auto appends = v.run_all();
  const auto first_key = domain::event_key(v.items().front());
  ehr_->set_policy([first_key](const domain::write_back_item& item, domain::fhir_write,
                               std::size_t) -> std::optional<fhir::delivery_outcome> {
    if (domain::event_key(item) == first_key) return retry("PUT AuditEvent: HTTP 503");
    return delivered();
  });
  start(false);
  for (auto& items : appends) push(std::move(items));

  auto s = wait_status([&](const write_back_status& st) {
    return st.dead_letters == 1 && st.delivered == v.items().size() - 1;
  });
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.retries, 2u) << "the third failure gives up instead";
  EXPECT_EQ(ehr_->calls_of(first_key, domain::fhir_write::audit_event).size(), 3u);
  auto letters = stored_dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters.front().item, v.items().front());
  EXPECT_EQ(letters.front().attempts, 3u);
  EXPECT_EQ(letters.front().reason, "gave up after 3 attempts; the last: PUT AuditEvent: HTTP 503");
}

TEST_F(write_back_test, a_refused_item_is_dead_lettered_durably_and_re_driven) {
  visit_driver v{*journal_, "v-a"};
  auto appends = v.run_all();
  const auto& refused = v.items()[2];  // the patient's connect: an AuditEvent only
  ASSERT_EQ(refused.kind, domain::write_back_kind::connected);
  const auto refused_key = domain::event_key(refused);
  const std::string detail = "PUT AuditEvent/vd-x: HTTP 400: invalid agent";
  auto refuse = std::make_shared<std::atomic<bool>>(true);
  ehr_->set_policy([=](const domain::write_back_item& item, domain::fhir_write,
                       std::size_t) -> std::optional<fhir::delivery_outcome> {
    if (*refuse && domain::event_key(item) == refused_key) return permanent(detail);
    return delivered();
  });
  start(false);
  for (auto& items : appends) push(std::move(items));

  // The refusal does not hold up the visit's later items.
  auto s = wait_status([&](const write_back_status& st) {
    return st.dead_letters == 1 && st.delivered == v.items().size() - 1;
  });
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.last_error, detail);
  EXPECT_EQ(s.breaker, "closed") << "a refusal says nothing against the endpoint";
  EXPECT_EQ(ehr_->calls_of(refused_key, domain::fhir_write::audit_event).size(), 1u)
    << "a permanent refusal is not retried";

  // Durable: in the store's dead letters, out of the outbox.
  auto letters = stored_dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters.front().item, refused);
  EXPECT_EQ(letters.front().reason, detail);
  EXPECT_EQ(letters.front().attempts, 1u);
  EXPECT_TRUE(eventually([&] { return outbox().empty(); })) << outbox().size() << " left";

  auto listed =
    ask<std::vector<domain::dead_letter>>(hub_, wb_dead_atom::value, id<domain::tenant_id>("t-1"),
                                          id<domain::endpoint_id>("ep-1"), std::uint64_t{10});
  ASSERT_TRUE(listed) << listed.err().message;
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front(), letters.front());

  // The admin fixed the cause and re-drives: the item is delivered.
  *refuse = false;
  auto moved = ask<std::uint64_t>(hub_, wb_redrive_atom::value, id<domain::tenant_id>("t-1"),
                                  id<domain::endpoint_id>("ep-1"));
  ASSERT_TRUE(moved) << moved.err().message;
  EXPECT_EQ(*moved, 1u);
  s = wait_status([&](const write_back_status& st) { return st.delivered == v.items().size(); });
  EXPECT_EQ(s.dead_letters, 0u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_TRUE(stored_dead_letters().empty());
  EXPECT_EQ((ehr_->successes()[write_key{refused_key, domain::fhir_write::audit_event}]), 1);
  expect_each_write_delivered_once(v.items());
  EXPECT_TRUE(eventually([&] { return outbox().empty(); })) << outbox().size() << " left";
  listed =
    ask<std::vector<domain::dead_letter>>(hub_, wb_dead_atom::value, id<domain::tenant_id>("t-1"),
                                          id<domain::endpoint_id>("ep-1"), std::uint64_t{10});
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

TEST_F(write_back_test, a_redrive_moves_every_dead_letter_back_a_page_at_a_time) {
  options_.redrive_page = 3;  // 10 letters: pages of 3, 3, 3 and 1
  visit_driver v{*journal_, "v-a"};
  auto appends = v.run_all();
  auto refuse = std::make_shared<std::atomic<bool>>(true);
  ehr_->set_policy([=](const domain::write_back_item&, domain::fhir_write,
                       std::size_t) -> std::optional<fhir::delivery_outcome> {
    if (*refuse) return permanent("HTTP 422");
    return delivered();
  });
  start(false);
  for (auto& items : appends) push(std::move(items));
  const auto n = v.items().size();
  wait_status([&](const write_back_status& st) { return st.dead_letters == n; });
  ASSERT_EQ(stored_dead_letters().size(), n);

  *refuse = false;
  auto moved = ask<std::uint64_t>(hub_, wb_redrive_atom::value, id<domain::tenant_id>("t-1"),
                                  id<domain::endpoint_id>("ep-1"));
  ASSERT_TRUE(moved) << moved.err().message;
  EXPECT_EQ(*moved, n);
  auto s = wait_status([&](const write_back_status& st) { return st.delivered == n; });
  EXPECT_EQ(s.dead_letters, 0u);
  EXPECT_TRUE(stored_dead_letters().empty());
  expect_each_write_delivered_once(v.items());
}

TEST_F(write_back_test, an_item_re_driven_while_a_later_one_of_its_visit_is_in_flight_is_kept) {
  visit_driver v{*journal_, "v-a"};
  const auto& script = visit_driver::full_script();
  auto provider = v.run(script[0]);  // item 0: AuditEvent, Encounter
  auto patient = v.run(script[1]);   // item 1: Appointment; item 2: AuditEvent
  ASSERT_EQ(v.items().size(), 3u);
  const auto key0 = domain::event_key(v.items()[0]);
  const auto key1 = domain::event_key(v.items()[1]);
  auto refuse = std::make_shared<std::atomic<bool>>(true);
  ehr_->set_policy([=](const domain::write_back_item& item, domain::fhir_write w,
                       std::size_t attempt) -> std::optional<fhir::delivery_outcome> {
    auto key = domain::event_key(item);
    if (*refuse && key == key0) return permanent("PUT AuditEvent: HTTP 422");
    if (key == key1 && w == domain::fhir_write::appointment && attempt == 1) return std::nullopt;
    return delivered();
  });
  start(false);
  push(provider);
  push(patient);

  // Item 0 is dead-lettered; item 1's Appointment update is in flight (held).
  ASSERT_TRUE(eventually([&] { return ehr_->held() == 1; }));
  wait_status([](const write_back_status& st) { return st.dead_letters == 1; });
  *refuse = false;
  auto moved = ask<std::uint64_t>(hub_, wb_redrive_atom::value, id<domain::tenant_id>("t-1"),
                                  id<domain::endpoint_id>("ep-1"));
  ASSERT_TRUE(moved) << moved.err().message;
  EXPECT_EQ(*moved, 1u);
  // Item 0 is now first in its visit's queue; the outcome of item 1's write is item 1's.
  ASSERT_TRUE(ehr_->release(key1, domain::fhir_write::appointment, delivered()));

  auto s = wait_status([](const write_back_status& st) { return st.pending == 0; });
  EXPECT_EQ(s.delivered, 3u);
  EXPECT_EQ(s.dead_letters, 0u);
  expect_each_write_delivered_once(v.items());
  EXPECT_TRUE(eventually([&] { return outbox().empty(); })) << outbox().size() << " left";
}

TEST_F(write_back_test, an_endpoint_actor_that_keeps_failing_is_restarted_with_growing_waits) {
  // Every delivery throws inside the endpoint actor (as a bug meeting one stored item would):
  // the first failure restarts it at once, the next ones after 1 s, 2 s, … Without the waits it
  // would restart and fail as fast as it can.
  auto failing = std::make_shared<std::atomic<bool>>(true);
  ehr_->set_policy([=](const domain::write_back_item&, domain::fhir_write,
                       std::size_t) -> std::optional<fhir::delivery_outcome> {
    if (*failing) throw std::runtime_error("a bug meets an item");
    return delivered();
  });
  visit_driver v{*journal_, "v-a"};
  auto items = v.run(visit_driver::full_script()[0]);
  start();
  push(items);
  // The second failure makes it wait: the status says so, and the store still lists what waits.
  auto s = wait_status([](const write_back_status& st) {
    return st.blocked.find("restarts at") != std::string::npos;
  });
  EXPECT_NE(s.blocked.find("2 times in a row"), std::string::npos) << s.blocked;
  auto listed = ask<std::vector<write_back_status>>(hub_, wb_list_atom::value);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u) << "a waiting endpoint is still listed (for /metrics)";
  EXPECT_FALSE(listed->front().blocked.empty());
  auto redrive = ask<std::uint64_t>(hub_, wb_redrive_atom::value, id<domain::tenant_id>("t-1"),
                                    id<domain::endpoint_id>("ep-1"));
  ASSERT_FALSE(redrive);
  EXPECT_EQ(redrive.err().code, domain::errc::unavailable);
  EXPECT_EQ(outbox().size(), 1u);

  // Over the next 1.5 s: one more restart at most (after 1 s), not hundreds.
  std::this_thread::sleep_for(1500ms);
  EXPECT_LE(ehr_->calls().size(), 3u);

  // Fixed: the next restart (at most 2 s away) delivers it.
  *failing = false;
  s = wait_status([](const write_back_status& st) { return st.delivered == 1; });
  EXPECT_EQ(s.blocked, "");
  EXPECT_TRUE(eventually([&] { return outbox().empty(); }));
}

// -- blocked endpoints -------------------------------------------------------------------------

TEST_F(write_back_test, a_public_client_endpoint_is_blocked_and_nothing_is_delivered) {
  start(false);
  auto s = wait_status(
    [](const write_back_status& st) {
      return st.blocked.find("public client") != std::string::npos;
    },
    "ep-pub");
  EXPECT_NE(s.blocked.find("confidential"), std::string::npos) << s.blocked;
  visit_driver v{*journal_, "v-a", "ep-pub"};
  for (auto& items : v.run_all()) push(std::move(items));
  // The status answers after the pushed items were taken (hub to endpoint actor, in order); a
  // delivery would have started while taking them.
  s = status("ep-pub");
  EXPECT_EQ(s.pending, v.items().size());
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_FALSE(s.plan);
  EXPECT_NE(s.blocked.find("public client"), std::string::npos) << s.blocked;
  EXPECT_TRUE(ehr_->calls().empty());
  EXPECT_EQ(ehr_->checks(), 0u) << "an endpoint that cannot be written is not even checked";
  EXPECT_EQ(outbox("ep-pub").size(), v.items().size()) << "the items wait in the outbox";
}

TEST_F(write_back_test, an_endpoint_without_an_approved_revision_is_blocked) {
  start(false);
  visit_driver v{*journal_, "v-a", "ep-draft"};
  for (auto& items : v.run_all()) push(std::move(items));
  auto s = wait_status(
    [](const write_back_status& st) {
      return st.blocked == "the endpoint has no approved revision";
    },
    "ep-draft");
  s = status("ep-draft");
  EXPECT_EQ(s.pending, v.items().size());
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_TRUE(ehr_->calls().empty());
  EXPECT_EQ(ehr_->checks(), 0u);
}

TEST_F(write_back_test, an_unreadable_capability_statement_blocks_until_it_can_be_read) {
  ehr_->set_support(std::nullopt, "GET metadata: HTTP 503");
  start(false);
  visit_driver v{*journal_, "v-a"};
  for (auto& items : v.run_all()) push(std::move(items));
  auto s = wait_status([](const write_back_status& st) { return !st.check_error.empty(); });
  EXPECT_NE(s.blocked.find("CapabilityStatement"), std::string::npos) << s.blocked;
  EXPECT_NE(s.blocked.find("HTTP 503"), std::string::npos) << s.blocked;
  EXPECT_EQ(s.check_error, "GET metadata: HTTP 503");
  EXPECT_FALSE(s.plan);
  s = status();
  EXPECT_EQ(s.pending, v.items().size());
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_TRUE(ehr_->calls().empty());
  // It is read again after setup_retry, and once it can be, the items flow.
  ASSERT_TRUE(eventually([&] { return ehr_->checks() >= 3; }));
  ehr_->set_support(full_support());
  s = wait_status([&](const write_back_status& st) { return st.delivered == v.items().size(); });
  EXPECT_EQ(s.blocked, "");
  EXPECT_EQ(s.check_error, "");
  expect_each_write_delivered_once(v.items());
}

TEST_F(write_back_test, an_ehr_that_cannot_take_audit_events_idempotently_blocks_delivery) {
  auto support = full_support();
  support.audit_event.update_create = false;       // neither update-as-create
  support.audit_event.conditional_create = false;  // nor conditional create
  ehr_->set_support(support);
  start(false);
  visit_driver v{*journal_, "v-a"};
  for (auto& items : v.run_all()) push(std::move(items));
  auto s = wait_status(
    [](const write_back_status& st) { return st.blocked.find("AuditEvent") != std::string::npos; });
  EXPECT_NE(s.blocked.find("neither update-as-create nor conditional create"), std::string::npos)
    << s.blocked;
  EXPECT_FALSE(s.plan);
  ASSERT_TRUE(s.support);
  EXPECT_EQ(*s.support, support);
  s = status();
  EXPECT_EQ(s.pending, v.items().size());
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_TRUE(ehr_->calls().empty()) << "no AuditEvent is risked, and nothing else goes first";
}

// -- bounds ------------------------------------------------------------------------------------

TEST_F(write_back_test, at_most_max_in_flight_deliveries_are_outstanding_across_visits) {
  options_.max_in_flight = 2;
  ehr_->set_policy([](const domain::write_back_item&, domain::fhir_write,
                      std::size_t) -> std::optional<fhir::delivery_outcome> {
    return std::nullopt;  // every call waits for the test
  });
  start(false);
  std::vector<std::unique_ptr<visit_driver>> visits;
  std::vector<domain::write_back_item> all;
  const auto& script = visit_driver::full_script();
  for (auto name : {"v-a", "v-b", "v-c", "v-d", "v-e"}) {
    visits.push_back(std::make_unique<visit_driver>(*journal_, name));
    push(visits.back()->run(script[0]));
    push(visits.back()->run(script[1]));
    all.insert(all.end(), visits.back()->items().begin(), visits.back()->items().end());
  }
  // Every push was taken (and pumped) before the status answers.
  auto s = wait_status([&](const write_back_status& st) { return st.pending == all.size(); });
  ASSERT_TRUE(eventually([&] { return ehr_->held() == 2; }));
  s = status();
  EXPECT_EQ(s.in_flight, 2u);
  EXPECT_EQ(ehr_->held(), 2u);

  // Answer the held calls one by one, in a random order, from this thread.
  std::mt19937 rng{42};
  const auto writes = expected_writes(all).size();
  for (std::size_t answered = 0; answered < writes; ++answered) {
    ASSERT_TRUE(eventually([&] { return ehr_->held() > 0; })) << answered << " answered";
    auto n = ehr_->held();
    ASSERT_TRUE(ehr_->release_nth(rng() % n, delivered()));
  }
  s = wait_status([&](const write_back_status& st) { return st.delivered == all.size(); });
  EXPECT_EQ(ehr_->max_outstanding(), 2u);
  EXPECT_FALSE(ehr_->overlap_within_a_visit()) << "one call per visit at a time";
  for (const auto& v : visits)
    EXPECT_EQ(delivered_writes_of(v->items().front().visit.str()), expected_writes(v->items()));
  expect_each_write_delivered_once(all);
}

}  // namespace
}  // namespace visitd::actors
