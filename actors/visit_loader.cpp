#include "actors/visit_loader.hpp"

#include "storage/audit_log.hpp"
#include "storage/catalog.hpp"
#include "storage/journal.hpp"
#include "storage/visit_log.hpp"

#include <caf/all.hpp>

#include <functional>
#include <map>

namespace visitd::actors {

namespace {

using barrier_done_atom = caf::atom_constant<caf::atom("lbarrier")>;

using loader_impl = visit_loader::extend<caf::reacts_to<barrier_done_atom, std::uint64_t>>;

domain::result<loaded_visit> load(const visit_loader_args& args, const domain::visit_id& id) {
  auto header = storage::load_visit_header(*args.store, id);
  if (!header) return header.err();
  if (header->events_purged)
    return domain::make_error(domain::errc::conflict,
                              "visit " + id.str() + " has ended and its events were removed");
  auto events = storage::read_events(*args.store, id, 0);
  if (!events) return events.err();
  auto state = domain::fold(header->info, *events);
  if (!state)
    return domain::make_error(
      domain::errc::storage_failure,
      "visit " + id.str() + ": stored events do not fold: " + state.err().message);
  auto keep = std::min(events->size(), args.max_history_events);
  std::vector<domain::event_envelope> history(events->end() - static_cast<std::ptrdiff_t>(keep),
                                              events->end());
  return loaded_visit{std::move(*state), std::move(history)};
}

template <class T>
void deliver(caf::typed_response_promise<T>& promise, domain::result<T> loaded) {
  if (loaded)
    promise.deliver(std::move(*loaded));
  else
    promise.deliver(to_caf_error(loaded.err()));
}

struct loader_state {
  static inline const char* name = "visitd.loader";
  /// Reads that wait for a journal barrier, by barrier number.
  std::map<std::uint64_t, std::function<void()>> barriers;
  std::uint64_t next_barrier = 1;
};

/// Runs `read` once the journal has committed everything queued before now. Journal commits are
/// in append order: once an empty group is acknowledged, every append queued before it (e.g. by
/// an actor that failed with one in flight) is settled. Asynchronous, so the loader never waits
/// on the journal's thread.
void after_barrier(loader_impl::stateful_pointer<loader_state> self, const visit_loader_args& args,
                   std::function<void()> read) {
  auto n = self->state.next_barrier++;
  self->state.barriers.emplace(n, std::move(read));
  auto addr = self->address();
  args.journal->append({}, [addr, n](const domain::result<void>&) {
    if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(addr))
      caf::anon_send(caf::actor_cast<loader_impl>(strong), barrier_done_atom::value, n);
  });
}

loader_impl::behavior_type loader_behavior(loader_impl::stateful_pointer<loader_state> self,
                                           const visit_loader_args& args) {
  return {
    [self, args](load_visit_atom, const domain::visit_id& id,
                 bool barrier) -> caf::result<loaded_visit> {
      auto promise = self->make_response_promise<loaded_visit>();
      if (!barrier) {
        deliver(promise, load(args, id));
        return promise;
      }
      after_barrier(self, args,
                    [promise, args, id]() mutable { deliver(promise, load(args, id)); });
      return promise;
    },
    [self, args](load_tenant_atom,
                 const domain::tenant_id& id) -> caf::result<storage::stored_tenant> {
      auto promise = self->make_response_promise<storage::stored_tenant>();
      after_barrier(self, args, [promise, args, id]() mutable {
        deliver(promise, storage::load_tenant(*args.store, id));
      });
      return promise;
    },
    [self](barrier_done_atom, std::uint64_t n) {
      auto it = self->state.barriers.find(n);
      if (it == self->state.barriers.end()) return;
      auto read = std::move(it->second);
      self->state.barriers.erase(it);
      read();
    },
    [args](read_audit_atom, const domain::tenant_id& tenant, domain::timestamp from,
           domain::timestamp to, std::uint64_t limit) -> caf::result<audit_entries> {
      auto entries = storage::read_audit(*args.store, tenant, from, to, limit);
      if (!entries) return to_caf_error(entries.err());
      return std::move(*entries);
    },
    [args](visit_exists_atom, const domain::visit_id& id) -> caf::result<bool> {
      auto header = storage::load_visit_header(*args.store, id);
      if (header) return true;
      if (header.err().code == domain::errc::not_found) return false;
      return to_caf_error(header.err());
    },
  };
}

}  // namespace

visit_loader spawn_visit_loader(caf::actor_system& system, visit_loader_args args) {
  if (args.detached)
    return caf::actor_cast<visit_loader>(system.spawn<caf::detached>(loader_behavior, args));
  return caf::actor_cast<visit_loader>(system.spawn(loader_behavior, args));
}

}  // namespace visitd::actors
