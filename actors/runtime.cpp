#include "actors/runtime.hpp"

#include "actors/accounts_actor.hpp"
#include "actors/directory.hpp"
#include "actors/write_back.hpp"
#include "storage/accounts.hpp"
#include "storage/recovery.hpp"
#include "storage/store.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

// GCC 12 reports a false -Wmaybe-uninitialized inside std::variant's move constructor when
// `counted` moves a domain::result of a large aggregate (write_back_status) through
// std::function; the value is always initialized (the variant holds one alternative or the
// other). Only GCC is affected, and only this file's bridges.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace visitd::actors {

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;

/// Answers pings once it has checked the store: a reply proves a scheduler thread ran this
/// actor and the store served a read.
using health_actor = caf::typed_actor<caf::replies_to<ping_atom>::with<caf::ok_atom>>;

health_actor::behavior_type health(health_actor::pointer self, storage::store* store) {
  return {
    [self, store](ping_atom) -> caf::result<caf::ok_atom> {
      if (auto checked = store->check(); !checked)
        return caf::make_error(caf::sec::runtime_error, "store: " + checked.err().message);
      (void)self;
      return caf::ok_atom::value;
    },
  };
}

// Asks `health` once and reports to `done`. Spawned with its arguments rather than as a
// capturing lambda: CAF 0.17.6's init_fun_factory (init_fun_factory.hpp:93) dereferences a
// null shared_ptr<std::tuple<>> when a function actor is spawned without arguments, which
// UBSan reports as a null reference binding.
void readiness_bridge(caf::event_based_actor* self, const health_actor& health,
                      std::chrono::milliseconds timeout,
                      const std::shared_ptr<runtime::completion>& done) {
  self->request(health, timeout, ping_atom::value)
    .then([done](caf::ok_atom) { (*done)({}); },
          [self, done](caf::error& err) {
            auto code =
              err == caf::sec::request_timeout ? domain::errc::timeout : domain::errc::unavailable;
            (*done)(domain::make_error(code, "health actor: " + self->system().render(err)));
          });
}

/// Makes one request on a caller's behalf and hands the outcome to `done` (as readiness_bridge:
/// no caller thread ever waits on an actor).
template <class Reply, class Handle, class... Ts>
void request_bridge(caf::event_based_actor* self, const Handle& target,
                    std::chrono::milliseconds timeout,
                    const std::shared_ptr<std::function<void(domain::result<Reply>)>>& done,
                    const Ts&... xs) {
  self->request(target, timeout, xs...)
    .then([done](Reply& r) { (*done)(std::move(r)); },
          [done](caf::error& err) { (*done)(to_domain_error(err)); });
}

/// Collects every tenant's record: the directory's list of tenant actors, then each actor's own
/// record (the tenant actor owns it), sorted by id. Any failure fails the whole listing.
void list_tenants_bridge(caf::event_based_actor* self, const directory& dir,
                         std::chrono::milliseconds timeout,
                         const std::shared_ptr<runtime::reply<std::vector<domain::tenant>>>& done) {
  self->request(dir, timeout, dir_list_tenants_atom::value)
    .then(
      [self, timeout, done](std::vector<tenant_handles>& handles) {
        auto out = std::make_shared<std::vector<domain::tenant>>();
        auto remaining = std::make_shared<std::size_t>(handles.size());
        auto failed = std::make_shared<bool>(false);
        if (handles.empty()) {
          (*done)(std::vector<domain::tenant>{});
          return;
        }
        for (const auto& h : handles)
          self->request(h.tenant, timeout, get_tenant_atom::value)
            .then(
              [out, remaining, failed, done](domain::tenant& t) {
                out->push_back(std::move(t));
                if (--*remaining == 0 && !*failed) {
                  std::sort(out->begin(), out->end(),
                            [](const auto& a, const auto& b) { return a.id < b.id; });
                  (*done)(std::move(*out));
                }
              },
              [failed, done](caf::error& err) {
                if (*failed) return;
                *failed = true;
                (*done)(to_domain_error(err));
              });
      },
      [done](caf::error& err) { (*done)(to_domain_error(err)); });
}

