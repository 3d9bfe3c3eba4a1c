#include "actors/write_back.hpp"

#include "actors/journal_ack.hpp"
#include "actors/tenant_actor.hpp"
#include "domain/time_format.hpp"
#include "storage/journal.hpp"
#include "storage/outbox.hpp"
#include "storage/store.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <utility>

namespace visitd::actors {

namespace {

using namespace std::chrono_literals;

// Internal messages of an endpoint actor.
using wb_outcome_atom = caf::atom_constant<caf::atom("wboutcome")>;
using wb_checked_atom = caf::atom_constant<caf::atom("wbchecked")>;
using wb_check_failed_atom = caf::atom_constant<caf::atom("wbcheckno")>;
using wb_tick_atom = caf::atom_constant<caf::atom("wbtick")>;
using wb_setup_atom = caf::atom_constant<caf::atom("wbsetup")>;

/// One held item and how far its delivery got.
struct held_item {
  domain::write_back_item item;
  storage::outbox_source source = storage::outbox_source::cursor;
  std::uint32_t failed_attempts = 0;
  /// The writes already made, one bit per `domain::fhir_write` (kept across retries). A set,
  /// not a position in the plan: a plan that changes mid-item (the tenant's policy, the EHR's
  /// CapabilityStatement) then neither skips a write nor repeats one.
  std::uint8_t done = 0;
  domain::timestamp not_before{};
};

constexpr std::uint8_t bit_of(domain::fhir_write w) noexcept {
  return static_cast<std::uint8_t>(1U << static_cast<unsigned>(w));
}

/// The first write `h` still needs under `targets`, or nullopt when none is left.
std::optional<domain::fhir_write> next_write(const held_item& h,
                                             const domain::write_back_targets& targets) {
  for (auto w : domain::planned_writes(h.item, targets))
    if ((h.done & bit_of(w)) == 0) return w;
  return std::nullopt;
}

/// A visit's items in sequence order; at most one of them is being worked on.
struct visit_queue {
  std::map<std::uint64_t, held_item> items;
  bool busy = false;  ///< An attempt or a dead-letter write is in flight for one of its items.
};

struct endpoint_state {
  endpoint_state() = default;  // not an aggregate (see approval_flow.cpp)

  domain::tenant_id tenant;
  domain::endpoint_id endpoint;
  // Shared with the hub: a linked endpoint actor may still be handling a message after the hub
  // has stopped and destroyed its state.
  std::shared_ptr<const write_back_args> args;
  directory dir;

  std::optional<fhir::write_back_endpoint> target;
  /// The tenant's policy, read with the endpoint (its writes narrowed to the box's allowance).
  domain::write_back_policy policy;
  std::optional<fhir::write_back_support> support;
  std::optional<fhir::write_back_plan> plan;
  std::optional<domain::timestamp> checked_at;
  std::string check_error;
  std::string setup_problem;  ///< Why the endpoint cannot be written (empty when it can).
  bool setup_running = false;
  std::uint64_t setup_generation = 0;

  std::map<domain::visit_id, visit_queue> queues;
  /// Per visit, the highest seq finished (delivered or dead-lettered) lately, and when. A push
  /// can arrive after its item was already read from the store and finished (the store read
  /// came between the durable append and the push): such a push is dropped rather than
  /// delivered twice. A visit's items finish in seq order, so one mark per visit suffices; a
  /// push comes right after its append, so marks older than `finished_mark_lifetime` go.
  struct finished_mark {
    std::uint64_t seq = 0;
    domain::timestamp at{};
  };
  std::map<domain::visit_id, finished_mark> recently_finished;
  /// Visits a store read could not rebuild: their pushes are not taken (delivering one would move
  /// the cursor past the items not read) until a read of the visit succeeds, tried again at
  /// `unreadable_retry_at`.
  std::set<domain::visit_id> unreadable;
  std::optional<domain::timestamp> unreadable_retry_at;
  domain::timestamp marks_pruned_at{};
  std::size_t held = 0;
  bool more_in_store = false;
  std::uint64_t in_flight = 0;
  std::uint64_t next_attempt = 1;
  /// In-flight attempt → its visit and item seq (a re-driven item may have been put in front of
  /// it meanwhile).
  struct attempt_of {
    domain::visit_id visit;
    std::uint64_t seq = 0;
    domain::fhir_write write{};
  };
  std::map<std::uint64_t, attempt_of> attempts;
  pending_writes journal_waits;
  std::size_t endings_pending = 0;

  domain::circuit_breaker breaker;
  std::optional<domain::timestamp> tick_at;
  std::mt19937_64 rng{std::random_device{}()};

  std::uint64_t delivered = 0, writes = 0, retries = 0, dead_letters = 0;
  std::string last_error;
  std::optional<domain::timestamp> last_delivered_at;

