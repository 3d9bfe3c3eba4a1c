#include "actors/tenant_actor.hpp"

#include "actors/journal_ack.hpp"
#include "domain/overloaded.hpp"
#include "domain/record_json.hpp"
#include "storage/audit_log.hpp"
#include "storage/catalog.hpp"
#include "storage/journal.hpp"

#include <caf/all.hpp>

#include <deque>
#include <map>
#include <optional>

namespace visitd::actors {

namespace {

/// The public interface plus the actor's own messages: the journal's acknowledgement and the
/// timer that bounds the wait for it.
using tenant_impl =
  tenant_actor::extend<caf::reacts_to<journal_ack_atom, std::uint64_t, caf::error>,
                       caf::reacts_to<journal_timeout_atom, std::uint64_t>>;

using endpoint_promise = caf::typed_response_promise<domain::fhir_endpoint>;
using tenant_promise = caf::typed_response_promise<domain::tenant>;

/// A requester waiting for an endpoint change or for a change of the tenant itself.
class change_promise {
public:
  explicit change_promise(endpoint_promise p) : p_(std::move(p)) {}
  explicit change_promise(tenant_promise p) : p_(std::move(p)) {}
  [[nodiscard]] bool pending() const {
    return std::visit([](const auto& p) { return p.pending(); }, p_);
  }
  void fail(const caf::error& err) {
    std::visit([&](auto& p) { p.deliver(err); }, p_);
  }
  /// Delivers the record after the change (the one matching the promise's kind).
  void succeed(std::variant<domain::fhir_endpoint, domain::tenant> after) {
    if (auto* e = std::get_if<endpoint_promise>(&p_))
      e->deliver(std::get<domain::fhir_endpoint>(std::move(after)));
    else
      std::get<tenant_promise>(p_).deliver(std::get<domain::tenant>(std::move(after)));
  }

private:
  std::variant<endpoint_promise, tenant_promise> p_;
};

struct tenant_state {
  struct queued {
    std::variant<endpoint_command, tenant_command> command;
    change_promise promise;
  };
  struct writing {
    std::uint64_t id;
    std::variant<domain::fhir_endpoint, domain::tenant> after;
    change_promise promise;
  };

  domain::tenant tenant;
  std::map<std::string, domain::fhir_endpoint> endpoints;  // by endpoint id
  storage::journal* journal = nullptr;
  std::function<domain::timestamp()> clock;
  std::chrono::milliseconds journal_timeout{};
  std::shared_ptr<storage::audit_sequence> audit_sequence;
  std::deque<queued> queue;
  std::optional<writing> in_flight;
  std::uint64_t next_write_id = 1;