/// The directory's handles of one tenant, then the tenant actor's record.
void get_tenant_bridge(caf::event_based_actor* self, const directory& dir,
                       std::chrono::milliseconds timeout,
                       const std::shared_ptr<runtime::reply<domain::tenant>>& done,
                       const domain::tenant_id& id) {
  self->request(dir, timeout, dir_tenant_atom::value, id)
    .then(
      [self, timeout, done](tenant_handles& h) {
        self->request(h.tenant, timeout, get_tenant_atom::value)
          .then([done](domain::tenant& t) { (*done)(std::move(t)); },
                [done](caf::error& err) { (*done)(to_domain_error(err)); });
      },
      [done](caf::error& err) { (*done)(to_domain_error(err)); });
}

/// The directory's handles of a tenant, then one request to its tenant actor.
template <class Reply, class... Ts>
void tenant_request_bridge(caf::event_based_actor* self, const directory& dir,
                           std::chrono::milliseconds timeout,
                           const std::shared_ptr<runtime::reply<Reply>>& done,
                           const domain::tenant_id& id, const Ts&... xs) {
  self->request(dir, timeout, dir_tenant_atom::value, id)
    .then(
      [self, timeout, done, xs...](tenant_handles& h) {
        self->request(h.tenant, timeout, xs...)
          .then([done](Reply& r) { (*done)(std::move(r)); },
                [done](caf::error& err) { (*done)(to_domain_error(err)); });
      },
      [done](caf::error& err) { (*done)(to_domain_error(err)); });
}

/// The directory's approval flow of a revision, then one request to it (begin or complete a
/// validation, approve, reject).
template <class Reply, class... Ts>
void flow_bridge(caf::event_based_actor* self, const directory& dir,
                 std::chrono::milliseconds timeout,
                 const std::shared_ptr<runtime::reply<Reply>>& done,
                 const domain::tenant_id& tenant, const domain::endpoint_id& endpoint,
                 domain::revision_number revision, const Ts&... xs) {
  self->request(dir, timeout, dir_approval_flow_atom::value, tenant, endpoint, revision)
    .then(
      [self, timeout, done, xs...](approval_flow& flow) {
        self->request(flow, timeout, xs...)
          .then([done](Reply& r) { (*done)(std::move(r)); },
                [done](caf::error& err) { (*done)(to_domain_error(err)); });
      },
      [done](caf::error& err) { (*done)(to_domain_error(err)); });
}

/// Forwards one visit's stream to a sink and returns credit at once (the sink queues on its own
/// bounded queue: a WebSocket closes a slow client). Subscribes through the directory on start.
visit_subscriber::behavior_type stream_forwarder(
  visit_subscriber::pointer self, const directory& dir, const domain::visit_id& id,
  std::optional<std::uint64_t> after, const std::shared_ptr<visit_stream_sink>& sink,
  std::chrono::milliseconds timeout,
  const std::shared_ptr<runtime::reply<std::shared_ptr<visit_stream>>>& done,
  const std::shared_ptr<visit_stream>& handle) {
  auto me = caf::actor_cast<visit_subscriber>(self);
  // Nothing else stops a forwarder whose sink never cancels (a socket dropped without a close):
  // it ends with the directory, so shutting the runtime down never waits for it.
  auto delivered = std::make_shared<std::uint64_t>(after.value_or(0));  // the last seq sent on
  self->monitor(dir);
  self->set_down_handler([self, sink, delivered](caf::down_msg& dm) {
    sink->on_dropped("service stopping", *delivered);
    self->quit(dm.reason);
  });
  auto on_subscribed = [done, handle](std::uint64_t) { (*done)(handle); };
  auto on_failed = [self, done](caf::error& err) {
    (*done)(to_domain_error(err));
    self->quit();
  };
  if (after)
    self->request(dir, timeout, id, resume_atom::value, me, *after).then(on_subscribed, on_failed);
  else
    self->request(dir, timeout, id, subscribe_atom::value, me).then(on_subscribed, on_failed);
  return {
    [self, dir, id, sink, delivered](snapshot_atom, const domain::visit_state& s) {
      sink->on_snapshot(s);
      *delivered = s.last_seq;
      self->send(dir, id, subscriber_ack_atom::value, caf::actor_cast<visit_subscriber>(self),
                 s.last_seq);
    },
    [self, dir, id, sink, delivered](events_atom, const visit_events& batch) {
      sink->on_events(batch.events);
      *delivered = batch.events.back().seq;
      self->send(dir, id, subscriber_ack_atom::value, caf::actor_cast<visit_subscriber>(self),
                 batch.events.back().seq);
    },
    [self, sink](subscriber_dropped_atom, const subscriber_dropped& d) {
      sink->on_dropped(d.reason, d.last_seq);
      self->quit();
    },
  };
}

