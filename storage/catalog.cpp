#include "storage/catalog.hpp"

#include "domain/binary.hpp"
#include "domain/record_codec.hpp"
#include "storage/keys.hpp"
#include "storage/outbox.hpp"
#include "storage/record_scan.hpp"

#include <optional>
#include <set>

namespace visitd::storage {

using domain::errc;
using domain::make_error;

namespace {

// endpoint_by_url: normalized URL | 0x00 | tenant id | 0x00 | endpoint id -> empty. A URL may
// (mistakenly or deliberately) be registered by more than one endpoint; a prefix scan finds all.
std::string url_index_key(std::string_view url, const domain::fhir_endpoint& e) {
  std::string key{url};
  key.push_back(keys::separator);
  key.append(keys::endpoint(e.tenant.str(), e.id.str()));
  return key;
}

std::set<std::string> urls_of(const domain::fhir_endpoint& e) {
  std::set<std::string> urls;
  for (const auto& r : e.revisions) urls.insert(r.settings.base_url);
  return urls;
}

constexpr std::uint8_t header_format_version = 1;
constexpr std::uint8_t header_ended = 1;
constexpr std::uint8_t header_purged = 2;

}  // namespace

std::vector<write_op> tenant_ops(const domain::tenant& t) {
  return {{column::tenants, keys::tenant(t.id.str()), domain::encode_record(t)}};
}

std::vector<write_op> endpoint_ops(const domain::fhir_endpoint* before,
                                   const domain::fhir_endpoint& after) {
  std::vector<write_op> ops;
  ops.push_back({column::endpoints, keys::endpoint(after.tenant.str(), after.id.str()),
                 domain::encode_record(after)});
  auto now_used = urls_of(after);
  if (before)
    for (const auto& url : urls_of(*before))
      if (!now_used.contains(url))
        ops.push_back({column::endpoint_by_url, url_index_key(url, *before), {}, op_kind::erase});
  for (const auto& url : now_used)
    ops.push_back({column::endpoint_by_url, url_index_key(url, after), {}});
  return ops;
}

domain::result<std::vector<std::pair<domain::tenant_id, domain::endpoint_id>>>
find_endpoints_by_url(const store& source, std::string_view normalized_base_url) {
  std::string prefix{normalized_base_url};
  prefix.push_back(keys::separator);
  std::vector<std::pair<domain::tenant_id, domain::endpoint_id>> found;
  std::optional<domain::error> failure;
  auto scanned =
    source.scan(column::endpoint_by_url, prefix, [&](std::string_view key, std::string_view) {
      auto rest = key.substr(prefix.size());
      auto sep = rest.find(keys::separator);
      auto tenant = domain::tenant_id::parse(rest.substr(0, sep));
      auto endpoint = sep == std::string_view::npos
                        ? domain::endpoint_id::parse("")
                        : domain::endpoint_id::parse(rest.substr(sep + 1));
      if (!tenant || !endpoint) {
        failure = make_error(errc::storage_failure, "malformed endpoint_by_url key");
        return false;
      }
      found.emplace_back(*tenant, *endpoint);
      return true;
    });
  if (!scanned) return std::move(scanned).err();
  if (failure) return std::move(*failure);
  return found;
}

// Header layout (version 1): u8 version | u8 flags (1 ended, 2 events purged) |
// [i64 ended_at if ended] | the visit_info record (domain/record_codec.hpp) as the rest.
std::string encode_header(const visit_header& header) {
  domain::binary::writer w;
  w.u8(header_format_version);
  std::uint8_t flags = 0;
  if (header.ended_at) flags |= header_ended;
  if (header.events_purged) flags |= header_purged;
  w.u8(flags);
  if (header.ended_at) w.time(*header.ended_at);
  auto out = std::move(w).take();
  out.append(domain::encode_record(header.info));
  return out;
}

domain::result<visit_header> decode_header(std::string_view bytes) {
  domain::binary::reader r{bytes};
  auto version = r.u8("header version");
  if (!r.failed() && version != header_format_version)
    return make_error(errc::invalid_argument,
                      "unknown visit header version " + std::to_string(version));
  auto flags = r.u8("header flags");
  if (!r.failed() && (flags & ~(header_ended | header_purged)) != 0)
    return make_error(errc::invalid_argument, "unknown visit header flags");
  visit_header header{};
  std::optional<domain::timestamp> ended;
  if (flags & header_ended) ended = r.time("ended_at");
  if (r.failed()) return make_error(errc::invalid_argument, std::string{r.why()});
  auto info = domain::decode_visit_info(bytes.substr(bytes.size() - r.remaining()));
  if (!info) return std::move(info).err();
  header.info = std::move(*info);
  header.ended_at = ended;
  header.events_purged = (flags & header_purged) != 0;
  return header;
}

std::vector<write_op> open_visit_ops(const domain::visit_info& info) {
  return {{column::visits, keys::visit(info.id.str()), encode_header({info, std::nullopt, false})},
          open_cursor_op(info)};
}

std::uint64_t day_of(domain::timestamp t) noexcept {
  auto days = std::chrono::floor<std::chrono::days>(t).time_since_epoch().count();
  return days < 0 ? 0 : static_cast<std::uint64_t>(days);
}

std::vector<write_op> close_visit_ops(const domain::visit_info& info,
                                      std::span<const domain::event_envelope> all_events,
                                      domain::timestamp ended_at) {
  auto report = domain::make_report(all_events);
  return {
    {column::visits, keys::visit(info.id.str()), encode_header({info, ended_at, false})},
    {column::reports, keys::report(info.tenant.str(), day_of(info.scheduled_start), info.id.str()),
     domain::encode_record(report)},
  };
}

domain::result<stored_tenant> load_tenant(const store& source, const domain::tenant_id& tenant) {
  auto bytes = source.get(column::tenants, keys::tenant(tenant.str()));
  if (!bytes) {
    if (bytes.err().code == errc::not_found)
      return make_error(errc::not_found, "no tenant " + tenant.str());
    return std::move(bytes).err();
  }
  auto decoded = domain::decode_tenant(*bytes);
  if (!decoded)
    return make_error(errc::storage_failure,
                      "tenant record " + tenant.str() + " is corrupt: " + decoded.err().message);
  stored_tenant out{std::move(*decoded), {}};
  // keys::endpoint(tenant, "") is the tenant's endpoint prefix: tenant id | 0x00.
  if (auto ok =
        scan_records(source, column::endpoints, keys::endpoint(tenant.str(), ""), "endpoint",
                     domain::decode_fhir_endpoint,
                     [&](domain::fhir_endpoint e) { out.endpoints.push_back(std::move(e)); });
      !ok)
    return std::move(ok).err();
  return out;
}

domain::result<visit_header> load_visit_header(const store& source, const domain::visit_id& visit) {
  auto bytes = source.get(column::visits, keys::visit(visit.str()));
  if (!bytes) return std::move(bytes).err();
  auto header = decode_header(*bytes);
  if (!header)
    return make_error(errc::storage_failure,
                      "visit header of " + visit.str() + " is corrupt: " + header.err().message);
  return header;
}

}  // namespace visitd::storage