  static inline const char* name = "visitd.write_back";
};

using endpoint_actor = caf::stateful_actor<endpoint_state>;

domain::timestamp now_of(const write_back_args& args) {
  return args.clock ? args.clock() : wall_clock_now();
}

domain::timestamp now_of(const endpoint_state& st) {
  return now_of(*st.args);
}

/// The endpoint's dead letters in the store (0 when the count fails: it is only shown).
std::uint64_t stored_dead_letters(const write_back_args& args, const domain::tenant_id& tenant,
                                  const domain::endpoint_id& endpoint) {
  auto n = storage::count_dead_letters(*args.store, tenant, endpoint);
  return n ? *n : 0;
}

std::string endpoint_name(const endpoint_state& st) {
  return st.tenant.str() + "/" + st.endpoint.str();
}

/// Why nothing is delivered now, or "" when items may flow.
std::string blocked_reason(const endpoint_state& st) {
  if (!st.args->transport.check || !st.args->transport.deliver)
    return "write-back is not configured on this box";
  if (!st.setup_problem.empty()) return st.setup_problem;
  if (!st.target) return "reading the endpoint's approved revision";
  if (!st.plan) {
    if (!st.check_error.empty())
      return "the EHR's CapabilityStatement could not be read: " + st.check_error;
    return "reading the EHR's CapabilityStatement";
  }
  return {};
}

void pump(endpoint_actor* self);

void schedule_tick(endpoint_actor* self, domain::timestamp at) {
  auto& st = self->state;
  if (st.tick_at && *st.tick_at <= at) return;  // one already comes in time
  st.tick_at = at;
  auto delay = std::max(at - now_of(st), domain::duration{1ms});
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(delay),
                     wb_tick_atom::value, at.time_since_epoch().count());
}

// -- holding items -----------------------------------------------------------------------------

constexpr auto finished_mark_lifetime = std::chrono::minutes{1};

/// Notes that `visit`'s item `seq` is finished (see `recently_finished`).
void mark_finished(endpoint_state& st, const domain::visit_id& visit, std::uint64_t seq) {
  auto now = now_of(st);
  auto& mark = st.recently_finished[visit];
  mark.seq = std::max(mark.seq, seq);
  mark.at = now;
  if (now - st.marks_pruned_at < finished_mark_lifetime) return;
  st.marks_pruned_at = now;
  std::erase_if(st.recently_finished,
                [&](const auto& entry) { return now - entry.second.at > finished_mark_lifetime; });
}

/// A pushed item already finished after a store read got it first.
bool finished_already(const endpoint_state& st, const domain::write_back_item& item) {
  auto mark = st.recently_finished.find(item.visit);
  return mark != st.recently_finished.end() && item.seq <= mark->second.seq;
}

void hold(endpoint_state& st, storage::pending_item pending) {
  if (st.held >= st.args->options.max_in_memory) {
    st.more_in_store = true;  // it is in the store; read again once memory drains
    return;
  }
  auto& q = st.queues[pending.item.visit];
  auto seq = pending.item.seq;
  if (q.items.emplace(seq, held_item{std::move(pending.item), pending.source}).second) ++st.held;
}

/// Appends `ops` that end items in the store (a cursor move, an entry's or a spent cursor's
/// erase). Nothing waits on them: a lost one only means one more (idempotent) delivery after a
/// restart, or a cursor found spent again. But a store read waits until none is pending, or it
/// would read back what they end.
void append_ending(endpoint_actor* self, std::vector<storage::write_op> ops, const char* what) {
  auto& st = self->state;
  ++st.endings_pending;
  auto id = st.journal_waits.add([self, what](const caf::error& err) {
    auto& st = self->state;
    --st.endings_pending;
    if (err)
      spdlog::warn("write-back {}: {} failed: {}", endpoint_name(st), what,
                   to_domain_error(err).message);
    // Memory drained while these were pending, so pump() could not read on from the store yet:
    // nothing else would wake it.
    if (st.endings_pending == 0 && st.held == 0 && st.more_in_store) pump(self);
  });
  append_acked<caf::actor>(self, *st.args->journal, std::move(ops), id);
}

/// Erases cursors a store read found spent (storage::outbox_page::spent_cursors).
void erase_spent_cursors(endpoint_actor* self, std::vector<std::string> keys) {
  std::vector<storage::write_op> ops;
  ops.reserve(keys.size());
  for (auto& key : keys) ops.push_back(storage::spent_cursor_op(std::move(key)));
  append_ending(self, std::move(ops), "erasing spent outbox cursors");
}

/// Holds what a store read found, and erases the spent cursors it found. `while_ending`: items
/// finished lately may still be in the store (their cursor moves not yet written), so ones
/// already finished are dropped, as pushes are.
void take_page(endpoint_actor* self, storage::outbox_page& page, bool while_ending) {
  auto& st = self->state;
  for (const auto& problem : page.problems)
    spdlog::error("write-back {}: {}; left in place", endpoint_name(st), problem);
  if (!page.spent_cursors.empty()) erase_spent_cursors(self, std::move(page.spent_cursors));
  for (auto& visit : page.unreadable) st.unreadable.insert(std::move(visit));
  if (!st.unreadable.empty() && !st.unreadable_retry_at) {
    st.unreadable_retry_at = now_of(st) + st.args->options.setup_retry;
    schedule_tick(self, *st.unreadable_retry_at);
  }
  for (auto& pending : page.items) {
    // A re-driven entry's seq is below the visit's finished mark: only cursor items are marked.
    if (while_ending && pending.source == storage::outbox_source::cursor &&
        finished_already(st, pending.item))
      continue;
    hold(st, std::move(pending));
  }
}

/// Reads one visit's items from the store: its actor was restarted after a failure, or a store
/// read could not rebuild it.
void read_visit(endpoint_actor* self, const domain::visit_id& visit) {
  auto& st = self->state;
  st.unreadable.erase(visit);
  if (st.more_in_store) return;  // the whole read to come gets it
  auto page = storage::read_visit_outbox(*st.args->store, st.tenant, st.endpoint, visit);
  if (!page) {
    spdlog::error("write-back {}: reading the outbox of visit {} failed: {}", endpoint_name(st),
                  visit.str(), page.err().message);
    page = storage::outbox_page{};
    page->unreadable.push_back(visit);
  }
  take_page(self, *page, true);
}

/// Reads the outbox from the store into memory, up to the memory bound.
void load_from_store(endpoint_actor* self) {
  auto& st = self->state;
  st.more_in_store = false;
  st.unreadable.clear();  // the read rebuilds them too
  std::string after;
  do {
    auto room = st.args->options.max_in_memory - std::min(st.held, st.args->options.max_in_memory);
    if (room == 0) {
      st.more_in_store = true;
      return;
    }
    auto page = storage::read_outbox(*st.args->store, st.tenant, st.endpoint, after,
                                     std::min<std::size_t>(room, 1000));
    if (!page) {
      spdlog::error("write-back {}: reading the outbox failed: {}", endpoint_name(st),
                    page.err().message);
      st.more_in_store = true;
      return;
    }
    take_page(self, *page, false);
    after = page->next_after;
  } while (!after.empty());
}

// -- setup: the endpoint and its CapabilityStatement ---------------------------------------------

void retry_setup_later(endpoint_actor* self) {
  auto gen = self->state.setup_generation;
  self->delayed_send(self, self->state.args->options.setup_retry, wb_setup_atom::value, gen);
}

void check_capabilities(endpoint_actor* self) {
  auto& st = self->state;
  if (!st.target || !st.args->transport.check) return;
  auto addr = self->address();
  auto gen = st.setup_generation;
  st.args->transport.check(*st.target, [addr, gen](domain::result<fhir::write_back_support> r) {
    auto to = caf::actor_cast<caf::actor>(addr);
    if (!to) return;
    if (r)
      caf::anon_send(to, wb_checked_atom::value, gen, std::move(*r));
    else
      caf::anon_send(to, wb_check_failed_atom::value, gen, r.err().message);
  });
}

/// The endpoint's revisions are known: plan against the approved one, or say why not.
void on_endpoints(endpoint_actor* self, const std::vector<domain::fhir_endpoint>& all) {
  auto& st = self->state;
  st.setup_running = false;
  const auto* found = domain::find_endpoint(all, st.endpoint);
  const auto* revision = found == nullptr ? nullptr : domain::in_force(*found);
  if (revision == nullptr) {
    st.target.reset();
    st.plan.reset();
    st.setup_problem =
      found == nullptr ? "the endpoint no longer exists" : "the endpoint has no approved revision";
    retry_setup_later(self);
    return;
  }
  if (revision->settings.type != domain::client_type::confidential_private_key_jwt) {
    st.target.reset();
    st.plan.reset();
    st.setup_problem =
      "write-back needs the endpoint registered as a confidential client "
      "(private_key_jwt) for SMART Backend Services; it is a public client";
    retry_setup_later(self);
    return;
  }
  fhir::write_back_endpoint target{st.tenant,
                                   st.endpoint,
                                   revision->settings.base_url,
                                   revision->settings.client_id,
                                   revision->settings.type,
                                   {}};
  st.setup_problem.clear();
  if (st.target != target) {
    st.target = std::move(target);
    st.plan.reset();
    st.support.reset();
  }
  check_capabilities(self);
}

/// Reads the tenant's write-back policy and the endpoint's approved revision through the
/// tenant actor, then checks the EHR.
void setup(endpoint_actor* self) {
  auto& st = self->state;
  if (st.setup_running) return;
  if (!st.dir) {
    st.setup_problem.clear();
    return;  // attached later
  }
  st.setup_running = true;
  auto timeout = st.args->options.request_timeout;
  auto failed = [self](std::string_view what) {
    return [self, what](caf::error& err) {
      self->state.setup_running = false;
      self->state.setup_problem =
        std::string{what}.append(" could not be read: ").append(to_domain_error(err).message);
      retry_setup_later(self);
    };
  };
  self->request(st.dir, timeout, dir_tenant_atom::value, st.tenant)
    .then(
      [self, timeout, failed](tenant_handles& handles) {
        self->request(handles.tenant, timeout, get_tenant_atom::value)
          .then(
            [self, timeout, failed, tenant = handles.tenant](domain::tenant& t) {
              auto& st = self->state;
              st.policy = t.write_back;
              st.policy.writes = domain::both(t.write_back.writes, st.args->options.allowed);
              self->request(tenant, timeout, list_endpoints_atom::value)
                .then([self](std::vector<domain::fhir_endpoint>& all) { on_endpoints(self, all); },
                      failed("the endpoint"));
            },
            failed("the tenant"));
      },
      failed("the tenant"));
}

void on_checked(endpoint_actor* self, fhir::write_back_support support) {
  auto& st = self->state;
  st.checked_at = now_of(st);
  st.check_error.clear();
  auto plan = fhir::plan_write_back(support, st.policy);
  st.support = std::move(support);
  // AuditEvents are the audit record itself: when they are wanted and cannot be written
  // without risking duplicates, items wait (and the admin is told) rather than being delivered
  // without them. Encounter and Appointment updates the EHR does not allow are skipped, as the
  // plan's notes say.
  if (st.policy.writes.audit_events &&
      plan.audit_events == fhir::audit_event_strategy::unsupported) {
    st.plan.reset();
    st.setup_problem =
      plan.notes.empty() ? "the EHR cannot take AuditEvents idempotently" : plan.notes.front();
  } else {
    st.setup_problem.clear();
    st.plan = std::move(plan);
  }
  auto gen = st.setup_generation;
  self->delayed_send(self, st.args->options.recheck_interval, wb_setup_atom::value, gen);
  pump(self);
}

// -- delivery ----------------------------------------------------------------------------------

using item_iterator = std::map<std::uint64_t, held_item>::iterator;

/// Ends `which` (an item of `visit`) as delivered. True when that emptied the visit's queue,
/// which is then erased (with `q`).
bool finish_item(endpoint_actor* self, visit_queue& q, const domain::visit_id& visit,
                 item_iterator which) {
  auto& st = self->state;
  auto op = storage::delivered_op({which->second.item, which->second.source});
  mark_finished(st, visit, which->second.item.seq);
  q.items.erase(which);
  --st.held;
  q.busy = false;
  ++st.delivered;
  st.last_delivered_at = now_of(st);
  append_ending(self, {std::move(op)}, "ending a delivered item in the outbox");
  if (!q.items.empty()) return false;
  st.queues.erase(visit);
  return true;
}

/// Finishes the items at the front of `q` that have nothing (left) to write under the plan, so
/// the visit's next item does not wait for another reason to pump. True when that emptied the
/// visit's queue (then erased, with `q`).
bool finish_unwritable(endpoint_actor* self, const domain::visit_id& visit, visit_queue& q) {
  auto& st = self->state;
  while (!q.items.empty()) {
    auto first = q.items.begin();
    const auto& h = first->second;
    if (next_write(h, st.plan->targets)) return false;
    if (finish_item(self, q, visit, first)) return true;
  }
  return false;
}

void dead_letter(endpoint_actor* self, const domain::visit_id& visit, visit_queue& q,
                 const held_item& h, std::string reason) {
  auto& st = self->state;
  q.busy = true;
  domain::dead_letter letter{h.item, std::move(reason), h.failed_attempts, now_of(st)};
  spdlog::warn("write-back {}: dead-lettered {} ({}): {}", endpoint_name(st),
               domain::event_key(letter.item), domain::to_string(letter.item.kind), letter.reason);
  auto id = st.journal_waits.add([self, visit, seq = h.item.seq](const caf::error& err) {
    auto& st = self->state;
    auto q = st.queues.find(visit);
    if (q == st.queues.end()) return;
    q->second.busy = false;
    // By seq: a re-driven item may have been put in front of it meanwhile.
    auto item = q->second.items.find(seq);
    if (item == q->second.items.end()) {
      pump(self);
      return;
    }
    if (err) {
      // Not durable: keep it and try the dead-letter write again later.
      item->second.not_before = now_of(st) + st.args->options.retry.max_delay;
      st.last_error = "a dead letter could not be stored: " + to_domain_error(err).message;
      pump(self);
      return;
    }
    mark_finished(st, visit, seq);
    q->second.items.erase(item);
    --st.held;
    ++st.dead_letters;
    if (q->second.items.empty()) st.queues.erase(q);
    pump(self);
  });
  append_acked<caf::actor>(self, *st.args->journal, storage::dead_letter_ops(letter, h.source), id);
}

/// Starts the next write of the first item of `visit`, which has one (see finish_unwritable).
void start_attempt(endpoint_actor* self, const domain::visit_id& visit, visit_queue& q) {
  auto& st = self->state;
  auto& h = q.items.begin()->second;
  auto write = next_write(h, st.plan->targets);
  if (!write) return;  // precondition broken: finish_unwritable finishes it on the next pump
  q.busy = true;
  ++st.in_flight;
  auto attempt = st.next_attempt++;
  st.attempts.emplace(attempt, endpoint_state::attempt_of{visit, h.item.seq, *write});
  auto addr = self->address();
  st.args->transport.deliver(
    *st.target, *st.plan, h.item, *write, [addr, attempt](fhir::delivery_outcome outcome) {
      auto to = caf::actor_cast<caf::actor>(addr);
      if (to) caf::anon_send(to, wb_outcome_atom::value, attempt, std::move(outcome));
    });
}

void on_outcome(endpoint_actor* self, std::uint64_t attempt, fhir::delivery_outcome& outcome) {
  auto& st = self->state;
  auto found = st.attempts.find(attempt);
  if (found == st.attempts.end()) return;
  auto [visit, seq, write] = found->second;
  st.attempts.erase(found);
  --st.in_flight;
  auto q = st.queues.find(visit);
  if (q == st.queues.end()) return;
  // The attempt's item by its seq, not the queue's first: a re-driven item may have been put in
  // front of it while the attempt was in flight.
  auto item = q->second.items.find(seq);
  if (item == q->second.items.end()) {
    q->second.busy = false;
    pump(self);
    return;
  }
  auto& h = item->second;
  auto now = now_of(st);
  switch (outcome.verdict) {
    case domain::delivery_verdict::delivered:
      st.breaker.record_success();
      ++st.writes;
      h.done |= bit_of(write);
      h.failed_attempts = 0;
      q->second.busy = false;
      // Without a plan (a refresh or a failed re-check meanwhile) pump() finishes it once there
      // is one again, if nothing is left to write.
      if (st.plan && !next_write(h, st.plan->targets)) finish_item(self, q->second, visit, item);
      break;
    case domain::delivery_verdict::retry: {
      st.breaker.record_failure(now);
      ++h.failed_attempts;
      st.last_error = outcome.detail;
      if (h.failed_attempts >= st.args->options.retry.max_attempts) {
        dead_letter(self, visit, q->second, h,
                    "gave up after " + std::to_string(h.failed_attempts) +
                      " attempts; the last: " + outcome.detail);
        break;
      }
      ++st.retries;
      std::uniform_real_distribution<double> unit{0.0, 1.0};
      h.not_before = now + domain::retry_delay(st.args->options.retry, h.failed_attempts,
                                               unit(st.rng), outcome.retry_after);
      q->second.busy = false;
      schedule_tick(self, h.not_before);
      break;
    }
    case domain::delivery_verdict::permanent:
      // The EHR answered, so it is up: a refusal says nothing against the endpoint.
      st.breaker.record_success();
      ++h.failed_attempts;
      st.last_error = outcome.detail;
      dead_letter(self, visit, q->second, h, outcome.detail);
      break;
  }
  pump(self);
}

void pump(endpoint_actor* self) {
  auto& st = self->state;
  if (st.held == 0 && st.more_in_store && st.endings_pending == 0) load_from_store(self);
  if (st.unreadable_retry_at && *st.unreadable_retry_at <= now_of(st)) {
    st.unreadable_retry_at.reset();
    auto visits = std::move(st.unreadable);
    st.unreadable.clear();
    for (const auto& visit : visits) read_visit(self, visit);
  }
  if (!blocked_reason(st).empty() || !st.args->transport.deliver) return;
  auto now = now_of(st);
  std::optional<domain::timestamp> next_due;
  for (auto it = st.queues.begin(); it != st.queues.end();) {
    auto current = it++;  // finishing items may erase `current`
    auto& q = current->second;
    if (q.busy || q.items.empty()) continue;
    // Before the bounds below: finishing takes no attempt (and must not take the breaker's
    // half-open probe, which only an outcome gives back).
    if (finish_unwritable(self, current->first, q)) continue;
    auto& h = q.items.begin()->second;
    if (h.not_before > now) {
      if (!next_due || h.not_before < *next_due) next_due = h.not_before;
      continue;
    }
    if (st.in_flight >= st.args->options.max_in_flight) break;
    if (!st.breaker.allow(now)) {
      // Open: wake when it lets a probe through. Half-open with the probe in flight: its
      // outcome pumps (a past time here would tick every millisecond until then).
      auto until = st.breaker.opens_until();
      if (until > now && (!next_due || until < *next_due)) next_due = until;
      break;
    }
    start_attempt(self, current->first, q);
  }
  if (next_due) schedule_tick(self, std::max(*next_due, now + 1ms));
}

write_back_status status_of(const endpoint_state& st) {
  write_back_status s;
  s.tenant = st.tenant;
  s.endpoint = st.endpoint;
  s.blocked = blocked_reason(st);
  s.support = st.support;
  s.checked_at = st.checked_at;
  s.check_error = st.check_error;
  s.plan = st.plan;
  s.pending = st.held;
  s.more_in_store = st.more_in_store;
  for (const auto& [visit, q] : st.queues)
    if (!q.items.empty()) {
      auto at = q.items.begin()->second.item.at;
      if (!s.oldest_pending_at || at < *s.oldest_pending_at) s.oldest_pending_at = at;
    }
  s.in_flight = st.in_flight;
  s.delivered = st.delivered;
  s.writes = st.writes;
  s.retries = st.retries;
  s.dead_letters = st.dead_letters;
  s.breaker = std::string{domain::to_string(st.breaker.current(now_of(st)))};
  s.last_error = st.last_error;
  s.last_delivered_at = st.last_delivered_at;
  return s;
}

/// Moves the dead letters after the one keyed `after` back to the outbox, a page (one journal
/// group) at a time so a large backlog never makes one huge write; then the next page, until
/// none is left, and answers how many moved. Pages go by key, so a letter refused again while
/// the re-drive runs (its key is behind the page) is not re-driven twice in one request.
void redrive_from(endpoint_actor* self, caf::typed_response_promise<std::uint64_t> promise,
                  const std::string& after, std::uint64_t moved_so_far) {
  auto& st = self->state;
  auto letters =
    storage::read_dead_letters(*st.args->store, st.tenant, st.endpoint,
                               std::max<std::size_t>(st.args->options.redrive_page, 1), after);
  if (!letters) {
    promise.deliver(to_caf_error(letters.err()));
    return;
  }
  if (letters->empty()) {
    promise.deliver(moved_so_far);
    return;
  }
  auto moved = std::make_shared<std::vector<domain::dead_letter>>(std::move(*letters));
  auto last = storage::outbox_key(moved->back().item);
  auto id = st.journal_waits.add([self, promise, moved, moved_so_far,
                                  last = std::move(last)](const caf::error& err) mutable {
    auto& st = self->state;
    if (err) {
      // The pages before it are moved (and being delivered); say so with the failure.
      promise.deliver(to_caf_error(
        domain::errc::storage_failure,
        std::to_string(moved_so_far) +
          " dead letters were moved back, then the store failed: " + to_domain_error(err).message));
      return;
    }
    st.dead_letters -= std::min<std::uint64_t>(st.dead_letters, moved->size());
    for (auto& letter : *moved) hold(st, {std::move(letter.item), storage::outbox_source::entry});
    pump(self);
    redrive_from(self, std::move(promise), last, moved_so_far + moved->size());
  });
  append_acked<caf::actor>(self, *st.args->journal, storage::redrive_ops(*moved), id);
}

caf::behavior endpoint_behavior(endpoint_actor* self, domain::tenant_id tenant,
                                domain::endpoint_id endpoint,
                                std::shared_ptr<const write_back_args> args, directory dir) {
  auto& st = self->state;
  st.tenant = std::move(tenant);
  st.endpoint = std::move(endpoint);
  st.args = std::move(args);
  st.dir = std::move(dir);
  st.breaker = domain::circuit_breaker{st.args->options.breaker};
  load_from_store(self);
  st.dead_letters = stored_dead_letters(*st.args, st.tenant, st.endpoint);
  setup(self);
  return {
    [self](wb_items_atom, std::vector<domain::write_back_item>& items) {
      auto& st = self->state;
      // Beyond memory they are read from the store later, and so are an unreadable visit's;
      // re-driven letters and whole store reads bypass the marks (the store is the truth once no
      // ending is pending).
      if (!st.more_in_store)
        for (auto& item : items)
          if (!finished_already(st, item) && !st.unreadable.contains(item.visit))
            hold(st, {std::move(item), storage::outbox_source::cursor});
      pump(self);
    },
    [self](wb_resync_atom, const domain::visit_id& visit) {
      read_visit(self, visit);
      pump(self);
    },
    [self](wb_attach_atom, const directory& dir) {
      self->state.dir = dir;
      setup(self);
    },
    [self](wb_refresh_atom) {
      auto& st = self->state;
      ++st.setup_generation;  // older timers and checks are ignored
      st.target.reset();
      st.plan.reset();
      st.support.reset();
      st.setup_running = false;
      setup(self);
    },
    [self](wb_setup_atom, std::uint64_t gen) {
      if (gen != self->state.setup_generation) return;
      if (self->state.target && self->state.setup_problem.empty() && self->state.plan)
        check_capabilities(self);  // the periodic re-check
      else
        setup(self);
    },
    [self](wb_checked_atom, std::uint64_t gen, fhir::write_back_support& support) {
      if (gen == self->state.setup_generation) on_checked(self, std::move(support));
    },
    [self](wb_check_failed_atom, std::uint64_t gen, std::string& why) {
      auto& st = self->state;
      if (gen != st.setup_generation) return;
      st.check_error = std::move(why);
      retry_setup_later(self);
    },
    [self](wb_outcome_atom, std::uint64_t attempt, fhir::delivery_outcome& outcome) {
      on_outcome(self, attempt, outcome);
    },
    [self](wb_tick_atom, std::int64_t at) {
      auto& st = self->state;
      if (st.tick_at && st.tick_at->time_since_epoch().count() == at) st.tick_at.reset();
      pump(self);
    },
    [self](journal_ack_atom, std::uint64_t id, caf::error& err) {
      self->state.journal_waits.complete(id, err);
    },
    [self](wb_status_atom) { return status_of(self->state); },
    [self](wb_dead_atom, std::uint64_t limit) -> caf::result<std::vector<domain::dead_letter>> {
      auto& st = self->state;
      auto letters = storage::read_dead_letters(*st.args->store, st.tenant, st.endpoint, limit);
      if (!letters) return to_caf_error(letters.err());
      return std::move(*letters);
    },
    [self](wb_redrive_atom) -> caf::result<std::uint64_t> {
      auto promise = self->make_response_promise<std::uint64_t>();
      redrive_from(self, promise, {}, 0);  // a copy: the same promise, answered once
      return promise;
    },
  };
}

// -- the hub -----------------------------------------------------------------------------------

using endpoint_key = std::pair<domain::tenant_id, domain::endpoint_id>;

/// An endpoint actor that failed: how often lately, and until when it waits to be started again.
struct restart_state {
  std::uint32_t failures = 0;
  domain::timestamp spawned_at{};
  std::optional<domain::timestamp> resume_at;
};

/// A failure after this long alive counts as the first again.
constexpr auto failures_forgotten_after = std::chrono::minutes{1};
/// The longest wait before a failing endpoint actor is started again.
constexpr auto max_restart_delay = std::chrono::minutes{1};

struct hub_state {
  hub_state() = default;

