#include "actors/visit_actor.hpp"

#include "actors/journal_ack.hpp"
#include "domain/state_codec.hpp"
#include "storage/catalog.hpp"
#include "storage/journal.hpp"
#include "storage/visit_log.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

namespace visitd::actors {

namespace {

// -- internal messages -------------------------------------------------------------------------

/// The public interface plus the messages only the actor sends to itself (directly, or through
/// the journal's completion). spawn_visit_actor hands out the narrower `visit_actor` handle.
// The expiry deadline arrives as (expiry_due_atom, deadline): from the directory's expiry
// scheduler (actors/expiry_scheduler.hpp), or from this actor's own timer without one.
using expiry_atom = expiry_due_atom;

using visit_impl = visit_actor::extend<caf::reacts_to<journal_ack_atom, std::uint64_t, caf::error>,
                                       caf::reacts_to<journal_timeout_atom, std::uint64_t>,
                                       caf::reacts_to<expiry_atom, domain::timestamp>>;

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
  std::vector<domain::write_back_item> write_backs;  ///< For the sink, once durable.
  reply_promise promise;
  caf::actor_clock::time_point started_at;  ///< When its append_timeout began.
};

struct subscriber_entry {
  visit_subscriber handle;
  /// For each message sent and not yet acknowledged, the seq that acknowledges it (the
  /// snapshot's last_seq, or a batch's last event). Non-decreasing.
  std::deque<std::uint64_t> unacked;
  std::uint64_t sent_seq = 0;  ///< The last seq this subscriber has been sent.
};

/// What an active visit holds in memory; dropped (encoded into `frozen`) while compacted.
struct live_visit {
  domain::visit_state visit;
  /// The latest events, consecutive and ending at visit.last_seq (at most 1.5 x
  /// limits.max_history_events: trimmed in chunks so trimming stays O(1) per event).
  /// Vectors, not deques: libstdc++ gives every deque a 512-byte block even when empty, and most
  /// visits are idle most of the time (bench/run.sh actors measures bytes per visit).
  std::vector<domain::event_envelope> history;
  /// Commands waiting behind the in-flight append (bounded by limits.max_queued_commands).
  std::vector<queued_command> queue;
  std::optional<in_flight_append> in_flight;
  std::vector<subscriber_entry> subscribers;
};

struct visit_actor_state {
  static inline const char* name = "visit";