/// The directory's handles of a tenant, then its board's list.
void board_list_bridge(caf::event_based_actor* self, const directory& dir,
                       std::chrono::milliseconds timeout,
                       const std::shared_ptr<runtime::reply<std::vector<visit_summary>>>& done,
                       const domain::tenant_id& id, const department_filter& department) {
  self->request(dir, timeout, dir_tenant_atom::value, id)
    .then(
      [self, timeout, done, department](tenant_handles& h) {
        self->request(h.board, timeout, board_list_atom::value, department)
          .then([done](std::vector<visit_summary>& r) { (*done)(std::move(r)); },
                [done](caf::error& err) { (*done)(to_domain_error(err)); });
      },
      [done](caf::error& err) { (*done)(to_domain_error(err)); });
}

/// Forwards a tenant board's stream to a sink, acknowledging each message once the sink has it
/// (the sink queues on its own bounded queue). Finds the board through the directory on start;
/// a board that stops (its tenant restarted) ends the stream with a reason.
board_subscriber::behavior_type board_forwarder(
  board_subscriber::pointer self, const directory& dir, const domain::tenant_id& id,
  const department_filter& department, const std::shared_ptr<board_stream_sink>& sink,
  std::chrono::milliseconds timeout,
  const std::shared_ptr<runtime::reply<std::shared_ptr<visit_stream>>>& done,
  const std::shared_ptr<visit_stream>& handle) {
  auto board = std::make_shared<tenant_board>();
  // Ends with the directory (see stream_forwarder) or with its board (the board stopped).
  self->monitor(dir);
  self->set_down_handler([self, sink](caf::down_msg& dm) {
    sink->on_dropped("board stopped");
    self->quit(dm.reason);
  });
  auto on_failed = [self, done](caf::error& err) {
    (*done)(to_domain_error(err));
    self->quit();
  };
  self->request(dir, timeout, dir_tenant_atom::value, id)
    .then(
      [self, timeout, done, handle, department, board, on_failed, sink](tenant_handles& h) {
        *board = h.board;
        self->monitor(h.board);
        self
          ->request(h.board, timeout, board_subscribe_atom::value,
                    caf::actor_cast<board_subscriber>(self), department)
          .then([done, handle](std::uint64_t) { (*done)(handle); }, on_failed);
      },
      on_failed);
  auto ack = [self, board](std::uint64_t seq) {
    if (*board)
      self->send(*board, board_ack_atom::value, caf::actor_cast<board_subscriber>(self), seq);
  };
  return {
    [sink, ack](board_snapshot_atom, const board_snapshot& s) {
      sink->on_snapshot(s.seq, s.visits);
      ack(s.seq);
    },
    [sink, ack](board_update_atom, const board_update& u) {
      sink->on_update(u.seq, u.visit);
      ack(u.seq);
    },
    [self, sink](board_dropped_atom, const board_dropped& d) {
      sink->on_dropped(d.reason);
      self->quit();
    },
  };
}

/// Stops its forwarder when cancelled or destroyed (the visit removes exited subscribers).
/// `bind` may come after a cancel (the forwarder can answer before spawn returns): then it stops
/// the forwarder at once.
class forwarder_stream final : public visit_stream {
public:
  void bind(caf::actor forwarder) {
    std::lock_guard lock{mutex_};
    if (cancelled_)
      caf::anon_send_exit(forwarder, caf::exit_reason::user_shutdown);
    else
      forwarder_ = std::move(forwarder);
  }
  void cancel() override {
    std::lock_guard lock{mutex_};
    cancelled_ = true;
    if (forwarder_) caf::anon_send_exit(forwarder_, caf::exit_reason::user_shutdown);
    forwarder_ = nullptr;
  }
  ~forwarder_stream() override { cancel(); }

private:
  std::mutex mutex_;
  bool cancelled_ = false;
  caf::actor forwarder_;
};

