#pragma once

// The write-back outbox and its dead letters (docs/storage.md). Outbox entries are written with
// the visit events that cause them (storage/visit_log.hpp); this module reads them back per
// endpoint, in key order (per visit, in sequence order), and makes the atomic groups that end an
// entry: delivered (erased), dead-lettered (moved to `dead_letters`) or re-driven (moved back).

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/write_back.hpp"
#include "storage/store.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace visitd::storage {

/// A tenant's endpoint.
using endpoint_ref = std::pair<domain::tenant_id, domain::endpoint_id>;

/// The endpoints that have outbox entries, in key order (one seek per endpoint, not a full
/// scan).
[[nodiscard]] domain::result<std::vector<endpoint_ref>> outbox_endpoints(const store& source);

/// One page of an endpoint's outbox.
struct outbox_page {
  std::vector<domain::write_back_item> items;
  /// Entries that do not decode (a corrupt store): their keys, left in place and reported.
  std::vector<std::string> undecodable;
  /// The key to continue after, or empty when the outbox was read to its end.
  std::string next_after;
};

/// Up to `limit` entries of the endpoint's outbox whose keys come after `after` (empty: from the
/// start), in key order: by visit, then by sequence.
[[nodiscard]] domain::result<outbox_page> read_outbox(const store& source,
                                                      const domain::tenant_id& tenant,
                                                      const domain::endpoint_id& endpoint,
                                                      const std::string& after, std::size_t limit);

/// The outbox key of `item`.
[[nodiscard]] std::string outbox_key(const domain::write_back_item& item);

/// Ends an entry as delivered.
[[nodiscard]] write_op delivered_op(const domain::write_back_item& item);

/// Moves an entry to the dead letters (one group).
[[nodiscard]] std::vector<write_op> dead_letter_ops(const domain::dead_letter& letter);

/// The dead letters of an endpoint, in key order, at most `limit`, starting after the letter
/// whose item's outbox key is `after` (empty: from the first).
[[nodiscard]] domain::result<std::vector<domain::dead_letter>> read_dead_letters(
  const store& source, const domain::tenant_id& tenant, const domain::endpoint_id& endpoint,
  std::size_t limit, const std::string& after = {});

/// How many dead letters an endpoint has (a key count: nothing is decoded).
[[nodiscard]] domain::result<std::uint64_t> count_dead_letters(const store& source,
                                                               const domain::tenant_id& tenant,
                                                               const domain::endpoint_id& endpoint);

/// Moves dead letters back into the outbox (one group), to be delivered again.
[[nodiscard]] std::vector<write_op> redrive_ops(std::span<const domain::dead_letter> letters);

}  // namespace visitd::storage