  std::shared_ptr<const write_back_args> args;  // shared with the endpoint actors
  directory dir;
  std::map<endpoint_key, caf::actor> endpoints;
  /// Endpoints whose actor failed at least once (not erased: bounded by the endpoints).
  std::map<endpoint_key, restart_state> restarts;

  static inline const char* name = "visitd.write_back_hub";
};

using hub_pointer = write_back_hub::stateful_pointer<hub_state>;

/// The endpoint's actor, spawned on first need; nullptr while one that keeps failing waits to be
/// started again (its outbox is durable: the new one reads what arrived meanwhile).
caf::actor* endpoint_of(hub_pointer self, const domain::tenant_id& tenant,
                        const domain::endpoint_id& endpoint) {
  auto& st = self->state;
  auto key = std::pair{tenant, endpoint};
  auto found = st.endpoints.find(key);
  if (found != st.endpoints.end()) return &found->second;
  auto restart = st.restarts.find(key);
  if (restart != st.restarts.end()) {
    auto& r = restart->second;
    if (r.resume_at && now_of(*self->state.args) < *r.resume_at) return nullptr;
    r.resume_at.reset();
    r.spawned_at = now_of(*self->state.args);
  }
  // Linked: the hub's exit takes them with it, and one that fails is restarted by the hub's exit
  // handler (its outbox is durable, so the new one resumes where it stopped).
  auto spawned = self->spawn<caf::linked>(endpoint_behavior, tenant, endpoint, st.args, st.dir);
  return &st.endpoints.emplace(std::move(key), std::move(spawned)).first->second;
}

/// The status of an endpoint whose actor waits to be restarted.
/// The status of an endpoint without a running actor to ask: `why`, and what the store says.
write_back_status status_without_actor(const write_back_args& args, const endpoint_key& key,
                                       std::string why) {
  write_back_status s;
  s.tenant = key.first;
  s.endpoint = key.second;
  s.blocked = std::move(why);
  s.dead_letters = stored_dead_letters(args, key.first, key.second);
  s.breaker = "closed";
  return s;
}

write_back_status restarting_status(hub_pointer self, const endpoint_key& key) {
  const auto& r = self->state.restarts.at(key);
  return status_without_actor(
    *self->state.args, key,
    "write-back failed " + std::to_string(r.failures) + " times in a row and restarts at " +
      (r.resume_at ? domain::format_rfc3339(*r.resume_at) : std::string{"once asked"}) +
      " (see the server log)");
}

/// An endpoint actor failed: started again at once the first time, then after 1, 2, 4 … up to
/// 60 s while it keeps failing, so a failure that repeats (a bug meeting one stored item, say)
/// cannot spin the CPU and flood the log.
void on_endpoint_failure(hub_pointer self, const endpoint_key& key, const caf::error& reason) {
  auto now = now_of(*self->state.args);
  auto& r = self->state.restarts[key];
  if (now - r.spawned_at > failures_forgotten_after) r.failures = 0;
  ++r.failures;
  const auto why = self->system().render(reason);
  if (r.failures == 1) {
    spdlog::error("write-back {}/{}: the endpoint actor failed ({}); restarting it",
                  key.first.str(), key.second.str(), why);
    endpoint_of(self, key.first, key.second);
    return;
  }
  auto delay = std::min<domain::duration>(
    std::chrono::seconds{1} * (1U << std::min<std::uint32_t>(r.failures - 2, 6)),
    max_restart_delay);
  r.resume_at = now + delay;
  spdlog::error(
    "write-back {}/{}: the endpoint actor failed again ({}; {} times in a row); restarting it "
    "in {} s",
    key.first.str(), key.second.str(), why, r.failures,
    std::chrono::duration_cast<std::chrono::seconds>(delay).count());
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(delay),
                     wb_refresh_atom::value, key.first, key.second);
}