/// One command through the directory; the visit's last seq afterwards.
void command_bridge(caf::event_based_actor* self, const directory& dir,
                    std::chrono::milliseconds timeout,
                    const std::shared_ptr<runtime::reply<std::uint64_t>>& done,
                    const domain::visit_id& id, const domain::command& cmd) {
  self->request(dir, timeout, id, cmd)
    .then([done](command_reply& r) { (*done)(r.last_seq); },
          [done](caf::error& err) { (*done)(to_domain_error(err)); });
}

class caf_runtime final : public runtime {
public:
  caf_runtime(const runtime_options& options, storage::store& store, storage::journal& journal,
              storage::recovered_state recovered, storage::stored_accounts stored_accounts)
    : config_(make_config(options)), system_(config_), timeout_(options.request_timeout) {
    health_ = system_.spawn(health, &store);
    accounts_args accounts;
    accounts.stored = std::move(stored_accounts);
    accounts.journal = &journal;
    accounts.clock = wall_clock_now;
    accounts.options.session_lifetime = options.session_lifetime;
    accounts.options.session_idle = options.session_idle;
    accounts.audit_sequence = audit_sequence_;
    accounts_ = spawn_accounts_actor(system_, std::move(accounts));
    directory_args args;
    args.journal = &journal;
    args.store = &store;
    args.clock = wall_clock_now;
    args.options.compact_after = options.compact_after;
    args.options.passivate_after = options.passivate_after;
    args.options.request_timeout = options.request_timeout;
    args.regions = options.regions;
    args.audit_sequence = audit_sequence_;
    args.recovered = std::move(recovered);
    // The hub first (visit actors send it their items), then told where endpoints are looked up.
    write_back_args wb;
    wb.journal = &journal;
    wb.store = &store;
    wb.clock = wall_clock_now;
    wb.transport = options.write_back;
    wb.options = options.write_back_tuning;
    write_back_ = spawn_write_back_hub(system_, std::move(wb));
    args.write_back = caf::actor_cast<write_back_sink>(write_back_);
    directory_ = spawn_directory(system_, std::move(args));
    caf::anon_send(write_back_, wb_attach_atom::value, directory_);
  }

  ~caf_runtime() override { shutdown(); }

  void probe_readiness(completion done) override {
    if (stopped_) {
      done(domain::make_error(domain::errc::unavailable, "actor system is shut down"));
      return;
    }
    // A short-lived bridge actor makes the request, so no caller thread ever blocks on a
    // receive (a scoped_actor round trip would stall an io thread; see stack-notes).
    system_.spawn(readiness_bridge, health_, timeout_,
                  std::make_shared<completion>(std::move(done)));
  }

  void sign_in(std::string login, std::string password, std::string remote_address,
               reply<signed_in> done) override {
    ask<signed_in>(accounts_, std::move(done), sign_in_atom::value, std::move(login),
                   std::move(password), std::move(remote_address));
  }

  void authenticate(std::string session_token, reply<session_info> done) override {
    ask<session_info>(accounts_, std::move(done), authenticate_atom::value,
                      std::move(session_token));
  }

  void sign_out(std::string session_token, completion done) override {
    ask_ok(accounts_, std::move(done), sign_out_atom::value, std::move(session_token));
  }

  void ehr_sign_in(domain::tenant_id tenant, domain::ehr_user_id user,
                   reply<signed_in> done) override {
    ask<signed_in>(accounts_, std::move(done), ehr_sign_in_atom::value, std::move(tenant),
                   std::move(user));
  }

  void link_ehr_user(ehr_link_request request, reply<domain::account> done) override {
    ask<domain::account>(accounts_, std::move(done), link_ehr_user_atom::value, std::move(request));
  }

  void create_api_token(new_api_token request, reply<issued_api_token> done) override {
    ask<issued_api_token>(accounts_, std::move(done), create_api_token_atom::value,
                          std::move(request));
  }

  void list_api_tokens(domain::tenant_id tenant,
                       reply<std::vector<domain::api_token>> done) override {
    ask<std::vector<domain::api_token>>(accounts_, std::move(done), list_api_tokens_atom::value,
                                        std::move(tenant));
  }

