#include "actors/approval_flow.hpp"

#include "fhir/authorization_secrets.hpp"

#include <caf/all.hpp>

#include <cstdint>
#include <optional>
#include <utility>

namespace visitd::actors {

namespace {

/// Sent to self `validation_ttl` after a begin: ends the pending validation of that generation.
/// CAF 0.17 cannot cancel a delayed message, so a stale one (its validation was used or
/// replaced) is recognized by its generation and ignored.
using expire_atom = caf::atom_constant<caf::atom("afexpire")>;
/// Sent to self to check for idleness; at most one is in flight.
using idle_check_atom = caf::atom_constant<caf::atom("afidle")>;

using flow_impl = approval_flow::extend<caf::reacts_to<expire_atom, std::uint64_t>,
                                        caf::reacts_to<idle_check_atom>>;

using endpoint_promise = caf::typed_response_promise<domain::fhir_endpoint>;
using pending_promise = caf::typed_response_promise<pending_validation>;

struct flow_state {
  struct pending {
    fhir::authorization_secrets secrets;
    domain::timestamp expires_at;
    domain::account_id began_by;
    std::uint64_t generation = 0;
  };

  // Not an aggregate: CAF's stateful_actor constructs the state from the actor pointer when it
  // can, and C++20 would accept that for an aggregate whose first member (a typed handle) takes
  // the pointer, failing CAF's signature check at compile time.
  flow_state() = default;

  tenant_actor tenant;
  domain::endpoint_id endpoint;
  domain::revision_number revision;
  std::function<domain::timestamp()> clock;
  std::chrono::milliseconds validation_ttl{};
  std::chrono::milliseconds request_timeout{};
  std::chrono::milliseconds idle_lifetime{};
  std::optional<pending> current;
  std::uint64_t generation = 0;
  std::chrono::steady_clock::time_point last_activity;