/// Asks an endpoint actor on a requester's behalf and answers with its reply (or error).
template <class Reply, class... Ts>
caf::typed_response_promise<Reply> forward(hub_pointer self, const caf::actor& to, Ts... xs) {
  auto rp = self->make_response_promise<Reply>();
  self->request(to, self->state.args->options.request_timeout * 2, xs...)
    .then([rp](Reply& r) mutable { rp.deliver(std::move(r)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Gathers every endpoint actor's status into one reply.
void list_statuses(hub_pointer self,
                   caf::typed_response_promise<std::vector<write_back_status>> rp) {
  auto& st = self->state;
  auto out = std::make_shared<std::vector<write_back_status>>();
  auto now = now_of(*self->state.args);
  for (const auto& [key, r] : st.restarts)
    if (r.resume_at && now < *r.resume_at && !st.endpoints.contains(key))
      out->push_back(restarting_status(self, key));
  if (st.endpoints.empty()) {
    rp.deliver(std::move(*out));
    return;
  }
  auto remaining = std::make_shared<std::size_t>(st.endpoints.size());
  for (auto& [key, actor] : st.endpoints) {
    self->request(actor, st.args->options.request_timeout, wb_status_atom::value)
      .then(
        [out, remaining, rp](write_back_status& s) mutable {
          out->push_back(std::move(s));
          if (--*remaining == 0) rp.deliver(std::move(*out));
        },
        [out, remaining, rp](caf::error&) mutable {
          if (--*remaining == 0) rp.deliver(std::move(*out));
        });
  }
}

}  // namespace

write_back_hub spawn_write_back_hub(caf::actor_system& system, write_back_args args) {
  auto behavior = [](hub_pointer self,
                     std::shared_ptr<write_back_args> a) -> write_back_hub::behavior_type {
    auto& st = self->state;
    st.args = std::move(a);
    self->set_exit_handler([self](caf::exit_msg& msg) {
      auto& endpoints = self->state.endpoints;
      auto failed = std::find_if(endpoints.begin(), endpoints.end(),
                                 [&](const auto& e) { return e.second.address() == msg.source; });
      if (failed == endpoints.end()) {
        self->quit(msg.reason);
        return;
      }
      auto key = failed->first;
      endpoints.erase(failed);
      on_endpoint_failure(self, key, msg.reason);
    });
    if (st.args->resume_stored) {
      auto stored = storage::outbox_endpoints(*st.args->store);
      if (!stored)
        spdlog::error("write-back: listing pending outboxes failed: {}", stored.err().message);
      else
        for (const auto& [tenant, endpoint] : *stored) endpoint_of(self, tenant, endpoint);
    }
    return {
      [self](wb_items_atom atom, std::vector<domain::write_back_item>& items) {
        if (items.empty()) return;
        // While the endpoint's actor waits to be restarted, its items wait in the store.
        if (auto* to = endpoint_of(self, items.front().tenant, items.front().endpoint))
          caf::anon_send(*to, atom, std::move(items));
      },
      [self](wb_resync_atom atom, const domain::tenant_id& tenant,
             const domain::endpoint_id& endpoint, const domain::visit_id& visit) {
        // While the endpoint's actor waits to be restarted, the new one reads the whole store.
        if (auto* to = endpoint_of(self, tenant, endpoint)) caf::anon_send(*to, atom, visit);
      },
      [self](wb_attach_atom atom, const directory& dir) {
        self->state.dir = dir;
        for (auto& [key, actor] : self->state.endpoints) caf::anon_send(actor, atom, dir);
      },
      [self](wb_status_atom atom, const domain::tenant_id& tenant,
             const domain::endpoint_id& endpoint) -> caf::result<write_back_status> {
        auto* to = endpoint_of(self, tenant, endpoint);
        if (to == nullptr) return restarting_status(self, {tenant, endpoint});
        // An actor that fails while asked is restarted (the exit handler may not have run yet):
        // that is a status to show, not an error.
        auto rp = self->make_response_promise<write_back_status>();
        self->request(*to, self->state.args->options.request_timeout * 2, atom)
          .then([rp](write_back_status& s) mutable { rp.deliver(std::move(s)); },
                [self, rp, tenant, endpoint](caf::error& err) mutable {
                  if (err != caf::sec::request_receiver_down) {
                    rp.deliver(std::move(err));
                    return;
                  }
                  rp.deliver(status_without_actor(
                    *self->state.args, {tenant, endpoint},
                    "write-back failed and is restarting (see the server log)"));
                });
        return rp;
      },
      [self](wb_list_atom) {
        auto rp = self->make_response_promise<std::vector<write_back_status>>();
        list_statuses(self, rp);
        return rp;
      },
      [self](wb_dead_atom atom, const domain::tenant_id& tenant,
             const domain::endpoint_id& endpoint,
             std::uint64_t limit) -> caf::result<std::vector<domain::dead_letter>> {
        auto* to = endpoint_of(self, tenant, endpoint);
        if (to == nullptr) {  // the store has them all the same
          auto letters =
            storage::read_dead_letters(*self->state.args->store, tenant, endpoint, limit);
          if (!letters) return to_caf_error(letters.err());
          return std::move(*letters);
        }
        return forward<std::vector<domain::dead_letter>>(self, *to, atom, limit);
      },
      [self](wb_redrive_atom atom, const domain::tenant_id& tenant,
             const domain::endpoint_id& endpoint) -> caf::result<std::uint64_t> {
        auto* to = endpoint_of(self, tenant, endpoint);
        if (to == nullptr)
          return to_caf_error(domain::errc::unavailable,
                              restarting_status(self, {tenant, endpoint}).blocked);
        // Longer than a request: the re-drive is a journal write of every dead letter.
        return forward<std::uint64_t>(self, *to, atom);
      },
      [self](wb_refresh_atom atom, const domain::tenant_id& tenant,
             const domain::endpoint_id& endpoint) {
        // Also the restart timer's message: a waiting endpoint's actor starts here.
        if (auto* to = endpoint_of(self, tenant, endpoint)) caf::anon_send(*to, atom);
      },
      [self](wb_refresh_atom atom, const domain::tenant_id& tenant) {
        // Endpoint actors not running read the policy when they start.
        for (const auto& [key, actor] : self->state.endpoints)
          if (key.first == tenant) caf::anon_send(actor, atom);
      },
    };
  };
  return system.spawn(behavior, std::make_shared<write_back_args>(std::move(args)));
}

}  // namespace visitd::actors
