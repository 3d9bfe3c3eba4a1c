#include "storage/keys.hpp"

namespace visitd::storage::keys {

void append_u64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

std::optional<std::uint64_t> read_u64(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : bytes) value = (value << 8) | static_cast<unsigned char>(c);
  return value;
}

std::string event(std::string_view visit_id, std::uint64_t seq) {
  auto key = event_prefix(visit_id);
  append_u64(key, seq);
  return key;
}

std::string event_prefix(std::string_view visit_id) {
  std::string key{visit_id};
  key.push_back(separator);
  return key;
}

std::string event_prefix_end(std::string_view visit_id) {
  std::string key{visit_id};
  key.push_back(static_cast<char>(separator + 1));
  return key;
}

std::optional<std::pair<std::string_view, std::uint64_t>> parse_event(std::string_view key) {
  if (key.size() < 10 || key[key.size() - 9] != separator) return std::nullopt;
  auto seq = read_u64(key.substr(key.size() - 8));
  if (!seq) return std::nullopt;
  return std::pair{key.substr(0, key.size() - 9), *seq};
}

std::string outbox(std::string_view tenant_id, std::string_view endpoint_id,
                   std::string_view visit_id, std::uint64_t seq) {
  auto key = outbox_visit_prefix(tenant_id, endpoint_id, visit_id);
  append_u64(key, seq);
  return key;
}

std::string outbox_prefix(std::string_view tenant_id, std::string_view endpoint_id) {
  std::string key{tenant_id};
  key.push_back(separator);
  key.append(endpoint_id);
  key.push_back(separator);
  return key;
}

std::string outbox_visit_prefix(std::string_view tenant_id, std::string_view endpoint_id,
                                std::string_view visit_id) {
  auto key = outbox_prefix(tenant_id, endpoint_id);
  key.append(visit_id);
  key.push_back(separator);
  return key;
}

std::optional<outbox_key_parts> parse_outbox(std::string_view key) {
  // Ids never hold 0x00, so the first three separators split the ids; the last 8 bytes are seq.
  if (key.size() < 9 + 6) return std::nullopt;
  auto seq = read_u64(key.substr(key.size() - 8));
  auto head = key.substr(0, key.size() - 8);
  if (!seq || head.back() != separator) return std::nullopt;
  head.remove_suffix(1);
  auto first = head.find(separator);
  if (first == std::string_view::npos || first == 0) return std::nullopt;
  auto second = head.find(separator, first + 1);
  if (second == std::string_view::npos || second == first + 1 || second + 1 >= head.size())
    return std::nullopt;
  if (head.find(separator, second + 1) != std::string_view::npos) return std::nullopt;
  return outbox_key_parts{head.substr(0, first), head.substr(first + 1, second - first - 1),
                          head.substr(second + 1), *seq};
}

std::string visit(std::string_view visit_id) {
  return std::string{visit_id};
}

std::string tenant(std::string_view tenant_id) {
  return std::string{tenant_id};
}

std::string endpoint(std::string_view tenant_id, std::string_view endpoint_id) {
  std::string key{tenant_id};
  key.push_back(separator);
  key.append(endpoint_id);
  return key;
}

std::string report(std::string_view tenant_id, std::uint64_t day, std::string_view visit_id) {
  auto key = report_day_start(tenant_id, day);
  key.append(visit_id);
  return key;
}

std::string report_day_start(std::string_view tenant_id, std::uint64_t day) {
  std::string key{tenant_id};
  key.push_back(separator);
  append_u64(key, day);
  return key;
}

std::string audit(std::string_view tenant_id, std::uint64_t micros, std::uint32_t seq) {
  auto key = audit_time_start(tenant_id, micros);
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>(seq >> shift));
  return key;
}

std::string audit_time_start(std::string_view tenant_id, std::uint64_t micros) {
  auto key = audit_prefix(tenant_id);
  append_u64(key, micros);
  return key;
}

std::string audit_prefix(std::string_view tenant_id) {
  std::string key{tenant_id};
  key.push_back(separator);
  return key;
}

std::string audit_prefix_end(std::string_view tenant_id) {
  std::string key{tenant_id};
  key.push_back(static_cast<char>(separator + 1));
  return key;
}

std::optional<std::tuple<std::string_view, std::uint64_t, std::uint32_t>> parse_audit(
  std::string_view key) {
  // tenant (>= 1 byte) | 0x00 | 8 bytes time | 4 bytes sequence
  constexpr std::size_t tail = 1 + 8 + 4;
  if (key.size() < tail + 1 || key[key.size() - tail] != separator) return std::nullopt;
  const auto tenant = key.substr(0, key.size() - tail);
  if (tenant.find(separator) != std::string_view::npos) return std::nullopt;
  const auto micros = read_u64(key.substr(key.size() - 12, 8));
  if (!micros) return std::nullopt;
  std::uint32_t seq = 0;
  for (char c : key.substr(key.size() - 4)) seq = (seq << 8) | static_cast<unsigned char>(c);
  return std::tuple{tenant, *micros, seq};
}

}  // namespace visitd::storage::keys
