#include "actors/visit_actor.hpp"

#include "actors/journal_ack.hpp"
#include "storage/catalog.hpp"
#include "storage/journal.hpp"
#include "storage/visit_log.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>

namespace visitd::actors {

namespace {

// -- internal messages -------------------------------------------------------------------------

/// The public interface plus the messages only the actor sends to itself (directly, or through
/// the journal's completion). spawn_visit_actor hands out the narrower `visit_actor` handle.
using visit_impl = visit_actor::extend<caf::reacts_to<journal_ack_atom, std::uint64_t, caf::error>,
                                       caf::reacts_to<journal_timeout_atom, std::uint64_t>>;

// -- state -------------------------------------------------------------------------------------

using reply_promise = caf::typed_response_promise<command_reply>;

struct queued_command {
  domain::command cmd;
  reply_promise promise;
  caf::actor_clock::time_point queued_at;  ///< CAF's clock: the test coordinator controls it.
};

/// The one append the actor waits for. Its events are applied only once it is acknowledged.
struct in_flight_append {
  std::uint64_t id = 0;
  std::vector<domain::event_envelope> events;
  reply_promise promise;
};

struct subscriber_entry {
  visit_subscriber handle;
  /// For each message sent and not yet acknowledged, the seq that acknowledges it (the
  /// snapshot's last_seq, or a batch's last event). Non-decreasing.
  std::deque<std::uint64_t> unacked;
  std::uint64_t sent_seq = 0;  ///< The last seq this subscriber has been sent.
};

struct visit_actor_state {
  static inline const char* name = "visit";

  domain::visit_state visit;
  domain::visit_policy policy;
  storage::journal* journal = nullptr;
  const storage::store* store = nullptr;
  clock_function clock;
  visit_actor_limits limits;

