#include "actors/runtime.hpp"

#include "storage/accounts.hpp"
#include "storage/journal.hpp"
#include "storage/recovery.hpp"
#include "storage/store.hpp"

#include <gtest/gtest.h>

#include <future>

namespace visitd::actors {
namespace {

// A store whose health the test controls; only check() is exercised by the runtime here.
class fake_store final : public storage::store {
public:
  domain::result<std::string> get(storage::column, std::string_view) const override {
    return domain::make_error(domain::errc::not_found, "fake");
  }
  domain::result<void> write(std::span<const storage::write_op>) override { return {}; }
  domain::result<void> scan_from(storage::column, std::string_view, std::string_view,
                                 const storage::scan_visitor&) const override {
    return {};
  }
  domain::result<void> check() const override {
    if (healthy) return {};
    return domain::make_error(domain::errc::storage_failure, "disk on fire");
  }
  domain::result<void> close() override { return {}; }

  std::atomic<bool> healthy{true};
};

// A journal that acknowledges everything at once (nothing is appended in these tests).
class instant_journal final : public storage::journal {
public:
  void append(std::vector<storage::write_op>, completion done) override { done({}); }
  void stop() override {}
  stats statistics() const override { return {}; }
};

domain::result<void> probe(runtime& rt) {
  std::promise<domain::result<void>> promise;
  auto future = promise.get_future();
  rt.probe_readiness([&promise](domain::result<void> r) { promise.set_value(std::move(r)); });
  EXPECT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  return future.get();
}

TEST(runtime, readiness_reports_the_store_state) {
  fake_store store;
  instant_journal journal;
  auto rt = start_runtime({.actor_threads = 2, .request_timeout = std::chrono::seconds(2)}, store,
                          journal, {}, {});
  EXPECT_TRUE(probe(*rt));

  store.healthy = false;
  auto failed = probe(*rt);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.err().code, domain::errc::unavailable);
  EXPECT_NE(failed.err().message.find("disk on fire"), std::string::npos) << failed.err().message;
}

TEST(runtime, many_concurrent_probes_each_complete_once) {
  fake_store store;
  instant_journal journal;
  auto rt = start_runtime({}, store, journal, {}, {});
  constexpr int probes = 1000;
  std::atomic<int> completed{0};
  std::promise<void> all_done;
  for (int i = 0; i < probes; ++i) {
    rt->probe_readiness([&](domain::result<void> r) {
      EXPECT_TRUE(r);
      if (++completed == probes) all_done.set_value();
    });
  }
  EXPECT_EQ(all_done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  rt->shutdown();
  EXPECT_EQ(completed.load(), probes);
}

TEST(runtime, probe_after_shutdown_fails_fast) {
  fake_store store;
  instant_journal journal;
  auto rt = start_runtime({}, store, journal, {}, {});
  rt->shutdown();
  rt->shutdown();  // idempotent
  auto r = probe(*rt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, domain::errc::unavailable);
}

}  // namespace
}  // namespace visitd::actors