  static inline const char* name = "visitd.approval_flow";
};

using self_pointer = flow_impl::stateful_pointer<flow_state>;

std::string revision_name(const flow_state& st) {
  return "revision " + std::to_string(st.revision.value()) + " of endpoint '" + st.endpoint.str() +
         "'";
}

/// What to answer when a request to the tenant actor failed: its domain error as it is; our own
/// request timeout as a domain `timeout` (the change may still happen); a dead tenant actor or
/// any other CAF error as `unavailable`.
caf::error relay(const flow_state& st, const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return to_caf_error(domain::errc::timeout, "the tenant actor did not answer within " +
                                                 std::to_string(st.request_timeout.count()) +
                                                 " ms");
  if (err.category() == domain_error_category) return err;
  return to_caf_error(to_domain_error(err));
}

void touch(self_pointer self) {
  self->state.last_activity = std::chrono::steady_clock::now();
}

void schedule_idle_check(self_pointer self, std::chrono::steady_clock::duration after) {
  self->delayed_send(caf::actor_cast<flow_impl>(self),
                     // Rounded up: a check due in under a millisecond must not spin.
                     std::chrono::ceil<std::chrono::milliseconds>(after), idle_check_atom::value);
}

/// Makes fresh secrets for `approver`, replacing any pending validation, and answers `promise`.
void issue(self_pointer self, pending_promise promise, const domain::account_id& approver) {
  auto& st = self->state;
  auto secrets = fhir::make_authorization_secrets();
  if (!secrets) {
    promise.deliver(to_caf_error(secrets.err()));
    return;
  }
  const auto generation = ++st.generation;
  const auto expires_at =
    st.clock() + std::chrono::duration_cast<domain::duration>(st.validation_ttl);
  pending_validation out{secrets->state, secrets->nonce, secrets->code_verifier,
                         secrets->code_challenge, expires_at};
  st.current = flow_state::pending{std::move(*secrets), expires_at, approver, generation};
  self->delayed_send(caf::actor_cast<flow_impl>(self), st.validation_ttl, expire_atom::value,
                     generation);
  promise.deliver(std::move(out));
}

/// The begin after the tenant check: looks the revision up and submits it if it is a draft.
void begin_for_revision(self_pointer self, pending_promise promise, domain::tenant tenant,
                        const domain::account_id& approver) {
  auto& st = self->state;
  self->request(st.tenant, st.request_timeout, list_endpoints_atom::value)
    .await(
      [self, promise, tenant = std::move(tenant),
       approver](const std::vector<domain::fhir_endpoint>& endpoints) mutable {
        auto& st = self->state;
        const domain::endpoint_revision* revision = nullptr;
        for (const auto& e : endpoints)
          if (e.id == st.endpoint) revision = domain::find_revision(e, st.revision);
        if (!revision) {
          promise.deliver(to_caf_error(domain::errc::not_found, "no " + revision_name(st)));
          return;
        }
        switch (revision->state) {
          case domain::revision_state::awaiting_validation: issue(self, promise, approver); return;
          case domain::revision_state::draft: break;
          default:
            promise.deliver(to_caf_error(domain::errc::conflict,
                                         "cannot validate " + revision_name(st) + ": it is " +
                                           std::string{domain::to_string(revision->state)}));
            return;
        }
        // Submitting is an admin's act (domain/fhir_endpoint.hpp). The flow submits in the
        // approver's name only when the approver is an admin: acting as some other admin would
        // record a submission that nobody made.
        if (!tenant.is_admin(approver)) {
          promise.deliver(to_caf_error(
            domain::errc::conflict,
            revision_name(st) + " is a draft; an admin must submit it before it is validated"));
          return;
        }
        self
          ->request(st.tenant, st.request_timeout,
                    endpoint_command{endpoint_change::submit{approver, st.endpoint, st.revision}})
          .await(
            [self, promise, approver](const domain::fhir_endpoint&) mutable {
              issue(self, promise, approver);
            },
            [self, promise](caf::error& err) mutable { promise.deliver(relay(self->state, err)); });
      },
      [self, promise](caf::error& err) mutable { promise.deliver(relay(self->state, err)); });
}

/// Relays a decision (approve or reject) and stops the flow once the tenant actor accepted it.
caf::result<domain::fhir_endpoint> decide(self_pointer self, endpoint_command command) {
  auto promise = self->make_response_promise<domain::fhir_endpoint>();
  auto& st = self->state;
  self->request(st.tenant, st.request_timeout, std::move(command))
    .await(
      [self, promise](domain::fhir_endpoint& endpoint) mutable {
        promise.deliver(std::move(endpoint));
        // The revision is decided: nothing is left to validate, and the secrets go with us.
        self->state.current.reset();
        self->quit(caf::exit_reason::normal);
      },
      [self, promise](caf::error& err) mutable { promise.deliver(relay(self->state, err)); });
  return promise;
}

}  // namespace

approval_flow spawn_approval_flow(caf::actor_system& system, approval_flow_args args) {
  // Spawned with its arguments (never argument-less: see actors/runtime.cpp on CAF 0.17.6).
  auto behavior = [](self_pointer self, approval_flow_args a) -> flow_impl::behavior_type {
    auto& st = self->state;
    st.tenant = std::move(a.tenant);
    st.endpoint = std::move(a.endpoint);
    st.revision = a.revision;
    st.clock = a.clock ? std::move(a.clock) : wall_clock_now;
    st.validation_ttl = a.validation_ttl;
    st.request_timeout = a.request_timeout;
    st.idle_lifetime = a.idle_lifetime;
    touch(self);
    schedule_idle_check(self, st.idle_lifetime);
    if (st.tenant) {
      self->monitor(st.tenant);
      self->set_down_handler([self](caf::down_msg& msg) {
        if (msg.source == self->state.tenant.address()) self->quit(caf::exit_reason::normal);
      });
    }
    return {
      [self](begin_validation_atom,
             const domain::account_id& approver) -> caf::result<pending_validation> {
        touch(self);
        auto promise = self->make_response_promise<pending_validation>();
        auto& st = self->state;
        // The approver check comes first, from the tenant actor's current tenant: a caller who
        // is not the approver learns nothing and leaves any pending validation as it was.
        self->request(st.tenant, st.request_timeout, get_tenant_atom::value)
          .await(
            [self, promise, approver](domain::tenant& tenant) mutable {
              if (!tenant.is_approver(approver)) {
                promise.deliver(to_caf_error(
                  domain::errc::forbidden, "account '" + approver.str() +
                                             "' is not the approver of tenant '" + tenant.id.str() +
                                             "' and may not validate endpoints"));
                return;
              }
              if (tenant.ehr == domain::ehr_kind::oracle_health) {
                promise.deliver(
                  to_caf_error(domain::errc::conflict,
                               "oracle_health endpoints have no validation step; an admin "
                               "approves them directly"));
                return;
              }
              begin_for_revision(self, promise, std::move(tenant), approver);
            },
            [self, promise](caf::error& err) mutable { promise.deliver(relay(self->state, err)); });
        return promise;
      },
      [self](complete_validation_atom, const std::string& state, const domain::account_id& approver,
             const domain::ehr_user_id& ehr_user) -> caf::result<domain::fhir_endpoint> {
        touch(self);
        auto& st = self->state;
        if (!st.current)
          return to_caf_error(
            domain::errc::conflict,
            "no validation of " + revision_name(st) +
              " is pending (never begun, or used, replaced or expired); begin again");
        if (!fhir::constant_time_equal(state, st.current->secrets.state))
          return to_caf_error(
            domain::errc::invalid_argument,
            "the state does not match the pending validation of " + revision_name(st));
        // A matching state is used up whatever happens next, so a leaked redirect URL cannot be
        // replayed, not even by the right account after a failed attempt.
        auto used = std::move(*st.current);
        st.current.reset();
        if (used.began_by != approver)
          return to_caf_error(domain::errc::forbidden, "the validation of " + revision_name(st) +
                                                         " was begun by another account");
        if (st.clock() >= used.expires_at)
          return to_caf_error(domain::errc::conflict,
                              "the validation of " + revision_name(st) + " expired; begin again");
        auto promise = self->make_response_promise<domain::fhir_endpoint>();
        self
          ->request(st.tenant, st.request_timeout,
                    endpoint_command{
                      endpoint_change::validate{approver, st.endpoint, st.revision, ehr_user}})
          .await(
            [promise](domain::fhir_endpoint& endpoint) mutable {
              promise.deliver(std::move(endpoint));
            },
            [self, promise](caf::error& err) mutable { promise.deliver(relay(self->state, err)); });
        return promise;
      },
      [self](approve_revision_atom,
             const domain::account_id& actor) -> caf::result<domain::fhir_endpoint> {
        touch(self);
        const auto& st = self->state;
        return decide(self, endpoint_change::approve{actor, st.endpoint, st.revision});
      },
      [self](reject_revision_atom,
             const domain::account_id& actor) -> caf::result<domain::fhir_endpoint> {
        touch(self);
        const auto& st = self->state;
        return decide(self, endpoint_change::reject{actor, st.endpoint, st.revision});
      },
      [self](expire_atom, std::uint64_t generation) {
        auto& st = self->state;
        if (st.current && st.current->generation == generation) st.current.reset();
      },
      [self](idle_check_atom) {
        auto& st = self->state;
        const auto idle = std::chrono::steady_clock::now() - st.last_activity;
        if (idle >= st.idle_lifetime)
          self->quit(caf::exit_reason::normal);
        else
          schedule_idle_check(self, st.idle_lifetime - idle);
      },
    };
  };
  auto impl = system.spawn(behavior, std::move(args));
  return caf::actor_cast<approval_flow>(impl);
}

}  // namespace visitd::actors
