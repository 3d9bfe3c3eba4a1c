#pragma once

// The write-back outbox and its dead letters (docs/storage.md).
//
// The outbox holds, per endpoint and visit, in key order:
// - the visit's *cursor* (the key with seq 0, which no event has): how far the visit's items
//   have been finished (delivered or dead-lettered). It is written with the visit's header and
//   erased when its last item, the visit's end, is finished. A visit's items themselves are not
//   stored: they are rebuilt from its events after the cursor (domain::write_back_items_after),
//   because the events are stored anyway and a second record per event would double what each
//   append inserts;
// - *entries*: items stored whole under their own key (tenant | endpoint | visit | seq): dead
//   letters an admin re-drove, and items written by builds before the cursors (schema version
//   1). Retention keeps a visit's events while its cursor exists (storage/retention.hpp).
// This module reads both back per endpoint, in key order, and makes the atomic groups that end an
// item: delivered, dead-lettered (stored in `dead_letters`) or re-driven (back as an entry).

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

/// The endpoints that have anything in the outbox (cursors or entries), in key order (one seek per
/// endpoint, not a full scan).
[[nodiscard]] domain::result<std::vector<endpoint_ref>> outbox_endpoints(const store& source);

/// Where a pending item is kept.
enum class outbox_source : std::uint8_t {
  cursor,  ///< Rebuilt from its visit's events after the visit's cursor.
  entry,   ///< Stored whole under its own key.
};

struct pending_item {
  domain::write_back_item item;
  outbox_source source = outbox_source::cursor;
};

/// One page of an endpoint's outbox.
struct outbox_page {
  std::vector<pending_item> items;
  /// What could not be read (an entry or a cursor that does not decode, a visit whose header or
  /// events do not): left in place, described for the log.
  std::vector<std::string> problems;
  /// Visits whose cursor could not be rebuilt (their header or events did not read): nothing
  /// of them is in `items`, and they are worth reading again (`read_visit_outbox`).
  std::vector<domain::visit_id> unreadable;
  /// Cursors with nothing left behind them, of visits that ended: to be erased
  /// (`spent_cursor_op`). A cursor move that lands after the erase by the visit's end (an actor
  /// restarted with its predecessor's writes still queued) leaves one.
  std::vector<std::string> spent_cursors;
  /// The key to continue after, or empty when the outbox was read to its end.
  std::string next_after;
};

/// Up to `limit` keys (cursors and entries) of the endpoint's outbox after `after` (empty: from
/// the start), in key order, with the items they hold: by visit, then by sequence.
[[nodiscard]] domain::result<outbox_page> read_outbox(const store& source,
                                                      const domain::tenant_id& tenant,
                                                      const domain::endpoint_id& endpoint,
                                                      const std::string& after, std::size_t limit);

/// Everything one visit has in the endpoint's outbox (its cursor's items and its entries).
[[nodiscard]] domain::result<outbox_page> read_visit_outbox(const store& source,
                                                            const domain::tenant_id& tenant,
                                                            const domain::endpoint_id& endpoint,
                                                            const domain::visit_id& visit);

/// The outbox key of `item` as an entry (also the key of its dead letter).
[[nodiscard]] std::string outbox_key(const domain::write_back_item& item);

/// Creates a visit's cursor, at nothing finished: written with the visit's header.
[[nodiscard]] write_op open_cursor_op(const domain::visit_info& info);

/// Ends an item as delivered: an entry is erased; a cursor moves past the item, or goes with the
/// visit's end (a visit's items finish in sequence order, and the end is the last).
[[nodiscard]] write_op delivered_op(const pending_item& pending);

/// Ends an item as dead-lettered, storing the letter (one group).
[[nodiscard]] std::vector<write_op> dead_letter_ops(const domain::dead_letter& letter,
                                                    outbox_source source);

/// Erases a spent cursor (`outbox_page::spent_cursors`).
[[nodiscard]] write_op spent_cursor_op(std::string key);

/// Whether a visit's write-back is pending (it still has its cursor).
[[nodiscard]] domain::result<bool> write_back_pending(const store& source,
                                                      const domain::visit_info& info);

/// The ops that give every open visit of a store written before the cursors (schema version 1)
/// a cursor at its last event: its items up to there are entries already.
[[nodiscard]] domain::result<std::vector<write_op>> missing_cursor_ops(const store& source);

/// The dead letters of an endpoint, in key order, at most `limit`, starting after the letter
/// whose item's outbox key is `after` (empty: from the first).
[[nodiscard]] domain::result<std::vector<domain::dead_letter>> read_dead_letters(
  const store& source, const domain::tenant_id& tenant, const domain::endpoint_id& endpoint,
  std::size_t limit, const std::string& after = {});

/// How many dead letters an endpoint has (a key count: nothing is decoded).
[[nodiscard]] domain::result<std::uint64_t> count_dead_letters(const store& source,
                                                               const domain::tenant_id& tenant,
                                                               const domain::endpoint_id& endpoint);

/// Moves dead letters back into the outbox as entries (one group), to be delivered again.
[[nodiscard]] std::vector<write_op> redrive_ops(std::span<const domain::dead_letter> letters);

}  // namespace visitd::storage