  void revoke_api_token(api_token_revocation request, completion done) override {
    ask_ok(accounts_, std::move(done), revoke_api_token_atom::value, std::move(request));
  }

  void authenticate_api_token(std::string secret, reply<session_info> done) override {
    ask<session_info>(accounts_, std::move(done), authenticate_token_atom::value,
                      std::move(secret));
  }

  void create_account(new_account request, reply<domain::account> done) override {
    ask<domain::account>(accounts_, std::move(done), create_account_atom::value,
                         std::move(request));
  }

  void create_tenant(domain::tenant tenant, domain::account_id by, std::string after,
                     reply<domain::tenant> done) override {
    ask<tenant_handles>(
      directory_,
      [tenant, done = std::move(done)](domain::result<tenant_handles> created) {
        if (created)
          done(tenant);
        else
          done(std::move(created).err());
      },
      dir_create_tenant_atom::value, tenant, std::move(by), std::move(after));
  }

  void list_tenants(reply<std::vector<domain::tenant>> done) override {
    if (stopped_) {
      done(domain::make_error(domain::errc::unavailable, "actor system is shut down"));
      return;
    }
    system_.spawn(list_tenants_bridge, directory_, timeout_,
                  std::make_shared<reply<std::vector<domain::tenant>>>(std::move(done)));
  }

  void get_tenant(domain::tenant_id id, reply<domain::tenant> done) override {
    if (stopped_) {
      done(domain::make_error(domain::errc::unavailable, "actor system is shut down"));
      return;
    }
    system_.spawn(get_tenant_bridge, directory_, timeout_,
                  std::make_shared<reply<domain::tenant>>(std::move(done)), std::move(id));
  }

  void change_tenant(domain::tenant_id id, tenant_command command,
                     reply<domain::tenant> done) override {
    if (std::holds_alternative<tenant_change::set_write_back>(command)) {
      // The endpoints' write-back reads the new policy.
      done = [hub = write_back_, done = std::move(done),
              tenant = id](domain::result<domain::tenant> r) {
        if (r) caf::anon_send(hub, wb_refresh_atom::value, tenant);
        done(std::move(r));
      };
    }
    spawn_bridge(tenant_request_bridge<domain::tenant, tenant_command>, std::move(done),
                 std::move(id), std::move(command));
  }

  void change_endpoint(domain::tenant_id tenant, endpoint_command command,
                       reply<domain::fhir_endpoint> done) override {
    spawn_bridge(tenant_request_bridge<domain::fhir_endpoint, endpoint_command>, std::move(done),
                 std::move(tenant), std::move(command));
  }

  void list_endpoints(domain::tenant_id tenant,
                      reply<std::vector<domain::fhir_endpoint>> done) override {
    spawn_bridge(tenant_request_bridge<std::vector<domain::fhir_endpoint>, list_endpoints_atom>,
                 std::move(done), std::move(tenant), list_endpoints_atom::value);
  }

  void open_visit(domain::visit_info info, domain::account_id by,
                  reply<domain::visit_state> done) override {
    ask<domain::visit_state>(directory_, std::move(done), dir_open_visit_atom::value,
                             std::move(info), std::move(by));
  }

  void record_audit(domain::audit_entry entry, completion done) override {
    ask_ok(directory_, std::move(done), dir_record_audit_atom::value, std::move(entry));
  }

  void get_visit(domain::visit_id id, reply<domain::visit_state> done) override {
    ask<domain::visit_state>(directory_, std::move(done), std::move(id), get_state_atom::value);
  }

  void read_visit(domain::visit_id id, reply<domain::visit_state> done) override {
    ask<domain::visit_state>(directory_, std::move(done), dir_read_visit_atom::value,
                             std::move(id));
  }

  void read_audit(domain::tenant_id tenant, domain::timestamp from, domain::timestamp to,
                  std::uint64_t limit, reply<std::vector<domain::audit_entry>> done) override {
    ask<audit_entries>(directory_, std::move(done), dir_read_audit_atom::value, std::move(tenant),
                       from, to, limit);
  }

  void subscribe_visit(domain::visit_id id, std::optional<std::uint64_t> after,
                       std::shared_ptr<visit_stream_sink> sink,
                       reply<std::shared_ptr<visit_stream>> done) override {
    spawn_forwarder(stream_forwarder, std::move(done), std::move(id), after, std::move(sink));
  }

