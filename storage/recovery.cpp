#include "storage/recovery.hpp"

#include "domain/record_codec.hpp"
#include "storage/catalog.hpp"
#include "storage/record_scan.hpp"
#include "storage/visit_log.hpp"

#include <optional>

namespace visitd::storage {

using domain::errc;
using domain::make_error;

namespace {}  // namespace

domain::result<recovered_state> recover(const store& source) {
  recovered_state state;
  if (auto ok = scan_records(source, column::tenants, {}, "tenant", domain::decode_tenant,
                             [&](domain::tenant t) { state.tenants.push_back(std::move(t)); });
      !ok)
    return std::move(ok).err();
  if (auto ok =
        scan_records(source, column::endpoints, {}, "endpoint", domain::decode_fhir_endpoint,
                     [&](domain::fhir_endpoint e) { state.endpoints.push_back(std::move(e)); });
      !ok)
    return std::move(ok).err();

  std::vector<domain::visit_info> open;
  if (auto ok = scan_records(source, column::visits, {}, "visit header", decode_header,
                             [&](visit_header h) {
                               if (h.ended_at)
                                 ++state.ended_visits;
                               else
                                 open.push_back(std::move(h.info));
                             });
      !ok)
    return std::move(ok).err();

  state.open_visits.reserve(open.size());
  for (auto& info : open) {
    auto events = read_events(source, info.id);
    if (!events) return std::move(events).err();
    state.events_read += events->size();
    auto id = info.id;
    auto folded = domain::fold(std::move(info), *events);
    if (!folded)
      return make_error(errc::storage_failure,
                        "visit " + id.str() + " does not fold: " + folded.err().message);
    state.open_visits.push_back(std::move(*folded));
  }
  return state;
}

}  // namespace visitd::storage
