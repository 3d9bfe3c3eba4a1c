#pragma once

// The actor side of visitd: owns the CAF actor system and the long-lived actors. Its interface
// has no CAF types, so the http layer and main() stay free of CAF headers, and every call is
// asynchronous: callers pass a completion callback, which is invoked on a CAF worker thread.

#include "actors/account_messages.hpp"
#include "actors/board_stream.hpp"
#include "actors/endpoint_commands.hpp"
#include "actors/visit_stream.hpp"
#include "actors/write_back_types.hpp"
#include "domain/account.hpp"
#include "domain/audit.hpp"
#include "domain/error.hpp"
#include "domain/regions.hpp"
#include "domain/tenant.hpp"
#include "domain/visit.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace visitd::storage {
class journal;
class store;
struct recovered_state;
struct stored_accounts;
}  // namespace visitd::storage

namespace visitd::actors {

struct runtime_options {
  /// CAF scheduler worker threads (CAF's own default is max(cores, 4), too many on 2 cores).
  std::size_t actor_threads = 2;
  /// Timeout of every request the runtime makes on a caller's behalf.
  std::chrono::milliseconds request_timeout{2000};
  /// Idle visit actors keep their state encoded after this, and stop after `passivate_after`.
  std::chrono::milliseconds compact_after{std::chrono::seconds{30}};
  std::chrono::milliseconds passivate_after{std::chrono::minutes{10}};
  /// The regions this box serves; new tenants must be in one of them.
  domain::region_list regions{};
  /// Sessions and sign-in limits (actors/accounts_actor.hpp).
  std::chrono::seconds session_lifetime{std::chrono::hours{12}};
  std::chrono::seconds session_idle{std::chrono::minutes{30}};
  /// How write-back reaches the EHR (empty: items wait in the outbox) and its tunables.
  write_back_transport write_back{};
  write_back_options write_back_tuning{};
};

/// Owns the actor system. Destroying it stops every actor and joins the scheduler threads.
class runtime {
public:
  using completion = std::function<void(domain::result<void>)>;

  virtual ~runtime() = default;

  /// Asks the health actor to prove the actor system schedules work and the store answers
  /// reads. `done` is called exactly once, from a CAF thread: OK, or an error saying what failed
  /// (unavailable, or timeout after `request_timeout`). Never blocks the caller.
  virtual void probe_readiness(completion done) = 0;

  template <class T>
  using reply = std::function<void(domain::result<T>)>;

  /// The accounts actor's sign-in, session look-up, sign-out and account creation
  /// (actors/accounts_actor.hpp says what each answers). `done` runs once, on a CAF thread.
  virtual void sign_in(std::string login, std::string password, std::string remote_address,
                       reply<signed_in> done) = 0;
  virtual void authenticate(std::string session_token, reply<session_info> done) = 0;
  virtual void sign_out(std::string session_token, completion done) = 0;
  virtual void create_account(new_account request, reply<domain::account> done) = 0;
  virtual void link_ehr_user(ehr_link_request request, reply<domain::account> done) = 0;
  virtual void ehr_sign_in(domain::tenant_id tenant, domain::ehr_user_id user,
                           reply<signed_in> done) = 0;
  /// API tokens (actors/accounts_actor.hpp): made, listed and revoked by a tenant's admins;
  /// `authenticate_api_token` is the look-up of a request carrying one.
  virtual void create_api_token(new_api_token request, reply<issued_api_token> done) = 0;
  virtual void list_api_tokens(domain::tenant_id tenant,
                               reply<std::vector<domain::api_token>> done) = 0;
  virtual void revoke_api_token(api_token_revocation request, completion done) = 0;
  virtual void authenticate_api_token(std::string secret, reply<session_info> done) = 0;

  /// Tenants (the directory and each tenant's actor). `create_tenant`: `after` is the caller's
  /// JSON of the tenant for the audit entry written with it. `list_tenants`: every tenant's
  /// record, ordered by id.
  virtual void create_tenant(domain::tenant tenant, domain::account_id by, std::string after,
                             reply<domain::tenant> done) = 0;
  virtual void list_tenants(reply<std::vector<domain::tenant>> done) = 0;
  virtual void get_tenant(domain::tenant_id id, reply<domain::tenant> done) = 0;
  /// The operator's update, suspension or reactivation of a tenant (its tenant actor decides
  /// with the domain's rules, and audits it under the box): the tenant after the change.
  virtual void change_tenant(domain::tenant_id id, tenant_command command,
                             reply<domain::tenant> done) = 0;

