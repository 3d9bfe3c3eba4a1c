#pragma once

// How an actor writes through the journal without blocking: the append's completion (on the
// journal's thread) only sends (journal_ack_atom, id, error) back to the actor, and a timer
// sends (journal_timeout_atom, id) if that takes too long. The actor's implementation interface
// extends its public one with `caf::reacts_to<journal_ack_atom, std::uint64_t, caf::error>` and
// `caf::reacts_to<journal_timeout_atom, std::uint64_t>`.

#include "actors/messages.hpp"
#include "storage/journal.hpp"

#include <caf/actor_cast.hpp>
#include <caf/atom.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

namespace visitd::actors {

/// The append `id` finished: `caf::none` when durable, else the journal's error.
using journal_ack_atom = caf::atom_constant<caf::atom("jack")>;
/// The append `id` was not acknowledged within the actor's timeout.
using journal_timeout_atom = caf::atom_constant<caf::atom("jtimeout")>;

/// Appends `ops` for the actor `self` (whose implementation handle type is `Impl`) and arranges
/// for (journal_ack_atom, id, error) to reach it, without any timer: for actors that watch their
/// appends with one timer of their own instead of one per append (a timer is a message through
/// CAF's clock thread, and that thread's wake-ups cost more than the append itself at high
/// rates). The completion holds a weak address, so a pending append does not keep a stopped
/// actor alive.
template <class Impl, class Self>
void append_acked(Self* self, storage::journal& journal, std::vector<storage::write_op>&& ops,
                  std::uint64_t id) {
  journal.append(std::move(ops), [addr = self->address(), id](const domain::result<void>& outcome) {
    auto strong = caf::actor_cast<caf::strong_actor_ptr>(addr);
    if (!strong) return;
    caf::error err;
    if (!outcome) err = to_caf_error(outcome.err());
    caf::anon_send(caf::actor_cast<Impl>(strong), journal_ack_atom::value, id, std::move(err));
  });
}

/// append_acked(), plus (journal_timeout_atom, id) after `timeout`.
template <class Impl, class Self>
void append_with_ack(Self* self, storage::journal& journal, std::vector<storage::write_op>&& ops,
                     std::uint64_t id, std::chrono::milliseconds timeout) {
  append_acked<Impl>(self, journal, std::move(ops), id);
  self->delayed_send(caf::actor_cast<Impl>(self), timeout, journal_timeout_atom::value, id);
}

/// The writes an actor waits for, each with what to do with its outcome: `add` numbers a
/// continuation for append_with_ack(), `complete` runs it when (journal_ack_atom, id, error)
/// arrives (once; unknown ids are ignored).
class pending_writes {
public:
  using continuation = std::function<void(const caf::error&)>;

  [[nodiscard]] std::uint64_t add(continuation then) {
    auto id = next_id_++;
    waiting_.emplace(id, std::move(then));
    return id;
  }

  void complete(std::uint64_t id, const caf::error& outcome) {
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return;
    auto then = std::move(it->second);
    waiting_.erase(it);
    then(outcome);
  }

private:
  std::map<std::uint64_t, continuation> waiting_;
  std::uint64_t next_id_ = 1;
};

}  // namespace visitd::actors
