#include "actors/directory.hpp"

#include "actors/journal_ack.hpp"
#include "actors/visit_loader.hpp"
#include "domain/record_json.hpp"
#include "storage/audit_log.hpp"
#include "storage/catalog.hpp"
#include "storage/journal.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <list>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace visitd::actors {

namespace {

using sweep_atom = caf::atom_constant<caf::atom("dsweep")>;

using directory_impl =
  directory::extend<caf::reacts_to<journal_ack_atom, std::uint64_t, caf::error>,
                    caf::reacts_to<journal_timeout_atom, std::uint64_t>,
                    caf::reacts_to<sweep_atom>>;

/// A message held for a visit until an actor serves it: called with that actor, or with null
/// and the error that prevents it.
using waiter = std::function<void(const visit_actor*, const caf::error&)>;

enum class phase : std::uint8_t {
  live,         ///< `actor` serves the visit.
  opening,      ///< Its header is being written; messages wait.
  passivating,  ///< `actor` was asked to stop; messages wait for the answer.
  passivated,   ///< No actor; the next message spawns one that loads the visit.
};

enum class idle_list : std::uint8_t { none, active, compacted };

using clock_point = caf::actor_clock::time_point;

struct visit_entry {
  domain::tenant_id tenant;
  phase where = phase::passivated;
  visit_actor actor;
  std::vector<waiter> waiting;
  idle_list listed = idle_list::none;
  std::list<domain::visit_id>::iterator position;
  clock_point last_touch{};
  std::vector<clock_point> failures;  ///< Within the restart window.
};

/// A request waiting for a tenant's actor: called with it, or with null and the error that
/// prevents it.
using tenant_waiter = std::function<void(const tenant_actor*, const caf::error&)>;

struct tenant_entry {
  tenant_actor actor;  ///< Null while it restarts after a failure, or after giving up.
  tenant_board board;
  std::shared_ptr<const visit_environment> env;
  bool restarting = false;
  std::vector<tenant_waiter> waiting;
  std::vector<clock_point> failures;  ///< Within the restart window.
};

/// One approval flow per endpoint revision.
using flow_key = std::tuple<domain::tenant_id, domain::endpoint_id, domain::revision_number>;

/// A journal write the directory waits for, and what to do with its outcome.
using write_continuation = pending_writes::continuation;

struct directory_state {
  static inline const char* name = "visitd.directory";