  static inline const char* name = "visitd.tenant";
};

using self_pointer = tenant_impl::stateful_pointer<tenant_state>;

const domain::fhir_endpoint* find(const tenant_state& st, const domain::endpoint_id& id) {
  auto it = st.endpoints.find(id.str());
  return it == st.endpoints.end() ? nullptr : &it->second;
}

/// The endpoint after `command`, or the domain's refusal. Pure: nothing is changed here.
domain::result<domain::fhir_endpoint> decide(const tenant_state& st,
                                             const endpoint_command& command,
                                             domain::timestamp now) {
  auto existing =
    [&](const domain::endpoint_id& id) -> domain::result<const domain::fhir_endpoint*> {
    if (auto* e = find(st, id)) return e;
    return domain::make_error(domain::errc::not_found, "no endpoint " + id.str());
  };
  using namespace endpoint_change;
  return std::visit(
    domain::overloaded{
      [&](const create& c) -> domain::result<domain::fhir_endpoint> {
        if (find(st, c.endpoint))
          return domain::make_error(domain::errc::conflict,
                                    "endpoint " + c.endpoint.str() + " already exists");
        return domain::create_endpoint(st.tenant, c.actor, c.endpoint, c.settings, now);
      },
      [&](const propose& c) -> domain::result<domain::fhir_endpoint> {
        auto e = existing(c.endpoint);
        if (!e) return std::move(e).err();
        return domain::propose_change(**e, st.tenant, c.actor, c.settings, now);
      },
      [&](const submit& c) -> domain::result<domain::fhir_endpoint> {
        auto e = existing(c.endpoint);
        if (!e) return std::move(e).err();
        return domain::submit(**e, st.tenant, c.actor, c.revision, now);
      },
      [&](const validate& c) -> domain::result<domain::fhir_endpoint> {
        auto e = existing(c.endpoint);
        if (!e) return std::move(e).err();
        return domain::record_validation(**e, st.tenant, c.actor, c.revision, c.ehr_user, now);
      },
      [&](const approve& c) -> domain::result<domain::fhir_endpoint> {
        auto e = existing(c.endpoint);
        if (!e) return std::move(e).err();
        return domain::approve(**e, st.tenant, c.actor, c.revision, now);
      },
      [&](const reject& c) -> domain::result<domain::fhir_endpoint> {
        auto e = existing(c.endpoint);
        if (!e) return std::move(e).err();
        return domain::reject(**e, st.tenant, c.actor, c.revision, now);
      },
      [&](const revoke& c) -> domain::result<domain::fhir_endpoint> {
        auto e = existing(c.endpoint);
        if (!e) return std::move(e).err();
        return domain::revoke(**e, st.tenant, c.actor, now);
      },
    },
    command);
}

/// The audit entry of an endpoint change: `endpoint.<change>` by the account that made it, on
/// the endpoint, with the endpoint before (empty when created) and after, as the API shows it.
domain::result<domain::audit_entry> audit_entry_of(const tenant_state& st,
                                                   const endpoint_command& command,
                                                   const domain::fhir_endpoint* before,
                                                   const domain::fhir_endpoint& after) {
  using namespace endpoint_change;
  auto [action, actor] = std::visit(domain::overloaded{
                                      [](const create& c) {
                                        return std::pair{"endpoint.create", c.actor};
                                      },
                                      [](const propose& c) {
                                        return std::pair{"endpoint.propose", c.actor};
                                      },
                                      [](const submit& c) {
                                        return std::pair{"endpoint.submit", c.actor};
                                      },
                                      [](const validate& c) {
                                        return std::pair{"endpoint.validate", c.actor};
                                      },
                                      [](const approve& c) {
                                        return std::pair{"endpoint.approve", c.actor};
                                      },
                                      [](const reject& c) {
                                        return std::pair{"endpoint.reject", c.actor};
                                      },
                                      [](const revoke& c) {
                                        return std::pair{"endpoint.revoke", c.actor};
                                      },
                                    },
                                    command);
  return domain::make_audit_entry(
    st.tenant.id, actor, action, after.id.str(), st.clock(),
    before ? domain::json_text(domain::endpoint_json(*before)) : std::string{},
    domain::json_text(domain::endpoint_json(after)));
}

/// The tenant after the operator's `command`, or the domain's refusal. Pure.
domain::result<domain::tenant> decide_tenant(const tenant_state& st,
                                             const tenant_command& command) {
  using namespace tenant_change;
  return std::visit(domain::overloaded{
                      [&](const update& c) {
                        return domain::update_profile(st.tenant, c.display_name, c.admins,
                                                      c.approver);
                      },
                      [&](const suspend&) -> domain::result<domain::tenant> {
                        auto t = st.tenant;
                        if (auto ok = domain::suspend(t); !ok) return std::move(ok).err();
                        return t;
                      },
                      [&](const reactivate&) -> domain::result<domain::tenant> {
                        auto t = st.tenant;
                        if (auto ok = domain::reactivate(t); !ok) return std::move(ok).err();
                        return t;
                      },
                      [&](const set_write_back& c) -> domain::result<domain::tenant> {
                        auto t = st.tenant;
                        if (auto ok = domain::set_write_back_policy(t, c.actor, c.policy); !ok)
                          return std::move(ok).err();
                        return t;
                      },
                    },
                    command);
}

/// A change ready to be written: its ops (the audit entry included) and the record after it.
struct prepared_change {
  std::vector<storage::write_op> ops;
  std::variant<domain::fhir_endpoint, domain::tenant> after;
};

domain::result<prepared_change> prepare(tenant_state& st, const endpoint_command& command) {
  auto after = decide(st, command, st.clock());
  if (!after) return std::move(after).err();
  const auto* before = find(st, after->id);
  auto audit = audit_entry_of(st, command, before, *after);
  if (!audit) return std::move(audit).err();
  prepared_change out{storage::endpoint_ops(before, *after), {}};
  storage::add_audit_op(out.ops, *audit, *st.audit_sequence);
  out.after = std::move(*after);
  return out;
}

/// The operator's tenant changes are box-level actions: audited under `box_tenant()`, as the
/// tenant's creation is (domain/audit.hpp). An admin's change of the write-back policy is the
/// tenant's own, audited under it (`tenant.write_back`); setting the policy it already has
/// writes nothing, so a repeated PUT leaves no audit noise.
domain::result<prepared_change> prepare(tenant_state& st, const tenant_command& command) {
  auto after = decide_tenant(st, command);
  if (!after) return std::move(after).err();
  using namespace tenant_change;
  struct audited {
    const char* action;
    domain::account_id actor;
    bool box_level;
  };
  auto [action, actor, box_level] =
    std::visit(domain::overloaded{
                 [](const update& c) {
                   return audited{"tenant.update", c.actor, true};
                 },
                 [](const suspend& c) {
                   return audited{"tenant.suspend", c.actor, true};
                 },
                 [](const reactivate& c) {
                   return audited{"tenant.reactivate", c.actor, true};
                 },
                 [](const set_write_back& c) {
                   return audited{"tenant.write_back", c.actor, false};
                 },
               },
               command);
  if (!box_level && *after == st.tenant) return prepared_change{{}, std::move(*after)};
  auto audit = domain::make_audit_entry(box_level ? domain::box_tenant() : st.tenant.id, actor,
                                        action, st.tenant.id.str(), st.clock(),
                                        domain::json_text(domain::tenant_json(st.tenant)),
                                        domain::json_text(domain::tenant_json(*after)));
  if (!audit) return std::move(audit).err();
  prepared_change out{storage::tenant_ops(*after), {}};
  storage::add_audit_op(out.ops, *audit, *st.audit_sequence);
  out.after = std::move(*after);
  return out;
}

/// Starts the write of the next queued change the domain accepts, answering refused ones on the
/// way. One write at a time: every change is decided against all the changes before it (an
/// endpoint change after a suspension is refused).
void process_queue(self_pointer self) {
  auto& st = self->state;
  while (!st.in_flight && !st.queue.empty()) {
    // Decided while still queued: should anything throw, on_failure answers it with the rest.
    auto prepared =
      std::visit([&](const auto& c) { return prepare(st, c); }, st.queue.front().command);
    auto next = std::move(st.queue.front());
    st.queue.pop_front();
    if (!prepared) {
      next.promise.fail(to_caf_error(prepared.err()));
      continue;
    }
    if (prepared->ops.empty()) {  // Nothing changes: answered as is, nothing written.
      next.promise.succeed(std::move(prepared->after));
      continue;
    }
    auto id = st.next_write_id++;
    st.in_flight = tenant_state::writing{id, std::move(prepared->after), std::move(next.promise)};
    append_with_ack<tenant_impl>(self, *st.journal, std::move(prepared->ops), id,
                                 st.journal_timeout);
  }
}

void on_ack(self_pointer self, std::uint64_t id, const caf::error& err) {
  auto& st = self->state;
  if (!st.in_flight || st.in_flight->id != id) return;
  auto done = std::move(*st.in_flight);
  st.in_flight.reset();
  if (!err) {
    if (const auto* e = std::get_if<domain::fhir_endpoint>(&done.after))
      st.endpoints.insert_or_assign(e->id.str(), *e);
    else
      st.tenant = std::get<domain::tenant>(done.after);
  }
  // Pending unless the write timed out first (that requester was told "timeout": outcome
  // unknown); a durable change is applied either way, so the state matches the store.
  if (done.promise.pending()) {
    if (err)
      done.promise.fail(err);
    else
      done.promise.succeed(std::move(done.after));
  }
  process_queue(self);
}

/// An exception inside the actor: every request it holds is answered (`unavailable`), so no
/// requester waits for its timeout, and the actor stops with the error; the directory restarts
/// it from the store.
caf::error on_failure(self_pointer self, std::exception_ptr& failure) {
  auto what = exception_message(failure);
  auto& st = self->state;
  auto refused = to_caf_error(domain::errc::unavailable, "tenant actor failed and is restarting");
  if (st.in_flight && st.in_flight->promise.pending()) st.in_flight->promise.fail(refused);
  for (auto& q : st.queue)
    if (q.promise.pending()) q.promise.fail(refused);
  return caf::make_error(caf::sec::runtime_error, std::move(what));
}

}  // namespace

tenant_actor spawn_tenant_actor(caf::actor_system& system, tenant_actor_args args) {
  // Spawned with its arguments (never argument-less: see actors/runtime.cpp on CAF 0.17.6).
  auto behavior = [](self_pointer self, tenant_actor_args a) -> tenant_impl::behavior_type {
    auto& st = self->state;
    st.tenant = std::move(a.tenant);
    for (auto& e : a.endpoints) st.endpoints.insert_or_assign(e.id.str(), std::move(e));
    st.journal = a.journal;
    st.clock = std::move(a.clock);
    st.journal_timeout = a.journal_timeout;
    st.audit_sequence =
      a.audit_sequence ? a.audit_sequence : std::make_shared<storage::audit_sequence>();
    self->set_exception_handler(
      [self](caf::scheduled_actor*, std::exception_ptr& e) { return on_failure(self, e); });
    return {
      [self](get_tenant_atom) -> domain::tenant { return self->state.tenant; },
      [self](list_endpoints_atom) -> std::vector<domain::fhir_endpoint> {
        std::vector<domain::fhir_endpoint> out;
        for (const auto& [id, e] : self->state.endpoints) out.push_back(e);
        return out;
      },
      [self](const endpoint_command& command) -> caf::result<domain::fhir_endpoint> {
        auto promise = self->make_response_promise<domain::fhir_endpoint>();
        self->state.queue.push_back({command, change_promise{promise}});
        process_queue(self);
        return promise;
      },
      [self](const tenant_command& command) -> caf::result<domain::tenant> {
        auto promise = self->make_response_promise<domain::tenant>();
        self->state.queue.push_back({command, change_promise{promise}});
        process_queue(self);
        return promise;
      },
      [self](find_endpoint_atom, const std::string& url) -> caf::result<endpoint_match> {
        const auto& st = self->state;
        bool registered = false;
        for (const auto& [id, e] : st.endpoints) {
          if (const auto* in_force = domain::in_force(e);
              in_force && in_force->settings.base_url == url)
            return endpoint_match{st.tenant.id, e.id, *in_force};
          for (const auto& r : e.revisions) registered |= r.settings.base_url == url;
        }
        return to_caf_error(domain::errc::not_found,
                            registered
                              ? "the endpoint for " + url + " has no approved revision"
                              : "no endpoint of tenant " + st.tenant.id.str() + " uses " + url);
      },
      [self](journal_ack_atom, std::uint64_t id, const caf::error& err) { on_ack(self, id, err); },
      [self](journal_timeout_atom, std::uint64_t id) {
        auto& st = self->state;
        if (st.in_flight && st.in_flight->id == id && st.in_flight->promise.pending())
          st.in_flight->promise.fail(
            to_caf_error(domain::errc::timeout, "the store did not confirm the change in time"));
      },
    };
  };
  auto impl = system.spawn(behavior, std::move(args));
  return caf::actor_cast<tenant_actor>(impl);
}

}  // namespace visitd::actors