  void list_board(domain::tenant_id tenant, std::optional<domain::department_id> department,
                  reply<std::vector<visit_summary>> done) override {
    spawn_bridge(board_list_bridge, std::move(done), std::move(tenant), std::move(department));
  }

  void subscribe_board(domain::tenant_id tenant, std::optional<domain::department_id> department,
                       std::shared_ptr<board_stream_sink> sink,
                       reply<std::shared_ptr<visit_stream>> done) override {
    spawn_forwarder(board_forwarder, std::move(done), std::move(tenant), std::move(department),
                    std::move(sink));
  }

  void visit_command(domain::visit_id id, domain::command command,
                     reply<std::uint64_t> done) override {
    spawn_bridge(command_bridge, std::move(done), std::move(id), std::move(command));
  }

  void decide_revision(domain::tenant_id tenant, domain::endpoint_id endpoint,
                       domain::revision_number revision, domain::account_id by, bool approve,
                       reply<domain::fhir_endpoint> done) override {
    if (approve) {
      // The approved revision may change where and how write-back writes: tell it.
      auto refresh = [hub = write_back_, done = std::move(done), tenant,
                      endpoint](domain::result<domain::fhir_endpoint> r) {
        if (r) caf::anon_send(hub, wb_refresh_atom::value, tenant, endpoint);
        done(std::move(r));
      };
      spawn_bridge(flow_bridge<domain::fhir_endpoint, approve_revision_atom, domain::account_id>,
                   reply<domain::fhir_endpoint>{std::move(refresh)}, std::move(tenant),
                   std::move(endpoint), revision, approve_revision_atom::value, std::move(by));
    } else
      spawn_bridge(flow_bridge<domain::fhir_endpoint, reject_revision_atom, domain::account_id>,
                   std::move(done), std::move(tenant), std::move(endpoint), revision,
                   reject_revision_atom::value, std::move(by));
  }

  void begin_validation(domain::tenant_id tenant, domain::endpoint_id endpoint,
                        domain::revision_number revision, domain::account_id approver,
                        reply<pending_validation> done) override {
    spawn_bridge(flow_bridge<pending_validation, begin_validation_atom, domain::account_id>,
                 std::move(done), std::move(tenant), std::move(endpoint), revision,
                 begin_validation_atom::value, std::move(approver));
  }

  void complete_validation(domain::tenant_id tenant, domain::endpoint_id endpoint,
                           domain::revision_number revision, std::string state,
                           domain::account_id approver, domain::ehr_user_id ehr_user,
                           reply<domain::fhir_endpoint> done) override {
    spawn_bridge(flow_bridge<domain::fhir_endpoint, complete_validation_atom, std::string,
                             domain::account_id, domain::ehr_user_id>,
                 std::move(done), std::move(tenant), std::move(endpoint), revision,
                 complete_validation_atom::value, std::move(state), std::move(approver),
                 std::move(ehr_user));
  }

  void write_back_status(domain::tenant_id tenant, domain::endpoint_id endpoint,
                         reply<actors::write_back_status> done) override {
    ask<actors::write_back_status>(write_back_, std::move(done), wb_status_atom::value,
                                   std::move(tenant), std::move(endpoint));
  }

  void write_back_statuses(reply<std::vector<actors::write_back_status>> done) override {
    ask<std::vector<actors::write_back_status>>(write_back_, std::move(done), wb_list_atom::value);
  }

  void dead_letters(domain::tenant_id tenant, domain::endpoint_id endpoint, std::uint64_t limit,
                    reply<std::vector<domain::dead_letter>> done) override {
    ask<std::vector<domain::dead_letter>>(write_back_, std::move(done), wb_dead_atom::value,
                                          std::move(tenant), std::move(endpoint), limit);
  }

  void redrive_dead_letters(domain::tenant_id tenant, domain::endpoint_id endpoint,
                            reply<std::uint64_t> done) override {
    ask<std::uint64_t>(write_back_, std::move(done), wb_redrive_atom::value, std::move(tenant),
                       std::move(endpoint));
  }