  directory_args args;  // recovered is emptied once spawned
  visit_loader loader;
  expiry_scheduler expiry;  ///< Shared by every visit actor (one timer instead of one each).
  std::unordered_map<domain::tenant_id, tenant_entry> tenants;
  std::unordered_map<domain::visit_id, visit_entry> visits;
  std::unordered_map<caf::actor_addr, domain::visit_id> by_actor;
  /// Live visits by last touch, oldest first: not yet told to compact, and compacted.
  std::list<domain::visit_id> active, compacted;
  /// Passivated visits that must be woken to expire.
  std::multimap<domain::timestamp, domain::visit_id> wake_at;
  std::map<flow_key, approval_flow> flows;
  std::unordered_map<caf::actor_addr, flow_key> flow_by_actor;
  pending_writes writes;
  std::uint64_t sweeps = 0;
  directory_stats stats;
};

using self_pointer = directory_impl::stateful_pointer<directory_state>;

// -- idle lists ----------------------------------------------------------------------------------

void unlist(directory_state& st, visit_entry& e) {
  if (e.listed == idle_list::active) st.active.erase(e.position);
  if (e.listed == idle_list::compacted) st.compacted.erase(e.position);
  e.listed = idle_list::none;
}

void touch(self_pointer self, const domain::visit_id& id, visit_entry& e) {
  auto& st = self->state;
  e.last_touch = self->clock().now();
  if (e.where != phase::live) return;
  if (e.listed == idle_list::active) {
    st.active.splice(st.active.end(), st.active, e.position);
    return;
  }
  unlist(st, e);
  e.position = st.active.insert(st.active.end(), id);
  e.listed = idle_list::active;
}

// -- tenants -------------------------------------------------------------------------------------

tenant_actor spawn_linked_tenant_actor(self_pointer self, const domain::tenant& t,
                                       std::vector<domain::fhir_endpoint> endpoints) {
  auto& st = self->state;
  auto actor =
    spawn_tenant_actor(self->system(), {t, std::move(endpoints), st.args.journal, st.args.clock,
                                        st.args.limits.append_timeout, st.args.audit_sequence});
  self->link_to(actor);
  return actor;
}

tenant_entry& add_tenant(self_pointer self, const domain::tenant& t,
                         std::vector<domain::fhir_endpoint> endpoints,
                         std::vector<visit_summary> summaries) {
  auto& st = self->state;
  tenant_entry entry;
  entry.actor = spawn_linked_tenant_actor(self, t, std::move(endpoints));
  entry.board =
    spawn_tenant_board(self->system(), {std::move(summaries), st.args.limits.max_unacked_messages});
  self->link_to(entry.board);
  auto env = std::make_shared<visit_environment>();
  env->policy = st.args.policy;
  env->journal = st.args.journal;
  env->store = st.args.store;
  env->clock = st.args.clock;
  env->limits = st.args.limits;
  env->board = entry.board;
  env->loader = st.loader;
  env->expiry_timer = st.args.expiry_timers;
  env->expiry = st.expiry;
  env->write_back = st.args.write_back;
  entry.env = std::move(env);
  return st.tenants.insert_or_assign(t.id, std::move(entry)).first->second;
}

void fail_waiting(tenant_entry& e, const caf::error& err) {
  auto waiting = std::move(e.waiting);
  e.waiting.clear();
  for (auto& w : waiting) w(nullptr, err);
}

/// Spawns a new actor for tenant `id` from what the store holds, once the journal has settled
/// anything the failed one left in flight; the requests that waited get it.
void restart_tenant(self_pointer self, const domain::tenant_id& id) {
  auto& st = self->state;
  st.tenants.at(id).restarting = true;
  self->request(st.loader, st.args.options.request_timeout, load_tenant_atom::value, id)
    .then(
      [self, id](storage::stored_tenant& stored) {
        auto& e = self->state.tenants.at(id);
        e.restarting = false;
        e.actor = spawn_linked_tenant_actor(self, stored.tenant, std::move(stored.endpoints));
        self->state.stats.restarts++;
        spdlog::info("tenant actor restarted tenant={}", id.str());
        auto actor = e.actor;
        auto waiting = std::move(e.waiting);
        e.waiting.clear();
        for (auto& w : waiting) w(&actor, caf::error{});
      },
      [self, id](caf::error& err) {
        auto& e = self->state.tenants.at(id);
        e.restarting = false;
        spdlog::error("tenant actor restart failed tenant={} reason=\"{}\"", id.str(),
                      self->system().render(err));
        fail_waiting(e, to_caf_error(domain::errc::unavailable,
                                     "tenant " + id.str() + " is unavailable; try again later"));
      });
}

/// Runs `w` with the tenant's actor now or once it has one (restarting it if it failed and was
/// given up), or with an error.
void with_tenant(self_pointer self, const domain::tenant_id& id, tenant_waiter w) {
  auto& st = self->state;
  auto it = st.tenants.find(id);
  if (it == st.tenants.end()) {
    w(nullptr, to_caf_error(domain::errc::not_found, "no tenant " + id.str()));
    return;
  }
  auto& e = it->second;
  if (e.actor) {
    w(&e.actor, caf::error{});
    return;
  }
  e.waiting.push_back(std::move(w));
  if (!e.restarting) restart_tenant(self, id);
}

void on_tenant_failure(self_pointer self, const domain::tenant_id& id, const caf::error& reason) {
  auto& st = self->state;
  auto& e = st.tenants.at(id);
  st.stats.failures++;
  e.actor = nullptr;
  // Its flows hold the old handle and stop with it; new requests get new flows.
  std::erase_if(st.flows, [&](const auto& flow) { return std::get<0>(flow.first) == id; });
  auto now = self->clock().now();
  std::erase_if(e.failures,
                [&](clock_point t) { return now - t > st.args.options.restart_window; });
  e.failures.push_back(now);
  if (e.failures.size() > st.args.options.max_restarts) {
    st.stats.given_up++;
    spdlog::error("tenant actor failed tenant={} reason=\"{}\" restarts_exhausted={}", id.str(),
                  self->system().render(reason), st.args.options.max_restarts);
    return;  // the next request for it tries again
  }
  spdlog::warn("tenant actor failed tenant={} reason=\"{}\" restarting", id.str(),
               self->system().render(reason));
  restart_tenant(self, id);
}

// -- approval flows ------------------------------------------------------------------------------

caf::result<approval_flow> find_or_spawn_flow(self_pointer self, const flow_key& key) {
  auto& st = self->state;
  if (auto it = st.flows.find(key); it != st.flows.end()) return it->second;
  auto promise = self->make_response_promise<approval_flow>();
  with_tenant(self, std::get<0>(key),
              [self, key, promise](const tenant_actor* tenant, const caf::error& err) mutable {
                if (tenant == nullptr) {
                  promise.deliver(err);
                  return;
                }
                auto& st = self->state;
                if (auto it = st.flows.find(key); it != st.flows.end()) {  // spawned meanwhile
                  promise.deliver(it->second);
                  return;
                }
                const auto& opt = st.args.options;
                approval_flow_args args;
                args.tenant = *tenant;
                args.endpoint = std::get<1>(key);
                args.revision = std::get<2>(key);
                args.clock = st.args.clock;
                args.validation_ttl = opt.validation_ttl;
                args.request_timeout = opt.request_timeout;
                args.idle_lifetime = opt.flow_idle_lifetime;
                auto flow = spawn_approval_flow(self->system(), std::move(args));
                self->link_to(flow);
                st.flow_by_actor.insert_or_assign(flow.address(), key);
                st.flows.insert_or_assign(key, flow);
                promise.deliver(flow);
              });
  return promise;
}

// -- visits --------------------------------------------------------------------------------------

void flush(visit_entry& e) {
  auto waiting = std::move(e.waiting);
  e.waiting.clear();
  for (auto& w : waiting) w(&e.actor, caf::error{});
}

void fail_waiting(visit_entry& e, const caf::error& err) {
  auto waiting = std::move(e.waiting);
  e.waiting.clear();
  for (auto& w : waiting) w(nullptr, err);
}

/// `id` is served by its actor again: it takes the messages that waited.
void resume_serving(self_pointer self, const domain::visit_id& id, visit_entry& e) {
  e.where = phase::live;
  touch(self, id, e);
  flush(e);
}

/// Makes the new `actor` the one serving `id` (linked, so a failure reaches the directory).
void serve_with(self_pointer self, const domain::visit_id& id, visit_entry& e, visit_actor actor) {
  auto& st = self->state;
  self->link_to(actor);
  st.by_actor.insert_or_assign(actor.address(), id);
  e.actor = std::move(actor);
  resume_serving(self, id, e);
}

/// Spawns an actor that loads the visit from the store.
void activate_from_store(self_pointer self, const domain::visit_id& id, visit_entry& e,
                         bool after_failure) {
  auto& st = self->state;
  auto tenant = st.tenants.find(e.tenant);
  if (tenant == st.tenants.end()) {
    fail_waiting(e, to_caf_error(domain::errc::not_found, "no tenant " + e.tenant.str()));
    return;
  }
  serve_with(self, id, e,
             spawn_visit_actor_from_store(self->system(), tenant->second.env, id, after_failure));
}

/// Runs `w` with the actor serving `id` now or once there is one (re-activating a passivated
/// visit), or with an error.
void with_visit(self_pointer self, const domain::visit_id& id, waiter w) {
  auto& st = self->state;
  auto it = st.visits.find(id);
  if (it == st.visits.end()) {
    w(nullptr, to_caf_error(domain::errc::not_found, "no open visit " + id.str()));
    return;
  }
  auto& e = it->second;
  switch (e.where) {
    case phase::live:
      touch(self, id, e);
      w(&e.actor, caf::error{});
      return;
    case phase::opening:
    case phase::passivating: e.waiting.push_back(std::move(w)); return;
    case phase::passivated:
      e.waiting.push_back(std::move(w));
      st.stats.reactivations++;
      activate_from_store(self, id, e, false);
      return;
  }
}

/// Routes a request to the visit's actor; its answer goes straight to the requester.
template <class Reply, class... Ts>
caf::result<Reply> route(self_pointer self, const domain::visit_id& id, Ts... xs) {
  auto promise = self->make_response_promise<Reply>();
  with_visit(self, id, [promise, xs...](const visit_actor* actor, const caf::error& err) mutable {
    if (actor == nullptr)
      promise.deliver(err);
    else
      promise.delegate(*actor, xs...);
  });
  return promise;
}

/// Sends a one-way message to the visit's actor if it has one (never re-activates: an ack or an
/// unsubscribe means nothing to a passivated visit, which has no subscribers).
template <class... Ts>
void tell_live(self_pointer self, const domain::visit_id& id, Ts&&... xs) {
  auto& st = self->state;
  auto it = st.visits.find(id);
  if (it == st.visits.end() || it->second.where != phase::live) return;
  self->send(it->second.actor, std::forward<Ts>(xs)...);
}

void forget(self_pointer self, const domain::visit_id& id) {
  auto& st = self->state;
  auto it = st.visits.find(id);
  if (it == st.visits.end()) return;
  unlist(st, it->second);
  if (it->second.actor) st.by_actor.erase(it->second.actor.address());
  st.visits.erase(it);
}

void passivate(self_pointer self, const domain::visit_id& id, visit_entry& e) {
  auto& st = self->state;
  e.where = phase::passivating;
  unlist(st, e);
  auto asked = e.actor;
  self->request(asked, st.args.options.request_timeout, passivate_atom::value)
    .then(
      [self, id, asked](const passivation& answer) {
        auto& st = self->state;
        auto it = st.visits.find(id);
        if (it == st.visits.end() || it->second.where != phase::passivating ||
            it->second.actor != asked)
          return;
        auto& e = it->second;
        if (!answer.stopped) {  // busy: it stays
          resume_serving(self, id, e);
          return;
        }
        st.stats.passivations++;
        st.by_actor.erase(e.actor.address());
        e.actor = nullptr;
        e.where = phase::passivated;
        if (!e.waiting.empty()) {  // somebody wants it already
          st.stats.reactivations++;
          activate_from_store(self, id, e, false);
          return;
        }
        if (answer.ended) {
          forget(self, id);
          return;
        }
        if (answer.expires_at) st.wake_at.emplace(*answer.expires_at, id);
      },
      [self, id, asked](caf::error&) {
        // No answer: it keeps serving (if it died, its exit message restarts it).
        auto& st = self->state;
        auto it = st.visits.find(id);
        if (it == st.visits.end() || it->second.where != phase::passivating ||
            it->second.actor != asked)
          return;
        resume_serving(self, id, it->second);
      });
}

void on_visit_failure(self_pointer self, const domain::visit_id& id, const caf::error& reason) {
  auto& st = self->state;
  auto it = st.visits.find(id);
  if (it == st.visits.end()) return;
  auto& e = it->second;
  st.stats.failures++;
  st.by_actor.erase(e.actor.address());
  e.actor = nullptr;
  auto now = self->clock().now();
  std::erase_if(e.failures,
                [&](clock_point t) { return now - t > st.args.options.restart_window; });
  e.failures.push_back(now);
  if (e.failures.size() > st.args.options.max_restarts) {
    st.stats.given_up++;
    spdlog::error("visit actor failed visit={} reason=\"{}\" restarts_exhausted={}", id.str(),
                  self->system().render(reason), st.args.options.max_restarts);
    e.where = phase::passivated;  // the next message tries again
    unlist(st, e);
    fail_waiting(e, to_caf_error(domain::errc::unavailable,
                                 "visit " + id.str() + " keeps failing; try again later"));
    return;
  }
  st.stats.restarts++;
  spdlog::warn("visit actor failed visit={} reason=\"{}\" restarting", id.str(),
               self->system().render(reason));
  activate_from_store(self, id, e, true);
}

// -- opening and creating ------------------------------------------------------------------------

/// Appends `ops` through the journal; `then` runs with its outcome.
void write(self_pointer self, std::vector<storage::write_op> ops, write_continuation then) {
  auto& st = self->state;
  auto id = st.writes.add(std::move(then));
  append_with_ack<directory_impl>(self, *st.args.journal, std::move(ops), id,
                                  st.args.limits.append_timeout);
}

caf::result<domain::visit_state> open_visit(self_pointer self, const domain::visit_info& info,
                                            const domain::account_id& by) {
  auto& st = self->state;
  if (st.tenants.find(info.tenant) == st.tenants.end())
    return to_caf_error(domain::errc::not_found, "no tenant " + info.tenant.str());
  // Checked now, written with the visit: opening a visit is an admin action (`visit.open`).
  auto audit =
    domain::make_audit_entry(info.tenant, by, "visit.open", info.id.str(), st.args.clock(), "",
                             domain::json_text(domain::visit_info_json(info)));
  if (!audit) return to_caf_error(audit.err());
  if (auto it = st.visits.find(info.id); it != st.visits.end()) {
    if (it->second.tenant != info.tenant)
      return to_caf_error(domain::errc::not_found, "no open visit " + info.id.str());
    return route<domain::visit_state>(self, info.id, get_state_atom::value);
  }
  auto promise = self->make_response_promise<domain::visit_state>();
  auto& e = st.visits[info.id];
  e.tenant = info.tenant;
  e.where = phase::opening;
  e.waiting.push_back([promise](const visit_actor* actor, const caf::error& err) mutable {
    if (actor == nullptr)
      promise.deliver(err);
    else
      promise.delegate(*actor, get_state_atom::value);
  });
  // The store may know the id from a visit that has ended (ended visits are not in `visits`).
  self->request(st.loader, st.args.options.request_timeout, visit_exists_atom::value, info.id)
    .then(
      [self, info, entry = std::move(*audit)](bool exists) {
        auto& st = self->state;
        auto it = st.visits.find(info.id);
        if (it == st.visits.end() || it->second.where != phase::opening) return;
        if (exists) {
          fail_waiting(it->second, to_caf_error(domain::errc::conflict,
                                                "visit " + info.id.str() + " has ended"));
          forget(self, info.id);
          return;
        }
        auto ops = storage::open_visit_ops(info);
        storage::add_audit_op(ops, entry, *st.args.audit_sequence);
        write(self, std::move(ops), [self, info](const caf::error& err) {
          auto& st = self->state;
          auto it = st.visits.find(info.id);
          if (it == st.visits.end() || it->second.where != phase::opening) return;
          if (err) {
            fail_waiting(it->second, err);
            forget(self, info.id);
            return;
          }
          auto& env = st.tenants.at(info.tenant).env;
          auto state = domain::initial_state(info);
          if (env->board) self->send(env->board, summarize(state));
          serve_with(self, info.id, it->second,
                     spawn_visit_actor(self->system(), env, std::move(state), {}));
        });
      },
      [self, id = info.id](caf::error& err) {
        auto& st = self->state;
        auto it = st.visits.find(id);
        if (it == st.visits.end() || it->second.where != phase::opening) return;
        fail_waiting(it->second, err);
        forget(self, id);
      });
  return promise;
}

caf::result<tenant_handles> create_tenant(self_pointer self, const domain::tenant& t,
                                          const domain::account_id& by, const std::string& after) {
  auto& st = self->state;
  if (st.tenants.find(t.id) != st.tenants.end())
    return to_caf_error(domain::errc::conflict, "tenant " + t.id.str() + " already exists");
  if (auto known = domain::require_known_region(st.args.regions, t.region); !known)
    return to_caf_error(known.err());
  auto audit = domain::make_audit_entry(domain::box_tenant(), by, "tenant.create", t.id.str(),
                                        st.args.clock(), "", after);
  if (!audit) return to_caf_error(audit.err());
  auto ops = storage::tenant_ops(t);
  storage::add_audit_op(ops, *audit, *st.args.audit_sequence);
  auto promise = self->make_response_promise<tenant_handles>();
  write(self, std::move(ops), [self, t, promise](const caf::error& err) mutable {
    auto& st = self->state;
    if (err) {
      promise.deliver(err);
      return;
    }
    if (st.tenants.find(t.id) != st.tenants.end()) {
      if (promise.pending())
        promise.deliver(
          to_caf_error(domain::errc::conflict, "tenant " + t.id.str() + " already exists"));
      return;
    }
    auto& entry = add_tenant(self, t, {}, {});
    if (promise.pending()) promise.deliver(tenant_handles{entry.actor, entry.board});
  });
  return promise;
}

// -- sweep ---------------------------------------------------------------------------------------

void sweep(self_pointer self) {
  auto& st = self->state;
  const auto& opt = st.args.options;
  auto now = self->clock().now();
  while (!st.active.empty()) {
    auto id = st.active.front();
    auto& e = st.visits.at(id);
    if (now - e.last_touch < opt.compact_after) break;
    self->send(e.actor, compact_atom::value);
    st.stats.compactions++;
    st.active.pop_front();
    e.position = st.compacted.insert(st.compacted.end(), id);
    e.listed = idle_list::compacted;
  }
  while (!st.compacted.empty()) {
    auto id = st.compacted.front();
    auto& e = st.visits.at(id);
    if (now - e.last_touch < opt.passivate_after) break;
    passivate(self, id, e);  // unlists it
  }
  // Passivated visits whose expiry is due: the expire command re-activates them.
  auto domain_now = st.args.clock();
  while (!st.wake_at.empty() && st.wake_at.begin()->first <= domain_now) {
    auto id = st.wake_at.begin()->second;
    st.wake_at.erase(st.wake_at.begin());
    auto it = st.visits.find(id);
    if (it == st.visits.end() || it->second.where != phase::passivated) continue;
    with_visit(self, id, [](const visit_actor* actor, const caf::error&) {
      if (actor != nullptr) caf::anon_send(*actor, domain::command{domain::cmd::expire{}});
    });
  }
  // Boards forget old ended visits every 12th sweep (a minute at the default interval): often
  // enough for a day-long view, and each prune walks the whole board.
  if (++st.sweeps % 12 == 0) {
    auto cutoff = domain_now - std::chrono::duration_cast<domain::duration>(opt.board_keep_ended);
    for (auto& [id, t] : st.tenants) self->send(t.board, board_prune_atom::value, cutoff);
  }
  self->delayed_send(caf::actor_cast<directory_impl>(self), opt.sweep_interval, sweep_atom::value);
}

// -- behavior ------------------------------------------------------------------------------------

directory_impl::behavior_type directory_behavior(self_pointer self, const directory_args& args) {
  auto& st = self->state;
  st.args = args;
  if (!st.args.audit_sequence) st.args.audit_sequence = std::make_shared<storage::audit_sequence>();
  auto recovered = std::move(st.args.recovered);
  st.args.recovered = {};
  st.loader = spawn_visit_loader(
    self->system(),
    {args.store, args.journal, args.limits.max_history_events, args.options.detached_loader});
  self->link_to(st.loader);
  st.expiry = spawn_expiry_scheduler(self->system(), args.clock);
  self->link_to(st.expiry);

  // What recovery found: tenants with their endpoints and open visits' summaries, then visits.
  std::unordered_map<domain::tenant_id, std::vector<domain::fhir_endpoint>> endpoints;
  for (auto& e : recovered.endpoints) endpoints[e.tenant].push_back(std::move(e));
  std::unordered_map<domain::tenant_id, std::vector<visit_summary>> summaries;
  for (const auto& v : recovered.open_visits) summaries[v.info.tenant].push_back(summarize(v));
  for (const auto& t : recovered.tenants)
    add_tenant(self, t, std::move(endpoints[t.id]), std::move(summaries[t.id]));
  for (auto& v : recovered.open_visits) {
    auto tenant = st.tenants.find(v.info.tenant);
    if (tenant == st.tenants.end()) {
      spdlog::error("recovered visit {} names unknown tenant {}; not served", v.info.id.str(),
                    v.info.tenant.str());
      continue;
    }
    auto id = v.info.id;
    auto& e = st.visits[id];
    e.tenant = v.info.tenant;
    serve_with(self, id, e,
               spawn_visit_actor(self->system(), tenant->second.env, std::move(v), {}));
  }

  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (auto it = st.by_actor.find(msg.source); it != st.by_actor.end()) {
      auto id = it->second;
      if (msg.reason) on_visit_failure(self, id, msg.reason);
      // A normal exit is a passivation, already handled with its answer.
      return;
    }
    if (auto it = st.flow_by_actor.find(msg.source); it != st.flow_by_actor.end()) {
      // A flow that is done, idle, or lost its tenant actor; the next request spawns another.
      auto key = it->second;
      st.flow_by_actor.erase(it);
      if (auto flow = st.flows.find(key);
          flow != st.flows.end() && flow->second.address() == msg.source)
        st.flows.erase(flow);
      if (msg.reason)
        spdlog::warn("approval flow stopped endpoint={} reason=\"{}\"", std::get<1>(key).str(),
                     self->system().render(msg.reason));
      return;
    }
    if (!msg.reason) return;  // a passivated visit's actor, already forgotten
    for (const auto& [id, t] : st.tenants) {
      if (t.actor && msg.source == t.actor.address()) {
        on_tenant_failure(self, id, msg.reason);
        return;
      }
    }
    bool ours = msg.source == st.loader.address() || msg.source == st.expiry.address();
    for (const auto& [id, t] : st.tenants) ours = ours || msg.source == t.board.address();
    if (ours) {
      st.stats.failures++;
      spdlog::error("directory child failed reason=\"{}\"", self->system().render(msg.reason));
      return;
    }
    self->quit(msg.reason);  // told to stop: the links stop every child
  });

  self->delayed_send(caf::actor_cast<directory_impl>(self), args.options.sweep_interval,
                     sweep_atom::value);

  return {
    [self](dir_create_tenant_atom, const domain::tenant& t, const domain::account_id& by,
           const std::string& after) { return create_tenant(self, t, by, after); },
    [self](dir_list_tenants_atom) {
      std::vector<tenant_handles> out;
      for (const auto& [id, t] : self->state.tenants)
        if (t.actor) out.push_back({t.actor, t.board});
      return out;
    },
    [self](dir_tenant_atom, const domain::tenant_id& id) -> caf::result<tenant_handles> {
      auto promise = self->make_response_promise<tenant_handles>();
      with_tenant(self, id,
                  [self, id, promise](const tenant_actor* actor, const caf::error& err) mutable {
                    if (actor == nullptr)
                      promise.deliver(err);
                    else
                      promise.deliver(tenant_handles{*actor, self->state.tenants.at(id).board});
                  });
      return promise;
    },
    [self](dir_approval_flow_atom, const domain::tenant_id& tenant,
           const domain::endpoint_id& endpoint, domain::revision_number revision) {
      return find_or_spawn_flow(self, flow_key{tenant, endpoint, revision});
    },
    [self](dir_open_visit_atom, const domain::visit_info& info, const domain::account_id& by) {
      return open_visit(self, info, by);
    },
    [self](dir_record_audit_atom, const domain::audit_entry& entry) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      auto promise = self->make_response_promise<caf::ok_atom>();
      write(self, storage::audit_ops(entry, st.args.audit_sequence->next()),
            [promise](const caf::error& err) mutable {
              if (err)
                promise.deliver(err);
              else
                promise.deliver(caf::ok_atom::value);
            });
      return promise;
    },
    [self](const domain::visit_id& id, domain::command& cmd) {
      return route<command_reply>(self, id, std::move(cmd));
    },
    [self](const domain::visit_id& id, subscribe_atom, const visit_subscriber& sub) {
      return route<std::uint64_t>(self, id, subscribe_atom::value, sub);
    },
    [self](const domain::visit_id& id, resume_atom, const visit_subscriber& sub,
           std::uint64_t after) {
      return route<std::uint64_t>(self, id, resume_atom::value, sub, after);
    },
    [self](const domain::visit_id& id, unsubscribe_atom, const visit_subscriber& sub) {
      tell_live(self, id, unsubscribe_atom::value, sub);
    },
    [self](const domain::visit_id& id, subscriber_ack_atom, const visit_subscriber& sub,
           std::uint64_t seq) { tell_live(self, id, subscriber_ack_atom::value, sub, seq); },
    [self](const domain::visit_id& id, get_state_atom) {
      return route<domain::visit_state>(self, id, get_state_atom::value);
    },
    [self](dir_read_audit_atom, const domain::tenant_id& tenant, domain::timestamp from,
           domain::timestamp to, std::uint64_t limit) {
      auto promise = self->make_response_promise<audit_entries>();
      promise.delegate(self->state.loader, read_audit_atom::value, tenant, from, to, limit);
      return promise;
    },
    [self](dir_read_visit_atom, const domain::visit_id& id) -> caf::result<domain::visit_state> {
      auto& st = self->state;
      if (st.visits.contains(id))
        return route<domain::visit_state>(self, id, get_state_atom::value);
      // Not served: ended (or unknown). The loader folds it from the store without an actor; a
      // barrier, so a visit that just ended is read with its final events.
      auto promise = self->make_response_promise<domain::visit_state>();
      self->request(st.loader, st.args.options.request_timeout, load_visit_atom::value, id, true)
        .then([promise](loaded_visit& v) mutable { promise.deliver(std::move(v.state)); },
              [promise](caf::error& err) mutable { promise.deliver(err); });
      return promise;
    },
    [self](dir_stats_atom) {
      auto& st = self->state;
      auto s = st.stats;
      s.tenants = st.tenants.size();
      s.visits = st.visits.size();
      s.live_visits = st.by_actor.size();
      s.approval_flows = st.flows.size();
      return s;
    },
    [self](journal_ack_atom, std::uint64_t id, const caf::error& err) {
      self->state.writes.complete(id, err);
    },
    // The journal always acknowledges in the end, and requesters bound their own wait: the
    // continuation waits for the real outcome, so the directory never disagrees with the store.
    [](journal_timeout_atom, std::uint64_t) {},
    [self](sweep_atom) { sweep(self); },
  };
}

}  // namespace

directory spawn_directory(caf::actor_system& system, directory_args args) {
  return system.spawn(directory_behavior, std::move(args));
}

}  // namespace visitd::actors
