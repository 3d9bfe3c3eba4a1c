#include "storage/visit_log.hpp"

#include "domain/event_codec.hpp"
#include "storage/keys.hpp"

namespace visitd::storage {

std::vector<write_op> event_ops(const domain::visit_id& visit,
                                std::span<const domain::event_envelope> events) {
  std::vector<write_op> ops;
  ops.reserve(events.size());
  for (const auto& e : events)
    ops.push_back({column::events, keys::event(visit.str(), e.seq), domain::encode(e)});
  return ops;
}

domain::result<std::vector<domain::event_envelope>> read_events(const store& source,
                                                                const domain::visit_id& visit,
                                                                std::uint64_t after) {
  std::vector<domain::event_envelope> events;
  std::optional<domain::error> failure;
  std::uint64_t expected = after + 1;
  auto prefix = keys::event_prefix(visit.str());
  auto start = keys::event(visit.str(), after + 1);
  auto scanned = source.scan_from(
    column::events, prefix, start, [&](std::string_view key, std::string_view value) {
      auto parsed = keys::parse_event(key);
      if (!parsed) {
        failure = domain::make_error(domain::errc::storage_failure, "malformed event key");
        return false;
      }
      auto event = domain::decode(value);
      if (!event) {
        failure = domain::make_error(domain::errc::storage_failure,
                                     "event " + std::to_string(parsed->second) + " of visit " +
                                       visit.str() + " does not decode: " + event.err().message);
        return false;
      }
      if (event->seq != parsed->second || event->seq != expected) {
        failure = domain::make_error(
          domain::errc::storage_failure,
          "event sequence of visit " + visit.str() + " has a gap at " + std::to_string(expected));
        return false;
      }
      ++expected;
      events.push_back(std::move(*event));
      return true;
    });
  if (!scanned) return std::move(scanned).err();
  if (failure) return std::move(*failure);
  return events;
}

}  // namespace visitd::storage
