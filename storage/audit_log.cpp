#include "storage/audit_log.hpp"

#include "domain/record_codec.hpp"
#include "storage/keys.hpp"

#include <optional>
#include <random>
#include <string>

namespace visitd::storage {

using domain::errc;
using domain::make_error;

namespace {

/// A readable name for an audit key (which holds binary integers): tenant@micros#seq.
std::string describe(std::string_view tenant, std::uint64_t micros, std::uint32_t seq) {
  std::string out{"audit entry "};
  out.append(tenant).append("@").append(std::to_string(micros));
  out.append("#").append(std::to_string(seq));
  return out;
}

}  // namespace

audit_sequence::audit_sequence() : next_(static_cast<std::uint32_t>(std::random_device{}())) {}

std::uint64_t audit_micros(domain::timestamp t) noexcept {
  const auto micros = t.time_since_epoch().count();
  return micros < 0 ? 0 : static_cast<std::uint64_t>(micros);
}

std::vector<write_op> audit_ops(const domain::audit_entry& entry, std::uint32_t seq) {
  return {{column::audit, keys::audit(entry.tenant.str(), audit_micros(entry.at), seq),
           domain::encode_record(entry)}};
}

void add_audit_op(std::vector<write_op>& ops, const domain::audit_entry& entry,
                  audit_sequence& sequence) {
  for (auto& op : audit_ops(entry, sequence.next())) ops.push_back(std::move(op));
}

domain::result<std::vector<domain::audit_entry>> read_audit(const store& source,
                                                            const domain::tenant_id& tenant,
                                                            domain::timestamp from,
                                                            domain::timestamp to,
                                                            std::size_t limit) {
  std::vector<domain::audit_entry> entries;
  const auto from_us = audit_micros(from);
  const auto to_us = audit_micros(to);
  if (limit == 0 || to_us <= from_us) return entries;
  std::optional<domain::error> failure;
  const auto prefix = keys::audit_prefix(tenant.str());
  const auto start = keys::audit_time_start(tenant.str(), from_us);
  auto scanned = source.scan_from(
    column::audit, prefix, start, [&](std::string_view key, std::string_view value) {
      const auto parsed = keys::parse_audit(key);
      if (!parsed || std::get<0>(*parsed) != tenant.str()) {
        failure =
          make_error(errc::storage_failure, "malformed audit key under tenant " + tenant.str());
        return false;
      }
      const auto [key_tenant, micros, seq] = *parsed;
      if (micros >= to_us) return false;
      auto entry = domain::decode_audit_entry(value);
      if (!entry) {
        failure = make_error(errc::storage_failure, describe(key_tenant, micros, seq) +
                                                      " is corrupt: " + entry.err().message);
        return false;
      }
      // A value filed under another tenant's or time's key would leak or reorder entries.
      if (entry->tenant != tenant || audit_micros(entry->at) != micros) {
        failure = make_error(errc::storage_failure,
                             describe(key_tenant, micros, seq) + " is corrupt: its value is for " +
                               describe(entry->tenant.str(), audit_micros(entry->at), seq));
        return false;
      }
      entries.push_back(std::move(*entry));
      return entries.size() < limit;
    });
  if (!scanned) return std::move(scanned).err();
  if (failure) return std::move(*failure);
  return entries;
}

}  // namespace visitd::storage
