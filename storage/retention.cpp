#include "storage/retention.hpp"

#include "storage/catalog.hpp"
#include "storage/keys.hpp"

#include <optional>
#include <string>
#include <vector>

namespace visitd::storage {

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
  return outcome;
}

}  // namespace visitd::storage