  std::shared_ptr<const visit_environment> env;
  /// Null only while compacted (then `frozen` holds the encoded state) or before the load of
  /// an actor spawned from the store.
  std::unique_ptr<live_visit> live;
  std::string frozen;
  std::uint64_t next_append_id = 1;
  /// The deadline of the expiry timer armed last and not yet fired.
  std::optional<domain::timestamp> timer_at;
  /// True while a journal_timeout message is on its way (see watch_append).
  bool append_timer_armed = false;
};

using self_pointer = visit_impl::stateful_pointer<visit_actor_state>;

/// The in-memory visit, decoding it first if it was compacted. Throws if the encoded state does
/// not decode (it was encoded by this actor, so that is memory corruption or a bug): the
/// directory then restarts the visit from the store.
live_visit& thaw(visit_actor_state& st) {
  if (st.live) return *st.live;
  auto decoded = domain::decode_state(st.frozen);
  if (!decoded) throw std::runtime_error("visit actor: compacted state: " + decoded.err().message);
  st.live = std::make_unique<live_visit>();
  st.live->visit = std::move(*decoded);
  std::string{}.swap(st.frozen);
  return *st.live;
}

bool idle(const live_visit& lv) {
  return !lv.in_flight && lv.queue.empty() && lv.subscribers.empty();
}

template <class Promise, class T>
void answer(Promise& promise, T&& x) {
  // Commands the actor gives itself (expiry) have no requester.
  if (promise.pending()) promise.deliver(std::forward<T>(x));
}

// -- history -----------------------------------------------------------------------------------

/// The events with seq > `after`, from memory when it has them, else from the store.
domain::result<std::vector<domain::event_envelope>> events_after(const visit_actor_state& st,
                                                                 const live_visit& lv,
                                                                 std::uint64_t after) {
  if (after >= lv.visit.last_seq) return std::vector<domain::event_envelope>{};
  if (!lv.history.empty() && lv.history.front().seq <= after + 1) {
    auto first =
      lv.history.begin() + static_cast<std::ptrdiff_t>(after + 1 - lv.history.front().seq);
    return std::vector<domain::event_envelope>(first, lv.history.end());
  }
  if (st.env->store == nullptr)
    return domain::make_error(domain::errc::unavailable,
                              "visit actor: events before the in-memory history and no store");
  // A blocking RocksDB read on a CAF worker: acceptable only because it is rare (a subscriber
  // resuming from further back than the in-memory history, or a compacted visit ending), and
  // bounded by one visit's events. Anything frequent belongs in the loader.
  auto stored = storage::read_events(*st.env->store, lv.visit.info.id, after);
  if (!stored) return stored;
  if (stored->size() != lv.visit.last_seq - after)
    return domain::make_error(domain::errc::storage_failure,
                              "visit actor: store and memory disagree on the visit's events");
  return stored;
}

void remember(const visit_actor_state& st, live_visit& lv, const domain::event_envelope& e) {
  lv.history.push_back(e);
  const auto keep = std::max<std::size_t>(st.env->limits.max_history_events, 1);
  if (lv.history.size() > keep + keep / 2)
    lv.history.erase(lv.history.begin(), lv.history.end() - static_cast<std::ptrdiff_t>(keep));
}

/// Takes a start state and history (recovery, a new visit, a load).
void start_with(visit_actor_state& st, domain::visit_state state,
                const std::vector<domain::event_envelope>& history) {
  st.live = std::make_unique<live_visit>();
  auto& lv = *st.live;
  lv.visit = std::move(state);
  // Keep only a consecutive suffix ending at last_seq; anything else is ignored (read from the
  // store if needed) rather than trusted.
  for (const auto& e : history)
    if (e.seq <= lv.visit.last_seq &&
        (lv.history.empty() ? true : e.seq == lv.history.back().seq + 1))
      remember(st, lv, e);
  if (!lv.history.empty() && lv.history.back().seq != lv.visit.last_seq) lv.history.clear();
}

// -- expiry --------------------------------------------------------------------------------------

/// Arms the expiry timer unless one that fires no later is pending (it re-checks when it fires).
void arm_expiry(self_pointer self) {
  auto& st = self->state;
  if (!st.env->expiry_timer || !st.live) return;
  auto at = domain::expires_at(st.live->visit, st.env->policy);
  if (!at || (st.timer_at && *st.timer_at <= *at)) return;
  st.timer_at = *at;
  if (st.env->expiry) {
    // One heap entry in the shared scheduler instead of a pending timer message per actor.
    self->send(st.env->expiry, expiry_arm_atom::value, self->address(), *at);
    return;
  }
  auto delay = std::max(*at - st.env->clock(), domain::duration::zero());
  // A millisecond late rather than early: firing before the deadline would only re-arm.
  self->delayed_send(
    caf::actor_cast<visit_impl>(self),
    std::chrono::duration_cast<caf::timespan>(delay) + std::chrono::milliseconds{1},
    expiry_atom::value, *at);
}

// -- subscribers -------------------------------------------------------------------------------

std::vector<subscriber_entry>::iterator find_subscriber(live_visit& lv,
                                                        const caf::actor_addr& addr) {
  return std::find_if(lv.subscribers.begin(), lv.subscribers.end(),
                      [&](const subscriber_entry& s) { return s.handle.address() == addr; });
}

void remove_subscriber(self_pointer self, const caf::actor_addr& addr) {
  auto& st = self->state;
  if (!st.live) return;  // a compacted visit has no subscribers
  auto& lv = *st.live;
  auto i = find_subscriber(lv, addr);
  if (i == lv.subscribers.end()) return;
  self->demonitor(addr);
  lv.subscribers.erase(i);
}

/// Adds (or restarts) the subscription of `handle`, which was sent everything up to `seq`.
subscriber_entry& add_subscriber(self_pointer self, live_visit& lv, const visit_subscriber& handle,
                                 std::uint64_t seq) {
  auto i = find_subscriber(lv, handle.address());
  if (i == lv.subscribers.end()) {
    self->monitor(handle);
    lv.subscribers.push_back({handle, {}, seq});
    return lv.subscribers.back();
  }
  i->unacked.clear();
  i->sent_seq = seq;
  return *i;
}

/// Sends `batch` to every subscriber with credit left; drops the others as too slow.
void publish(self_pointer self, live_visit& lv, const std::vector<domain::event_envelope>& batch) {
  auto& st = self->state;
  if (batch.empty()) return;
  std::vector<caf::actor_addr> too_slow;
  for (auto& sub : lv.subscribers) {
    if (sub.unacked.size() >= st.env->limits.max_unacked_messages) {
      self->send(sub.handle, subscriber_dropped_atom::value,
                 subscriber_dropped{lv.visit.info.id, "too slow", sub.sent_seq});
      too_slow.push_back(sub.handle.address());
      continue;
    }
    self->send(sub.handle, events_atom::value, visit_events{lv.visit.info.id, batch});
    sub.unacked.push_back(batch.back().seq);
    sub.sent_seq = batch.back().seq;
  }
  for (const auto& addr : too_slow) remove_subscriber(self, addr);
}

/// Tells every subscriber it is no longer served (the visit actor stops or failed).
void drop_all_subscribers(self_pointer self, const std::string& reason) {
  auto& st = self->state;
  if (!st.live) return;
  for (auto& sub : st.live->subscribers) {
    self->send(sub.handle, subscriber_dropped_atom::value,
               subscriber_dropped{st.live->visit.info.id, reason, sub.sent_seq});
    self->demonitor(sub.handle.address());
  }
  st.live->subscribers.clear();
}

// -- commands ----------------------------------------------------------------------------------

bool ends_visit(const std::vector<domain::event_envelope>& events) {
  return std::any_of(events.begin(), events.end(), [](const domain::event_envelope& e) {
    return std::holds_alternative<domain::visit_ended>(e.event);
  });
}

/// Makes sure a journal_timeout message reaches the actor no later than the in-flight append's
/// deadline. One timer per actor, not one per append: each timer is a message through CAF's clock
/// thread, and at tens of thousands of appends a second that thread's wake-ups (and the stale
/// timeouts delivered seconds later) cost more than the appends. A timer that fires for an append
/// already acknowledged re-arms for the one in flight then (on_journal_timeout), so every append
/// still gets its answer at started_at + append_timeout, as with a timer of its own.
void watch_append(self_pointer self) {
  auto& st = self->state;
  if (st.append_timer_armed || !st.live || !st.live->in_flight) return;
  const auto& in_flight = *st.live->in_flight;
  auto deadline = in_flight.started_at + st.env->limits.append_timeout;
  auto delay = std::max(std::chrono::duration_cast<caf::timespan>(deadline - self->clock().now()),
                        caf::timespan::zero());
  st.append_timer_armed = true;
  self->delayed_send(caf::actor_cast<visit_impl>(self), delay, journal_timeout_atom::value,
                     in_flight.id);
}

void on_journal_timeout(self_pointer self, std::uint64_t id) {
  auto& st = self->state;
  st.append_timer_armed = false;
  if (!st.live || !st.live->in_flight) return;
  auto& in_flight = *st.live->in_flight;
  if (in_flight.id != id) {
    // Armed for an append acknowledged since: watch the one in flight now.
    watch_append(self);
    return;
  }
  if (!in_flight.promise.pending()) return;
  // Keep waiting for the acknowledgement (later commands stay queued): only then is it known
  // whether the events are durable, and decide must see them if they are.
  in_flight.promise.deliver(to_caf_error(domain::errc::timeout,
                                         "visit actor: the journal did not acknowledge in time; "
                                         "the command's outcome is unknown"));
}

/// Starts the append of the next queued command that decides to events; answers the ones that
/// are refused (or change nothing) on the way. Does nothing while an append is in flight.
void process_queue(self_pointer self) {
  auto& st = self->state;
  auto& lv = *st.live;
  const auto& env = *st.env;
  while (!lv.in_flight && !lv.queue.empty()) {
    auto& front = lv.queue.front();
    if (self->clock().now() - front.queued_at > env.limits.max_queue_wait) {
      answer(front.promise,
             to_caf_error(domain::errc::timeout,
                          "visit actor: the command waited too long and was not executed"));
      lv.queue.erase(lv.queue.begin());
      continue;
    }
    // Decided while still queued: should anything throw, on_failure answers it with the rest.
    auto events = domain::decide(lv.visit, front.cmd, env.clock(), env.policy);
    auto next = std::move(front);
    lv.queue.erase(lv.queue.begin());
    if (!events) {
      answer(next.promise, to_caf_error(events.err()));
      continue;
    }
    if (events->empty()) {
      answer(next.promise, command_reply{lv.visit.last_seq, {}});
      continue;
    }
    auto write_backs = domain::write_back_items(lv.visit, *events);
    auto ops = storage::event_ops(lv.visit.info.id, *events);
    if (ends_visit(*events)) {
      // The report row needs the whole journal, written in the same group as the final events.
      auto all = events_after(st, lv, 0);
      if (!all) {
        answer(next.promise, to_caf_error(all.err()));
        continue;
      }
      all->insert(all->end(), events->begin(), events->end());
      auto close = storage::close_visit_ops(lv.visit.info, *all, events->back().at);
      ops.insert(ops.end(), std::make_move_iterator(close.begin()),
                 std::make_move_iterator(close.end()));
    }
    auto id = st.next_append_id++;
    lv.in_flight = in_flight_append{id, std::move(*events), std::move(write_backs),
                                    std::move(next.promise), self->clock().now()};
    append_acked<visit_impl>(self, *env.journal, std::move(ops), id);
    watch_append(self);
  }
}

void enqueue(self_pointer self, domain::command cmd, reply_promise promise) {
  auto& lv = thaw(self->state);
  lv.queue.push_back({std::move(cmd), std::move(promise), self->clock().now()});
  process_queue(self);
}

void on_journal_ack(self_pointer self, std::uint64_t id, const caf::error& err) {
  auto& st = self->state;
  // A compacted actor has nothing in flight, so an acknowledgement for it is not ours.
  if (!st.live || !st.live->in_flight || st.live->in_flight->id != id) return;
  auto& lv = *st.live;
  auto done = std::move(*lv.in_flight);
  lv.in_flight.reset();
  if (err) {
    // Nothing of the group was written: the state stays as it was and nothing is published.
    answer(done.promise, err);
  } else {
    // Summaries only for a board: without one, the hot path pays nothing for them.
    std::optional<visit_summary> before;
    if (st.env->board) before = summarize(lv.visit);
    for (const auto& e : done.events) {
      domain::apply(lv.visit, e);
      remember(st, lv, e);
    }
    publish(self, lv, done.events);
    if (before) {
      auto after = summarize(lv.visit);
      if (board_relevant_change(*before, after)) self->send(st.env->board, after);
    }
    arm_expiry(self);
    if (st.env->write_back && !done.write_backs.empty())
      self->send(st.env->write_back, wb_items_atom::value, std::move(done.write_backs));
    // Pending unless the append timed out first: that requester was told "timeout" (outcome
    // unknown), and the events count now that they are durable.
    answer(done.promise, command_reply{lv.visit.last_seq, std::move(done.events)});
  }
  process_queue(self);
}

void on_expiry_timer(self_pointer self, domain::timestamp armed_for) {
  auto& st = self->state;
  if (st.timer_at == armed_for) st.timer_at.reset();
  auto& lv = thaw(st);
  auto at = domain::expires_at(lv.visit, st.env->policy);
  if (!at) return;
  if (st.env->clock() >= *at) {
    enqueue(self, domain::cmd::expire{}, reply_promise{});
    return;
  }
  arm_expiry(self);
}

/// When the actor fails: nobody waits for an answer that will not come, and subscribers learn
/// they must resubscribe (the directory restarts the visit from the store).
caf::error on_failure(self_pointer self, std::exception_ptr& failure) {
  auto what = exception_message(failure);
  auto& st = self->state;
  if (st.live) {
    auto refused = to_caf_error(domain::errc::unavailable, "visit actor failed and is restarting");
    if (st.live->in_flight) answer(st.live->in_flight->promise, refused);
    for (auto& q : st.live->queue) answer(q.promise, refused);
    drop_all_subscribers(self, "visit restarted");
  }
  return caf::make_error(caf::sec::runtime_error, std::move(what));
}

// -- behavior ----------------------------------------------------------------------------------

visit_impl::behavior_type visit_behavior(self_pointer self) {
  self->set_down_handler([self](caf::down_msg& dm) { remove_subscriber(self, dm.source); });
  self->set_exception_handler(
    [self](caf::scheduled_actor*, std::exception_ptr& e) { return on_failure(self, e); });
  return {
    [self](domain::command& cmd) -> caf::result<command_reply> {
      auto& st = self->state;
      auto& lv = thaw(st);
      if (lv.queue.size() >= st.env->limits.max_queued_commands)
        return to_caf_error(domain::errc::unavailable, "visit actor: too many queued commands");
      auto promise = self->make_response_promise<command_reply>();
      enqueue(self, std::move(cmd), promise);
      return promise;
    },
    [self](subscribe_atom, const visit_subscriber& sub) -> caf::result<std::uint64_t> {
      auto& lv = thaw(self->state);
      if (!sub) return to_caf_error(domain::errc::invalid_argument, "no subscriber");
      // The snapshot holds every acknowledged event; an in-flight append is published to this
      // subscriber like to every other one when it is acknowledged, so nothing is missed.
      auto& entry = add_subscriber(self, lv, sub, lv.visit.last_seq);
      self->send(sub, snapshot_atom::value, lv.visit);
      entry.unacked.push_back(lv.visit.last_seq);
      return lv.visit.last_seq;
    },
    [self](resume_atom, const visit_subscriber& sub,
           std::uint64_t after) -> caf::result<std::uint64_t> {
      auto& st = self->state;
      auto& lv = thaw(st);
      if (!sub) return to_caf_error(domain::errc::invalid_argument, "no subscriber");
      if (after > lv.visit.last_seq)
        return to_caf_error(domain::errc::invalid_argument,
                            std::string{"resume after seq "}
                              .append(std::to_string(after))
                              .append(" is ahead of the visit (last seq ")
                              .append(std::to_string(lv.visit.last_seq))
                              .append(")"));
      auto missed = events_after(st, lv, after);
      if (!missed) return to_caf_error(missed.err());
      auto& entry = add_subscriber(self, lv, sub, after);
      if (!missed->empty()) {
        entry.sent_seq = missed->back().seq;
        entry.unacked.push_back(entry.sent_seq);
        self->send(sub, events_atom::value, visit_events{lv.visit.info.id, std::move(*missed)});
      }
      return lv.visit.last_seq;
    },
    [self](unsubscribe_atom, const visit_subscriber& sub) {
      remove_subscriber(self, sub.address());
    },
    [self](subscriber_ack_atom, const visit_subscriber& sub, std::uint64_t seq) {
      auto& st = self->state;
      if (!st.live) return;
      auto i = find_subscriber(*st.live, sub.address());
      if (i == st.live->subscribers.end()) return;
      while (!i->unacked.empty() && i->unacked.front() <= seq) i->unacked.pop_front();
    },
    [self](get_state_atom) -> caf::result<domain::visit_state> { return thaw(self->state).visit; },
    [self](compact_atom) {
      auto& st = self->state;
      if (!st.live || !idle(*st.live) || st.env->store == nullptr) return;
      st.frozen = domain::encode_state(st.live->visit);
      st.live.reset();
    },
    [self](passivate_atom) -> caf::result<passivation> {
      auto& st = self->state;
      auto& lv = thaw(st);
      bool ended = lv.visit.status == domain::visit_status::ended;
      // An ended visit goes even with subscribers (they have every event); a live one only when
      // nothing depends on it being in memory.
      if (!(ended ? !lv.in_flight && lv.queue.empty() : idle(lv))) return passivation{};
      passivation reply{true, ended, domain::expires_at(lv.visit, st.env->policy)};
      drop_all_subscribers(self, "visit ended");
      self->quit();
      return reply;
    },
    [self](journal_ack_atom, std::uint64_t id, caf::error& err) { on_journal_ack(self, id, err); },
    [self](journal_timeout_atom, std::uint64_t id) { on_journal_timeout(self, id); },
    [self](expiry_atom, domain::timestamp armed_for) { on_expiry_timer(self, armed_for); },
  };
}

/// A visit actor starting from a known state.
visit_impl::behavior_type known_visit(self_pointer self,
                                      const std::shared_ptr<const visit_environment>& env,
                                      const domain::visit_state& state,
                                      const std::vector<domain::event_envelope>& history) {
  self->state.env = env;
  start_with(self->state, state, history);
  arm_expiry(self);
  return visit_behavior(self);
}

/// A visit actor that loads its state first. `await` keeps every other message in the mailbox
/// until the loader answers, so the first command is decided against the loaded state.
visit_impl::behavior_type stored_visit(self_pointer self,
                                       const std::shared_ptr<const visit_environment>& env,
                                       const domain::visit_id& visit, bool after_failure) {
  self->state.env = env;
  self->request(env->loader, env->limits.load_timeout, load_visit_atom::value, visit, after_failure)
    .await(
      [self, after_failure](loaded_visit& loaded) {
        start_with(self->state, std::move(loaded.state), loaded.history);
        arm_expiry(self);
        // The failed actor may have had an append made durable and died before pushing its
        // items: the write-back reads them from the store before any push of this actor.
        const auto& env = *self->state.env;
        if (after_failure && env.write_back) {
          const auto& info = self->state.live->visit.info;
          self->send(env.write_back, wb_resync_atom::value, info.tenant, info.endpoint, info.id);
        }
      },
      [self](caf::error& err) { self->quit(std::move(err)); });
  return visit_behavior(self);
}

}  // namespace

visit_actor spawn_visit_actor(caf::actor_system& system, visit_actor_args args) {
  auto env = std::make_shared<visit_environment>();
  env->policy = args.policy;
  env->journal = args.journal;
  env->store = args.store;
  env->clock = std::move(args.clock);
  env->limits = args.limits;
  env->expiry_timer = args.expiry_timer;
  return spawn_visit_actor(system, std::move(env), std::move(args.state), std::move(args.history));
}

visit_actor spawn_visit_actor(caf::actor_system& system,
                              std::shared_ptr<const visit_environment> env,
                              domain::visit_state state,
                              std::vector<domain::event_envelope> history) {
  // Spawned with arguments (not a capturing lambda): see the CAF 0.17.6 note in runtime.cpp.
  return system.spawn(known_visit, std::move(env), std::move(state), std::move(history));
}

visit_actor spawn_visit_actor_from_store(caf::actor_system& system,
                                         std::shared_ptr<const visit_environment> env,
                                         domain::visit_id visit, bool after_failure) {
  return system.spawn(stored_visit, std::move(env), std::move(visit), after_failure);
}

}  // namespace visitd::actors