  /// Endpoints of a tenant (its tenant actor decides every change with the domain's rules).
  /// `decide_revision` approves (`approve`) or rejects a revision through the revision's
  /// approval flow.
  virtual void change_endpoint(domain::tenant_id tenant, endpoint_command command,
                               reply<domain::fhir_endpoint> done) = 0;
  virtual void list_endpoints(domain::tenant_id tenant,
                              reply<std::vector<domain::fhir_endpoint>> done) = 0;
  /// Visits through the directory: `open_visit` creates one durably (audited as `by`'s
  /// `visit.open`) or returns the open one with
  /// that id; `get_visit` answers `not_found` for ids the directory does not serve (unknown or
  /// ended and passivated).
  virtual void open_visit(domain::visit_info info, domain::account_id by,
                          reply<domain::visit_state> done) = 0;
  /// Writes an audit entry for an action that changes no record (issuing a join link); `done`
  /// once it is durable.
  virtual void record_audit(domain::audit_entry entry, completion done) = 0;
  virtual void get_visit(domain::visit_id id, reply<domain::visit_state> done) = 0;
  /// As get_visit, but an ended visit the directory no longer serves is read from the store.
  virtual void read_visit(domain::visit_id id, reply<domain::visit_state> done) = 0;
  /// Subscribes `sink` to a visit: a snapshot, then every event; with `after`, the events after
  /// that seq instead of a snapshot. `done` gets the stream (cancel it to stop) or the error.
  virtual void subscribe_visit(domain::visit_id id, std::optional<std::uint64_t> after,
                               std::shared_ptr<visit_stream_sink> sink,
                               reply<std::shared_ptr<visit_stream>> done) = 0;
  /// A tenant's board: its open visits and those ended within the board's retention (a day),
  /// filtered by department if given, ordered by scheduled start.
  virtual void list_board(domain::tenant_id tenant, std::optional<domain::department_id> department,
                          reply<std::vector<visit_summary>> done) = 0;
  /// Subscribes `sink` to a tenant's board: a snapshot, then every change (filtered by
  /// department if given). `done` gets the stream (cancel it to stop) or the error (`not_found`
  /// for an unknown tenant).
  virtual void subscribe_board(domain::tenant_id tenant,
                               std::optional<domain::department_id> department,
                               std::shared_ptr<board_stream_sink> sink,
                               reply<std::shared_ptr<visit_stream>> done) = 0;
  /// Runs a visit command (a join, a leave, ...) through the directory; `done` gets the visit's
  /// last seq once the events are durable.
  virtual void visit_command(domain::visit_id id, domain::command command,
                             reply<std::uint64_t> done) = 0;

  /// A tenant's audit entries (or the box's: `domain::box_tenant()`) with from <= at < to,
  /// oldest first, at most `limit`.
  virtual void read_audit(domain::tenant_id tenant, domain::timestamp from, domain::timestamp to,
                          std::uint64_t limit, reply<std::vector<domain::audit_entry>> done) = 0;

  virtual void decide_revision(domain::tenant_id tenant, domain::endpoint_id endpoint,
                               domain::revision_number revision, domain::account_id by,
                               bool approve, reply<domain::fhir_endpoint> done) = 0;
  /// The approver's EHR sign-in at a revision's URL, through the revision's approval flow
  /// (actors/approval_flow.hpp): `begin_validation` makes the sign-in's secrets;
  /// `complete_validation` records the revision validated by `ehr_user` once `state` matches.
  virtual void begin_validation(domain::tenant_id tenant, domain::endpoint_id endpoint,
                                domain::revision_number revision, domain::account_id approver,
                                reply<pending_validation> done) = 0;
  virtual void complete_validation(domain::tenant_id tenant, domain::endpoint_id endpoint,
                                   domain::revision_number revision, std::string state,
                                   domain::account_id approver, domain::ehr_user_id ehr_user,
                                   reply<domain::fhir_endpoint> done) = 0;

  /// Write-back (actors/write_back.hpp): an endpoint's status, every endpoint's (for
  /// /metrics), its dead letters (at most `limit`), and their re-drive (how many went back to
  /// the outbox). Approving a revision tells the endpoint's write-back on its own.
  virtual void write_back_status(domain::tenant_id tenant, domain::endpoint_id endpoint,
                                 reply<actors::write_back_status> done) = 0;
  virtual void write_back_statuses(reply<std::vector<actors::write_back_status>> done) = 0;
  virtual void dead_letters(domain::tenant_id tenant, domain::endpoint_id endpoint,
                            std::uint64_t limit, reply<std::vector<domain::dead_letter>> done) = 0;
  virtual void redrive_dead_letters(domain::tenant_id tenant, domain::endpoint_id endpoint,
                                    reply<std::uint64_t> done) = 0;

  /// Stops all actors and waits for them. Idempotent. Call before closing the store.
  virtual void shutdown() = 0;
};

/// Starts the actor system and its long-lived actors: the health actor, the accounts actor
/// (from `accounts`) and the directory, which spawns the tenants and open visits of `recovered`.
/// `store` and `journal` must outlive the runtime (or at least its shutdown()).
[[nodiscard]] std::unique_ptr<runtime> start_runtime(const runtime_options& options,
                                                     storage::store& store,
                                                     storage::journal& journal,
                                                     storage::recovered_state recovered,
                                                     storage::stored_accounts accounts);

}  // namespace visitd::actors