  /// The latest events, consecutive and ending at visit.last_seq (at most 1.5 x
  /// limits.max_history_events: trimmed in chunks so trimming stays O(1) per event).
  /// Vectors, not deques: libstdc++ gives every deque a 512-byte block even when empty, and most
  /// visits are idle most of the time (bench/run.sh actors measures bytes per visit).
  std::vector<domain::event_envelope> history;
  /// Commands waiting behind the in-flight append (bounded by limits.max_queued_commands).
  std::vector<queued_command> queue;
  std::optional<in_flight_append> in_flight;
  std::uint64_t next_append_id = 1;
  std::vector<subscriber_entry> subscribers;
};

using self_pointer = visit_impl::stateful_pointer<visit_actor_state>;

// -- history -----------------------------------------------------------------------------------

/// The events with seq > `after`, from memory when it has them, else from the store.
domain::result<std::vector<domain::event_envelope>> events_after(const visit_actor_state& st,
                                                                 std::uint64_t after) {
  if (after >= st.visit.last_seq) return std::vector<domain::event_envelope>{};
  if (!st.history.empty() && st.history.front().seq <= after + 1) {
    auto first =
      st.history.begin() + static_cast<std::ptrdiff_t>(after + 1 - st.history.front().seq);
    return std::vector<domain::event_envelope>(first, st.history.end());
  }
  if (st.store == nullptr)
    return domain::make_error(domain::errc::unavailable,
                              "visit actor: events before the in-memory history and no store");
  // A blocking RocksDB read on a CAF worker: acceptable only because it is rare (a subscriber
  // resuming from further back than max_history_events, or a long visit ending), and bounded by
  // one visit's events. Anything frequent belongs in a detached actor.
  auto stored = storage::read_events(*st.store, st.visit.info.id, after);
  if (!stored) return stored;
  if (stored->size() != st.visit.last_seq - after)
    return domain::make_error(domain::errc::storage_failure,
                              "visit actor: store and memory disagree on the visit's events");
  return stored;
}

void remember(visit_actor_state& st, const domain::event_envelope& e) {
  st.history.push_back(e);
  const auto keep = std::max<std::size_t>(st.limits.max_history_events, 1);
  if (st.history.size() > keep + keep / 2)
    st.history.erase(st.history.begin(), st.history.end() - static_cast<std::ptrdiff_t>(keep));
}

// -- subscribers -------------------------------------------------------------------------------

std::vector<subscriber_entry>::iterator find_subscriber(visit_actor_state& st,
                                                        const caf::actor_addr& addr) {
  return std::find_if(st.subscribers.begin(), st.subscribers.end(),
                      [&](const subscriber_entry& s) { return s.handle.address() == addr; });
}

void remove_subscriber(self_pointer self, const caf::actor_addr& addr) {
  auto& st = self->state;
  auto i = find_subscriber(st, addr);
  if (i == st.subscribers.end()) return;
  self->demonitor(addr);
  st.subscribers.erase(i);
}

/// Adds (or restarts) the subscription of `handle`, which was sent everything up to `seq`.
subscriber_entry& add_subscriber(self_pointer self, const visit_subscriber& handle,
                                 std::uint64_t seq) {
  auto& st = self->state;
  auto i = find_subscriber(st, handle.address());
  if (i == st.subscribers.end()) {
    self->monitor(handle);
    st.subscribers.push_back({handle, {}, seq});
    return st.subscribers.back();
  }
  i->unacked.clear();
  i->sent_seq = seq;
  return *i;
}

/// Sends `batch` to every subscriber with credit left; drops the others as too slow.
void publish(self_pointer self, const std::vector<domain::event_envelope>& batch) {
  auto& st = self->state;
  if (batch.empty()) return;
  std::vector<caf::actor_addr> too_slow;
  for (auto& sub : st.subscribers) {
    if (sub.unacked.size() >= st.limits.max_unacked_messages) {
      self->send(sub.handle, subscriber_dropped_atom::value,
                 subscriber_dropped{st.visit.info.id, "too slow", sub.sent_seq});
      too_slow.push_back(sub.handle.address());
      continue;
    }
    self->send(sub.handle, events_atom::value, visit_events{st.visit.info.id, batch});
    sub.unacked.push_back(batch.back().seq);
    sub.sent_seq = batch.back().seq;
  }
  for (const auto& addr : too_slow) remove_subscriber(self, addr);
}

// -- commands ----------------------------------------------------------------------------------

bool ends_visit(const std::vector<domain::event_envelope>& events) {
  return std::any_of(events.begin(), events.end(), [](const domain::event_envelope& e) {
    return std::holds_alternative<domain::visit_ended>(e.event);
  });
}

/// Starts the append of the next queued command that decides to events; answers the ones that
/// are refused (or change nothing) on the way. Does nothing while an append is in flight.
void process_queue(self_pointer self) {
  auto& st = self->state;
  while (!st.in_flight && !st.queue.empty()) {
    auto next = std::move(st.queue.front());
    st.queue.erase(st.queue.begin());
    if (self->clock().now() - next.queued_at > st.limits.max_queue_wait) {
      next.promise.deliver(to_caf_error(domain::make_error(
        domain::errc::timeout, "visit actor: the command waited too long and was not executed")));
      continue;
    }
    auto events = domain::decide(st.visit, next.cmd, st.clock(), st.policy);
    if (!events) {
      next.promise.deliver(to_caf_error(events.err()));
      continue;
    }
    if (events->empty()) {
      next.promise.deliver(command_reply{st.visit.last_seq, {}});
      continue;
    }
    auto ops = storage::event_ops(st.visit.info.id, st.visit.info.endpoint, *events);
    if (ends_visit(*events)) {
      // The report row needs the whole journal, written in the same group as the final events.
      auto all = events_after(st, 0);
      if (!all) {
        next.promise.deliver(to_caf_error(all.err()));
        continue;
      }
      all->insert(all->end(), events->begin(), events->end());
      auto close = storage::close_visit_ops(st.visit.info, *all, events->back().at);
      ops.insert(ops.end(), std::make_move_iterator(close.begin()),
                 std::make_move_iterator(close.end()));
    }
    auto id = st.next_append_id++;
    st.in_flight = in_flight_append{id, std::move(*events), std::move(next.promise)};
    append_with_ack<visit_impl>(self, *st.journal, std::move(ops), id, st.limits.append_timeout);
  }
}

void on_journal_ack(self_pointer self, std::uint64_t id, const caf::error& err) {
  auto& st = self->state;
  if (!st.in_flight || st.in_flight->id != id) return;  // not ours (ids are never reused)
  auto done = std::move(*st.in_flight);
  st.in_flight.reset();
  if (err) {
    // Nothing of the group was written: the state stays as it was and nothing is published.
    if (done.promise.pending()) done.promise.deliver(err);
  } else {
    for (const auto& e : done.events) {
      domain::apply(st.visit, e);
      remember(st, e);
    }
    publish(self, done.events);
    // Pending unless the append timed out first: that requester was told "timeout" (outcome
    // unknown), and the events count now that they are durable.
    if (done.promise.pending())
      done.promise.deliver(command_reply{st.visit.last_seq, std::move(done.events)});
  }
  process_queue(self);
}

// -- behavior ----------------------------------------------------------------------------------

visit_impl::behavior_type visit_behavior(self_pointer self, const visit_actor_args& args) {
  auto& st = self->state;
  st.visit = args.state;
  st.policy = args.policy;
  st.journal = args.journal;
  st.store = args.store;
  st.clock = args.clock;
  st.limits = args.limits;
  // Keep only a consecutive suffix ending at last_seq; anything else is ignored (read from the
  // store if needed) rather than trusted.
  for (const auto& e : args.history)
    if (e.seq <= st.visit.last_seq &&
        (st.history.empty() ? true : e.seq == st.history.back().seq + 1))
      remember(st, e);
  if (!st.history.empty() && st.history.back().seq != st.visit.last_seq) st.history.clear();

  self->set_down_handler([self](caf::down_msg& dm) { remove_subscriber(self, dm.source); });

  return {
    [self](domain::command& cmd) -> caf::result<command_reply> {
      auto& st = self->state;
      if (st.queue.size() >= st.limits.max_queued_commands)
        return to_caf_error(
          domain::make_error(domain::errc::unavailable, "visit actor: too many queued commands"));
      auto promise = self->make_response_promise<command_reply>();
      st.queue.push_back({std::move(cmd), promise, self->clock().now()});
      process_queue(self);
      return promise;
    },
    [self](subscribe_atom, const visit_subscriber& sub) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (!sub)
        return to_caf_error(domain::make_error(domain::errc::invalid_argument, "no subscriber"));
      // The snapshot holds every acknowledged event; an in-flight append is published to this
      // subscriber like to every other one when it is acknowledged, so nothing is missed.
      auto& entry = add_subscriber(self, sub, st.visit.last_seq);
      self->send(sub, snapshot_atom::value, st.visit);
      entry.unacked.push_back(st.visit.last_seq);
      return st.visit.last_seq;
    },
    [self](resume_atom, const visit_subscriber& sub,
           std::uint64_t after) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      if (!sub)
        return to_caf_error(domain::make_error(domain::errc::invalid_argument, "no subscriber"));
      if (after > st.visit.last_seq)
        return to_caf_error(domain::make_error(domain::errc::invalid_argument,
                                               std::string{"resume after seq "}
                                                 .append(std::to_string(after))
                                                 .append(" is ahead of the visit (last seq ")
                                                 .append(std::to_string(st.visit.last_seq))
                                                 .append(")")));
      auto missed = events_after(st, after);
      if (!missed) return to_caf_error(missed.err());
      auto& entry = add_subscriber(self, sub, after);
      if (!missed->empty()) {
        entry.sent_seq = missed->back().seq;
        entry.unacked.push_back(entry.sent_seq);
        self->send(sub, events_atom::value, visit_events{st.visit.info.id, std::move(*missed)});
      }
      return st.visit.last_seq;
    },
    [self](unsubscribe_atom, const visit_subscriber& sub) {
      remove_subscriber(self, sub.address());
    },
    [self](subscriber_ack_atom, const visit_subscriber& sub, std::uint64_t seq) {
      auto& st = self->state;
      auto i = find_subscriber(st, sub.address());
      if (i == st.subscribers.end()) return;
      while (!i->unacked.empty() && i->unacked.front() <= seq) i->unacked.pop_front();
    },
    [self](get_state_atom) -> caf::result<domain::visit_state> { return self->state.visit; },
    [self](journal_ack_atom, std::uint64_t id, caf::error& err) { on_journal_ack(self, id, err); },
    [self](journal_timeout_atom, std::uint64_t id) {
      auto& st = self->state;
      if (!st.in_flight || st.in_flight->id != id || !st.in_flight->promise.pending()) return;
      // Keep waiting for the acknowledgement (later commands stay queued): only then is it known
      // whether the events are durable, and decide must see them if they are.
      st.in_flight->promise.deliver(
        to_caf_error(domain::make_error(domain::errc::timeout,
                                        "visit actor: the journal did not acknowledge in time; the "
                                        "command's outcome is unknown")));
    },
  };
}

}  // namespace

visit_actor spawn_visit_actor(caf::actor_system& system, visit_actor_args args) {
  // Spawned with an argument (not a capturing lambda): see the CAF 0.17.6 note in runtime.cpp.
  return system.spawn(visit_behavior, std::move(args));
}

}  // namespace visitd::actors