  void shutdown() override {
    if (stopped_.exchange(true)) return;
    // Calls already made are answered first (a closing socket's leave becomes durable), for at
    // most one request timeout; calls made from now on are refused.
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    caf::anon_send_exit(health_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(accounts_, caf::exit_reason::user_shutdown);
    // The directory's links stop every tenant, board, visit actor and the loader with it.
    caf::anon_send_exit(directory_, caf::exit_reason::user_shutdown);
    // Its endpoint actors are linked to it. Items in flight stay in the outbox.
    caf::anon_send_exit(write_back_, caf::exit_reason::user_shutdown);
    system_.await_all_actors_done();
  }

private:
  template <class Reply, class Handle, class... Ts>
  void ask(const Handle& target, reply<Reply> done, Ts... xs) {
    if (stopped_) {
      done(domain::make_error(domain::errc::unavailable, "actor system is shut down"));
      return;
    }
    system_.spawn(request_bridge<Reply, Handle, Ts...>, target, timeout_, counted(std::move(done)),
                  std::move(xs)...);
  }

  /// ask() for requests answered with a plain ok: `done` gets OK or the error.
  template <class Handle, class... Ts>
  void ask_ok(const Handle& target, completion done, Ts... xs) {
    ask<caf::ok_atom>(
      target,
      [done = std::move(done)](domain::result<caf::ok_atom> r) {
        if (r)
          done({});
        else
          done(std::move(r).err());
      },
      std::move(xs)...);
  }

  /// Spawns `forwarder(self, directory, xs..., timeout, done, handle)`, a stream's relay, and
  /// answers `done` with the handle that stops it.
  template <class Forwarder, class... Ts>
  void spawn_forwarder(Forwarder forwarder, reply<std::shared_ptr<visit_stream>> done, Ts... xs) {
    if (stopped_) {
      done(domain::make_error(domain::errc::unavailable, "actor system is shut down"));
      return;
    }
    auto handle = std::make_shared<forwarder_stream>();
    auto spawned =
      system_.spawn(forwarder, directory_, std::move(xs)..., timeout_,
                    std::make_shared<reply<std::shared_ptr<visit_stream>>>(std::move(done)),
                    std::static_pointer_cast<visit_stream>(handle));
    handle->bind(caf::actor_cast<caf::actor>(spawned));
  }

  /// `done`, counted as in flight until it has run (shutdown waits for it).
  template <class Reply>
  std::shared_ptr<reply<Reply>> counted(reply<Reply> done) {
    ++in_flight_;
    return std::make_shared<reply<Reply>>([this, done = std::move(done)](domain::result<Reply> r) {
      done(std::move(r));
      --in_flight_;
    });
  }

  /// Spawns `bridge(self, directory, timeout, done, xs...)` for a request through the directory.
  template <class Reply, class Bridge, class... Ts>
  void spawn_bridge(Bridge bridge, reply<Reply> done, Ts... xs) {
    if (stopped_) {
      done(domain::make_error(domain::errc::unavailable, "actor system is shut down"));
      return;
    }
    system_.spawn(bridge, directory_, timeout_, counted(std::move(done)), std::move(xs)...);
  }

  static caf::actor_system_config make_config(const runtime_options& options) {
    caf::actor_system_config config;
    config.set("scheduler.max-threads", options.actor_threads);
    return config;
  }

  caf::actor_system_config config_;
  caf::actor_system system_;
  /// One per process: every audit writer draws from it (storage/audit_log.hpp).
  std::shared_ptr<storage::audit_sequence> audit_sequence_ =
    std::make_shared<storage::audit_sequence>();
  std::chrono::milliseconds timeout_;
  health_actor health_;
  accounts_actor accounts_;
  directory directory_;
  write_back_hub write_back_;
  std::atomic<bool> stopped_{false};       // read by callers' threads, set by shutdown()
  std::atomic<std::size_t> in_flight_{0};  // calls whose reply has not run yet
};

}  // namespace

std::unique_ptr<runtime> start_runtime(const runtime_options& options, storage::store& store,
                                       storage::journal& journal,
                                       storage::recovered_state recovered,
                                       storage::stored_accounts accounts) {
  return std::make_unique<caf_runtime>(options, store, journal, std::move(recovered),
                                       std::move(accounts));
}

}  // namespace visitd::actors
