#include "actors/expiry_scheduler.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <optional>
#include <queue>
#include <vector>

namespace visitd::actors {

namespace {

using tick_atom = caf::atom_constant<caf::atom("xtick")>;

using scheduler_impl = expiry_scheduler::extend<caf::reacts_to<tick_atom, domain::timestamp>>;

struct pending_expiry {
  domain::timestamp deadline;
  caf::actor_addr visit;
  friend bool operator>(const pending_expiry& a, const pending_expiry& b) {
    return a.deadline > b.deadline;
  }
};

struct scheduler_state {
  static inline const char* name = "visitd.expiry";
  std::function<domain::timestamp()> clock;
  /// Earliest deadline first.
  std::priority_queue<pending_expiry, std::vector<pending_expiry>, std::greater<>> pending;
  /// The deadline the one outstanding tick was armed for.
  std::optional<domain::timestamp> tick_for;
};

using self_pointer = scheduler_impl::stateful_pointer<scheduler_state>;

/// Keeps one tick outstanding, for the earliest deadline.
void arm_tick(self_pointer self) {
  auto& st = self->state;
  if (st.pending.empty()) return;
  auto next = st.pending.top().deadline;
  if (st.tick_for && *st.tick_for <= next) return;
  st.tick_for = next;
  auto delay = std::max(next - st.clock(), domain::duration::zero());
  // A millisecond late rather than early, like a visit's own timer: early would only re-arm.
  self->delayed_send(
    caf::actor_cast<scheduler_impl>(self),
    std::chrono::duration_cast<caf::timespan>(delay) + std::chrono::milliseconds{1},
    tick_atom::value, next);
}

scheduler_impl::behavior_type scheduler_behavior(self_pointer self,
                                                 const std::function<domain::timestamp()>& clock) {
  self->state.clock = clock;
  return {
    [self](expiry_arm_atom, const caf::actor_addr& visit, domain::timestamp deadline) {
      self->state.pending.push({deadline, visit});
      arm_tick(self);
    },
    [self](tick_atom, domain::timestamp armed_for) {
      auto& st = self->state;
      if (st.tick_for == armed_for) st.tick_for.reset();
      // Every deadline up to the one this tick was armed for has had its delay.
      while (!st.pending.empty() && st.pending.top().deadline <= armed_for) {
        auto due = st.pending.top();
        st.pending.pop();
        if (auto visit = caf::actor_cast<caf::actor>(due.visit))
          caf::anon_send(visit, expiry_due_atom::value, due.deadline);
      }
      arm_tick(self);
    },
  };
}

}  // namespace

expiry_scheduler spawn_expiry_scheduler(caf::actor_system& system,
                                        std::function<domain::timestamp()> clock) {
  // Spawned with its arguments (never argument-less: see actors/runtime.cpp on CAF 0.17.6).
  return caf::actor_cast<expiry_scheduler>(system.spawn(scheduler_behavior, std::move(clock)));
}

}  // namespace visitd::actors
