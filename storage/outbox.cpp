#include "storage/outbox.hpp"

#include "storage/keys.hpp"

#include <optional>

namespace visitd::storage {

namespace {

std::string key_of(const domain::write_back_item& item) {
  return keys::outbox(item.tenant.str(), item.endpoint.str(), item.visit.str(), item.seq);
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

domain::result<outbox_page> read_outbox(const store& source, const domain::tenant_id& tenant,
                                        const domain::endpoint_id& endpoint,
                                        const std::string& after, std::size_t limit) {
  outbox_page page;
  auto prefix = keys::outbox_prefix(tenant.str(), endpoint.str());
  std::string start = after.empty() ? prefix : after + '\0';  // the first key after `after`
  std::size_t seen = 0;
  auto scanned =
    source.scan_from(column::outbox, prefix, start, [&](std::string_view key, std::string_view v) {
      if (seen == limit) {
        return false;
      }
      ++seen;
      page.next_after = std::string{key};
      auto item = domain::decode_write_back(v);
      if (!item || key_of(*item) != key) {
        page.undecodable.emplace_back(key);
        return true;
      }
      page.items.push_back(std::move(*item));
      return true;
    });
  if (!scanned) return std::move(scanned).err();
  if (seen < limit) page.next_after.clear();
  return page;
}

std::string outbox_key(const domain::write_back_item& item) {
  return key_of(item);
}

write_op delivered_op(const domain::write_back_item& item) {
  return {column::outbox, key_of(item), {}, op_kind::erase};
}

std::vector<write_op> dead_letter_ops(const domain::dead_letter& letter) {
  auto key = key_of(letter.item);
  return {{column::outbox, key, {}, op_kind::erase},
          {column::dead_letters, std::move(key), domain::encode(letter)}};
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
