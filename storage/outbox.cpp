#include "storage/outbox.hpp"

#include "storage/catalog.hpp"
#include "storage/keys.hpp"
#include "storage/visit_log.hpp"

#include <algorithm>
#include <limits>
#include <optional>

namespace visitd::storage {

namespace {

std::string key_of(const domain::write_back_item& item) {
  return keys::outbox(item.tenant.str(), item.endpoint.str(), item.visit.str(), item.seq);
}

/// Events start at seq 1, so seq 0 is free for the visit's cursor, which then sorts before the
/// visit's entries.
constexpr std::uint64_t cursor_seq = 0;

std::string cursor_key(const domain::write_back_item& item) {
  return keys::outbox(item.tenant.str(), item.endpoint.str(), item.visit.str(), cursor_seq);
}

constexpr std::uint8_t cursor_format_version = 1;

/// A cursor's value: u8 version | u64 seq of the last finished item (0: none).
std::string encode_cursor(std::uint64_t finished) {
  std::string out(1, static_cast<char>(cursor_format_version));
  keys::append_u64(out, finished);
  return out;
}

std::optional<std::uint64_t> decode_cursor(std::string_view bytes) {
  if (bytes.size() != 9 || static_cast<std::uint8_t>(bytes[0]) != cursor_format_version)
    return std::nullopt;
  return keys::read_u64(bytes.substr(1));
}

/// A cursor found by a scan.
struct found_cursor {
  std::string key;
  domain::visit_id visit;
  std::uint64_t finished = 0;
};

/// The pending items behind `cursor` of the endpoint's outbox, into `page`.
void rebuild(const store& source, const domain::tenant_id& tenant,
             const domain::endpoint_id& endpoint, found_cursor& cursor, outbox_page& page) {
  const auto& visit = cursor.visit.str();
  // Worth reading again later: the store failed, or the visit's records do not decode.
  auto unreadable = [&](std::string what, const domain::error& why) {
    page.problems.push_back(std::move(what).append(": ").append(why.message));
    page.unreadable.push_back(cursor.visit);
  };
  auto header = load_visit_header(source, cursor.visit);
  if (!header) {
    unreadable("the cursor of visit " + visit + " has no readable visit header", header.err());
    return;
  }
  if (header->info.tenant != tenant || header->info.endpoint != endpoint) {
    page.problems.push_back("the cursor of visit " + visit + " is under another endpoint");
    return;
  }
  if (header->events_purged) {
    // Retention purges no visit with a cursor, so this one came back after the visit's end
    // erased it: nothing is behind it.
    page.spent_cursors.push_back(std::move(cursor.key));
    return;
  }
  auto events = read_events(source, cursor.visit);
  if (!events) {
    unreadable("the events of visit " + visit + " could not be read", events.err());
    return;
  }
  auto items = domain::write_back_items_after(header->info, *events, cursor.finished);
  if (items.empty() && header->ended_at) {
    page.spent_cursors.push_back(std::move(cursor.key));
    return;
  }
  for (auto& item : items) page.items.push_back({std::move(item), outbox_source::cursor});
}

}  // namespace

domain::result<std::vector<endpoint_ref>> outbox_endpoints(const store& source) {
  std::vector<endpoint_ref> out;
  std::string start;
  std::optional<domain::error> failure;
  for (;;) {
    std::optional<endpoint_ref> found;
    std::string next;
    auto scanned =
      source.scan_from(column::outbox, {}, start, [&](std::string_view key, std::string_view) {
        auto parts = keys::parse_outbox(key);
        if (!parts) {
          failure = domain::make_error(domain::errc::storage_failure, "malformed outbox key");
          return false;
        }
        auto tenant = domain::tenant_id::parse(parts->tenant);
        auto endpoint = domain::endpoint_id::parse(parts->endpoint);
        if (!tenant || !endpoint) {
          failure = domain::make_error(domain::errc::storage_failure, "malformed outbox key");
          return false;
        }
        found = endpoint_ref{*tenant, *endpoint};
        // The first key after every key of this endpoint: its prefix with the last separator
        // bumped by one.
        next = keys::outbox_prefix(parts->tenant, parts->endpoint);
        next.back() = static_cast<char>(keys::separator + 1);
        return false;
      });
    if (!scanned) return std::move(scanned).err();
    if (failure) return std::move(*failure);
    if (!found) return out;
    out.push_back(std::move(*found));
    start = std::move(next);
  }
}

namespace {

/// Up to `limit` keys under `prefix` (an endpoint's or one visit's) from `start` on.
domain::result<outbox_page> read_under(const store& source, const domain::tenant_id& tenant,
                                       const domain::endpoint_id& endpoint,
                                       const std::string& prefix, const std::string& start,
                                       std::size_t limit) {
  outbox_page page;
  // Cursors are collected in key order with the entries around them and rebuilt after the scan,
  // whose snapshot should not stay open over the reads of every visit's events.
  std::vector<std::pair<std::size_t, found_cursor>> cursors;  // with the item index they go at
  std::size_t seen = 0;
  auto scanned =
    source.scan_from(column::outbox, prefix, start, [&](std::string_view key, std::string_view v) {
      if (seen == limit) {
        return false;
      }
      ++seen;
      page.next_after = std::string{key};
      auto parts = keys::parse_outbox(key);
      if (parts && parts->seq == cursor_seq) {
        auto visit = domain::visit_id::parse(parts->visit);
        auto finished = decode_cursor(v);
        if (!visit || !finished) {
          page.problems.push_back("an outbox cursor does not decode (" +
                                  std::to_string(key.size()) + " bytes of key)");
          return true;
        }
        cursors.push_back({page.items.size(), {std::string{key}, std::move(*visit), *finished}});
        return true;
      }
      auto item = domain::decode_write_back(v);
      if (!item || key_of(*item) != key) {
        page.problems.push_back("an outbox entry does not decode (" + std::to_string(key.size()) +
                                " bytes of key)");
        return true;
      }
      page.items.push_back({std::move(*item), outbox_source::entry});
      return true;
    });
  if (!scanned) return std::move(scanned).err();
  if (seen < limit) page.next_after.clear();
  if (cursors.empty()) return page;
  // Splice each visit's rebuilt items in where its cursor was, keeping key order.
  auto entries = std::move(page.items);
  page.items.clear();
  std::size_t next_entry = 0;
  for (auto& [at, cursor] : cursors) {
    for (; next_entry < at; ++next_entry) page.items.push_back(std::move(entries[next_entry]));
    rebuild(source, tenant, endpoint, cursor, page);
  }
  for (; next_entry < entries.size(); ++next_entry)
    page.items.push_back(std::move(entries[next_entry]));
  // A visit's cursor sorts before its entries, whose items (re-driven ones) may come before the
  // cursor's: back to key order, by visit then seq (ids hold no 0x00, so comparing ids compares
  // keys).
  std::stable_sort(page.items.begin(), page.items.end(), [](const auto& a, const auto& b) {
    if (a.item.visit != b.item.visit) return a.item.visit.str() < b.item.visit.str();
    return a.item.seq < b.item.seq;
  });
  return page;
}

}  // namespace

domain::result<outbox_page> read_outbox(const store& source, const domain::tenant_id& tenant,
                                        const domain::endpoint_id& endpoint,
                                        const std::string& after, std::size_t limit) {
  auto prefix = keys::outbox_prefix(tenant.str(), endpoint.str());
  std::string start = after.empty() ? prefix : after + '\0';  // the first key after `after`
  return read_under(source, tenant, endpoint, prefix, start, limit);
}

domain::result<outbox_page> read_visit_outbox(const store& source, const domain::tenant_id& tenant,
                                              const domain::endpoint_id& endpoint,
                                              const domain::visit_id& visit) {
  auto prefix = keys::outbox_visit_prefix(tenant.str(), endpoint.str(), visit.str());
  // No limit: the read ends at the visit's last key, so `next_after` comes back empty.
  return read_under(source, tenant, endpoint, prefix, prefix,
                    std::numeric_limits<std::size_t>::max());
}

std::string outbox_key(const domain::write_back_item& item) {
  return key_of(item);
}

write_op open_cursor_op(const domain::visit_info& info) {
  return {column::outbox,
          keys::outbox(info.tenant.str(), info.endpoint.str(), info.id.str(), cursor_seq),
          encode_cursor(0)};
}

write_op delivered_op(const pending_item& pending) {
  const auto& item = pending.item;
  if (pending.source == outbox_source::entry)
    return {column::outbox, key_of(item), {}, op_kind::erase};
  if (item.kind == domain::write_back_kind::visit_ended)
    return {column::outbox, cursor_key(item), {}, op_kind::erase};
  return {column::outbox, cursor_key(item), encode_cursor(item.seq)};
}

std::vector<write_op> dead_letter_ops(const domain::dead_letter& letter, outbox_source source) {
  return {delivered_op({letter.item, source}),
          {column::dead_letters, key_of(letter.item), domain::encode(letter)}};
}

write_op spent_cursor_op(std::string key) {
  return {column::outbox, std::move(key), {}, op_kind::erase};
}

domain::result<bool> write_back_pending(const store& source, const domain::visit_info& info) {
  auto cursor = source.get(column::outbox, keys::outbox(info.tenant.str(), info.endpoint.str(),
                                                        info.id.str(), cursor_seq));
  if (cursor) return true;
  if (cursor.err().code == domain::errc::not_found) return false;
  return std::move(cursor).err();
}

domain::result<std::vector<write_op>> missing_cursor_ops(const store& source) {
  std::vector<domain::visit_info> open;
  std::optional<domain::error> failure;
  auto scanned = source.scan(column::visits, {}, [&](std::string_view, std::string_view value) {
    auto header = decode_header(value);
    if (!header) {
      failure = domain::make_error(domain::errc::storage_failure,
                                   "a visit header is corrupt: " + header.err().message);
      return false;
    }
    if (!header->ended_at) open.push_back(std::move(header->info));
    return true;
  });
  if (!scanned) return std::move(scanned).err();
  if (failure) return std::move(*failure);
  std::vector<write_op> ops;
  for (const auto& info : open) {
    auto events = read_events(source, info.id);
    if (!events) return std::move(events).err();
    auto op = open_cursor_op(info);
    op.value = encode_cursor(events->empty() ? 0 : events->back().seq);
    ops.push_back(std::move(op));
  }
  return ops;
}

domain::result<std::vector<domain::dead_letter>> read_dead_letters(
  const store& source, const domain::tenant_id& tenant, const domain::endpoint_id& endpoint,
  std::size_t limit, const std::string& after) {
  std::vector<domain::dead_letter> out;
  std::optional<domain::error> failure;
  auto prefix = keys::outbox_prefix(tenant.str(), endpoint.str());
  std::string start = after.empty() ? prefix : after + '\0';  // the first key after `after`
  auto scanned = source.scan_from(
    column::dead_letters, prefix, start, [&](std::string_view, std::string_view value) {
      if (out.size() == limit) return false;
      auto letter = domain::decode_dead_letter(value);
      if (!letter) {
        failure = domain::make_error(domain::errc::storage_failure,
                                     "a dead letter does not decode: " + letter.err().message);
        return false;
      }
      out.push_back(std::move(*letter));
      return true;
    });
  if (!scanned) return std::move(scanned).err();
  if (failure) return std::move(*failure);
  return out;
}

domain::result<std::uint64_t> count_dead_letters(const store& source,
                                                 const domain::tenant_id& tenant,
                                                 const domain::endpoint_id& endpoint) {
  std::uint64_t n = 0;
  auto scanned =
    source.scan(column::dead_letters, keys::outbox_prefix(tenant.str(), endpoint.str()),
                [&](std::string_view, std::string_view) {
                  ++n;
                  return true;
                });
  if (!scanned) return std::move(scanned).err();
  return n;
}

std::vector<write_op> redrive_ops(std::span<const domain::dead_letter> letters) {
  std::vector<write_op> ops;
  ops.reserve(letters.size() * 2);
  for (const auto& letter : letters) {
    auto key = key_of(letter.item);
    ops.push_back({column::dead_letters, key, {}, op_kind::erase});
    ops.push_back({column::outbox, std::move(key), domain::encode(letter.item)});
  }
  return ops;
}

}  // namespace visitd::storage
