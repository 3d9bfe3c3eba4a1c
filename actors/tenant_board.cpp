#include "actors/tenant_board.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <deque>
#include <unordered_map>

namespace visitd::actors {

visit_summary summarize(const domain::visit_state& state) {
  return {state.info.id,
          state.info.department,
          state.info.scheduled_start,
          state.status,
          static_cast<std::uint32_t>(state.lobby.size()),
          static_cast<std::uint32_t>(domain::present_count(state)),
          state.last_seq};
}

bool board_relevant_change(const visit_summary& before, const visit_summary& after) {
  return before.status != after.status || before.lobby != after.lobby ||
         before.present != after.present;
}

namespace {

struct board_subscription {
  board_subscriber handle;
  department_filter department;
  std::deque<std::uint64_t> unacked;  ///< The seq acknowledging each unacknowledged message.
};

struct board_state {
  static inline const char* name = "visitd.board";
  std::unordered_map<domain::visit_id, visit_summary> visits;
  std::vector<board_subscription> subscribers;
  std::uint64_t seq = 0;
  std::size_t max_unacked = 64;
};

using self_pointer = tenant_board::stateful_pointer<board_state>;

bool matches(const department_filter& filter, const visit_summary& v) {
  return !filter || v.department == filter;
}

std::vector<visit_summary> list(const board_state& st, const department_filter& filter) {
  std::vector<visit_summary> out;
  for (const auto& [id, v] : st.visits)
    if (matches(filter, v)) out.push_back(v);
  // Stable order for a UI: by scheduled start, then id.
  std::sort(out.begin(), out.end(), [](const visit_summary& a, const visit_summary& b) {
    return a.scheduled_start != b.scheduled_start ? a.scheduled_start < b.scheduled_start
                                                  : a.visit.str() < b.visit.str();
  });
  return out;
}

void remove_subscriber(self_pointer self, const caf::actor_addr& addr) {
  auto& subs = self->state.subscribers;
  auto i = std::find_if(subs.begin(), subs.end(),
                        [&](const board_subscription& s) { return s.handle.address() == addr; });
  if (i == subs.end()) return;
  self->demonitor(addr);
  subs.erase(i);
}

void record(self_pointer self, const visit_summary& v) {
  auto& st = self->state;
  auto [it, inserted] = st.visits.try_emplace(v.visit, v);
  // Summaries may arrive out of order only across a visit actor restart; never go backwards.
  if (!inserted && v.last_seq < it->second.last_seq) return;
  const bool relevant = inserted || board_relevant_change(it->second, v);
  it->second = v;
  if (!relevant) return;
  ++st.seq;
  std::vector<caf::actor_addr> too_slow;
  for (auto& sub : st.subscribers) {
    if (!matches(sub.department, v)) continue;
    if (sub.unacked.size() >= st.max_unacked) {
      self->send(sub.handle, board_dropped_atom::value, board_dropped{"too slow"});
      too_slow.push_back(sub.handle.address());
      continue;
    }
    self->send(sub.handle, board_update_atom::value, board_update{st.seq, v});
    sub.unacked.push_back(st.seq);
  }
  for (const auto& addr : too_slow) remove_subscriber(self, addr);
}

tenant_board::behavior_type board_behavior(self_pointer self, const tenant_board_args& args) {
  auto& st = self->state;
  st.max_unacked = std::max<std::size_t>(args.max_unacked_messages, 1);
  for (const auto& v : args.visits) st.visits.insert_or_assign(v.visit, v);
  self->set_down_handler([self](caf::down_msg& dm) { remove_subscriber(self, dm.source); });
  return {
    [self](const visit_summary& v) { record(self, v); },
    [self](board_subscribe_atom, const board_subscriber& sub,
           const department_filter& department) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (!sub) return to_caf_error(domain::errc::invalid_argument, "no subscriber");
      remove_subscriber(self, sub.address());
      self->monitor(sub);
      st.subscribers.push_back({sub, department, {}});
      st.subscribers.back().unacked.push_back(st.seq);
      self->send(sub, board_snapshot_atom::value, board_snapshot{st.seq, list(st, department)});
      return st.seq;
    },
    [self](board_unsubscribe_atom, const board_subscriber& sub) {
      remove_subscriber(self, sub.address());
    },
    [self](board_ack_atom, const board_subscriber& sub, std::uint64_t seq) {
      auto& subs = self->state.subscribers;
      auto i = std::find_if(subs.begin(), subs.end(), [&](const board_subscription& s) {
        return s.handle.address() == sub.address();
      });
      if (i == subs.end()) return;
      while (!i->unacked.empty() && i->unacked.front() <= seq) i->unacked.pop_front();
    },
    [self](board_list_atom, const department_filter& department) {
      return list(self->state, department);
    },
    [self](board_prune_atom, domain::timestamp cutoff) {
      std::erase_if(self->state.visits, [&](const auto& kv) {
        return kv.second.status == domain::visit_status::ended &&
               kv.second.scheduled_start < cutoff;
      });
    },
  };
}

}  // namespace

tenant_board spawn_tenant_board(caf::actor_system& system, tenant_board_args args) {
  return system.spawn(board_behavior, std::move(args));
}

}  // namespace visitd::actors
