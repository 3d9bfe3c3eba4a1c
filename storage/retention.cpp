#include "storage/retention.hpp"

#include "storage/audit_log.hpp"
#include "storage/catalog.hpp"
#include "storage/keys.hpp"
#include "storage/outbox.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace visitd::storage {

namespace {

/// Range-deletes, per tenant of the audit column, the entries before `cutoff_us`; returns how
/// many tenants had any. Tenants are found by seeking past each one's keys (one seek per tenant,
/// not a scan of every entry), and the first key found is that tenant's oldest entry, which
/// says whether it has anything to trim.
domain::result<std::size_t> trim_audit(store& target, std::uint64_t cutoff_us) {
  std::vector<std::string> to_trim;
  std::string next;  // the first key of the next tenant; empty: from the start
  std::string last;  // the tenant before `next`, for messages
  for (;;) {
    std::optional<std::string> tenant;
    bool malformed = false;
    bool old = false;
    auto scanned =
      target.scan_from(column::audit, {}, next, [&](std::string_view key, std::string_view) {
        const auto parsed = keys::parse_audit(key);
        if (!parsed) {
          malformed = true;
          return false;
        }
        tenant = std::string{std::get<0>(*parsed)};
        old = std::get<1>(*parsed) < cutoff_us;
        return false;
      });
    if (!scanned) return std::move(scanned).err();
    if (malformed)
      return domain::make_error(
        domain::errc::storage_failure,
        (last.empty() ? std::string{"the first audit key"} : "the audit key after tenant " + last) +
          " is malformed");
    if (!tenant) break;
    if (old) to_trim.push_back(*tenant);
    next = keys::audit_prefix_end(*tenant);
    last = std::move(*tenant);
  }
  std::vector<write_op> ops;
  ops.reserve(to_trim.size());
  for (const auto& t : to_trim)
    ops.push_back({column::audit, keys::audit_prefix(t), keys::audit_time_start(t, cutoff_us),
                   op_kind::erase_range});
  if (!ops.empty())
    if (auto ok = target.write(ops); !ok) return std::move(ok).err();
  return to_trim.size();
}

}  // namespace

domain::result<retention_outcome> apply_retention(store& target, domain::timestamp now,
                                                  const retention_policy& policy) {
  retention_outcome outcome;
  const auto events_cutoff = now - policy.ended_visit_events;

  // Collect first, write after: never write while a scan holds its snapshot open.
  std::vector<visit_header> to_purge;
  std::optional<domain::error> failure;
  auto scanned = target.scan(column::visits, {}, [&](std::string_view key, std::string_view value) {
    auto header = decode_header(value);
    if (!header) {
      failure =
        domain::make_error(domain::errc::storage_failure, "visit header " + std::string{key} +
                                                            " is corrupt: " + header.err().message);
      return false;
    }
    if (header->ended_at && *header->ended_at < events_cutoff && !header->events_purged)
      to_purge.push_back(std::move(*header));
    return true;
  });
  if (!scanned) return std::move(scanned).err();
  if (failure) return std::move(*failure);

  for (auto& header : to_purge) {
    const auto& id = header.info.id.str();
    // A visit whose write-back is pending keeps its events: its items are rebuilt from them.
    // Its cursor goes once its end is finished (delivered or dead-lettered), and a later pass
    // purges it. The check and the purge are not one atomic step, but only items already
    // delivered can bring an ended visit's cursor back (a restarted endpoint actor delivering
    // again what its predecessor did): nothing pending is lost to the purge.
    auto pending = write_back_pending(target, header.info);
    if (!pending) return std::move(pending).err();
    if (*pending) {
      ++outcome.visits_kept_for_write_back;
      continue;
    }
    header.events_purged = true;
    std::vector<write_op> ops{
      {column::events, keys::event_prefix(id), keys::event_prefix_end(id), op_kind::erase_range},
      {column::visits, keys::visit(id), encode_header(header)},
    };
    if (auto ok = target.write(ops); !ok) return std::move(ok).err();
    ++outcome.visits_purged;
  }

  // Report rows are keyed tenant | day | visit: one range delete per tenant drops every day
  // before the cutoff.
  const auto report_cutoff_day = day_of(now - policy.report_rows);
  std::vector<std::string> tenants;
  scanned = target.scan(column::tenants, {}, [&](std::string_view key, std::string_view) {
    tenants.emplace_back(key);
    return true;
  });
  if (!scanned) return std::move(scanned).err();
  std::vector<write_op> ops;
  ops.reserve(tenants.size());
  for (const auto& t : tenants)
    ops.push_back({column::reports, keys::report_day_start(t, 0),
                   keys::report_day_start(t, report_cutoff_day), op_kind::erase_range});
  if (!ops.empty())
    if (auto ok = target.write(ops); !ok) return std::move(ok).err();
  outcome.tenants_with_reports = tenants.size();

  auto audited = trim_audit(target, audit_micros(now - policy.audit_entries));
  if (!audited) return std::move(audited).err();
  outcome.tenants_with_audit = *audited;
  return outcome;
}

}  // namespace visitd::storage
