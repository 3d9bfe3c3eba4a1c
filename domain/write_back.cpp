#include "domain/write_back.hpp"

#include "domain/binary.hpp"
#include "domain/overloaded.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <map>

namespace visitd::domain {

namespace {

/// Who the participants are: those registered before the batch and those it registers.
class roster {
public:
  explicit roster(const visit_state& before) : before_(before) {}

  void add(const participant_joined& joined) {
    added_.insert_or_assign(joined.participant, std::pair{joined.role, joined.identity});
  }

  [[nodiscard]] std::optional<write_back_participant> find(
    const participant_id& id, const std::optional<device_id>& device) const {
    if (auto a = added_.find(id); a != added_.end())
      return write_back_participant{id, a->second.first, a->second.second, device};
    if (auto b = before_.participants.find(id); b != before_.participants.end())
      return write_back_participant{id, b->second.role, b->second.identity, device};
    return std::nullopt;
  }

private:
  const visit_state& before_;
  std::map<participant_id, std::pair<participant_role, participant_identity>> added_;
};

/// The report's status of a visit ending now (domain/report.hpp), from its state: the same rules,
/// read off the fold instead of the event list.
report_status outcome_of(const visit_state& before, const std::optional<timestamp>& started_at) {
  if (started_at) return report_status::completed;
  if (before.participants.empty()) return report_status::cancelled;
  bool waited = false;
  bool admitted = false;
  for (const auto& [id, p] : before.participants) {
    if (p.is_staff()) continue;
    waited = waited || p.first_lobby_at.has_value();
    admitted = admitted || p.admitted_at.has_value();
  }
  if (waited && !admitted) return report_status::abandoned;
  return report_status::no_show;
}

bool has_ehr_identity(const write_back_participant& p) {
  return std::holds_alternative<ehr_user_id>(p.identity);
}

}  // namespace

std::vector<write_back_item> write_back_items(const visit_state& before,
                                              std::span<const event_envelope> events) {
  std::vector<write_back_item> items;
  roster people{before};
  std::optional<timestamp> started_at = before.started_at;
  const auto& info = before.info;
  auto make = [&](const event_envelope& e, write_back_kind kind) {
    write_back_item item;
    item.tenant = info.tenant;
    item.endpoint = info.endpoint;
    item.visit = info.id;
    item.seq = e.seq;
    item.at = e.at;
    item.kind = kind;
    item.encounter = info.encounter;
    item.appointment = info.appointment;
    return item;
  };
  for (const auto& e : events) {
    std::visit(overloaded{
                 [&](const participant_joined& x) { people.add(x); },
                 [&](const connected& x) {
                   auto who = people.find(x.participant, x.device);
                   if (!who) return;  // the fold ignores unknown participants, and so do we
                   auto item = make(e, write_back_kind::connected);
                   item.participant = std::move(who);
                   items.push_back(std::move(item));
                 },
                 [&](const disconnected& x) {
                   auto who = people.find(x.participant, x.device);
                   if (!who) return;
                   auto item = make(e, write_back_kind::disconnected);
                   item.participant = std::move(who);
                   items.push_back(std::move(item));
                 },
                 [&](const lobby_entered& x) {
                   // Only a patient's arrival means anything to the Appointment.
                   if (!info.appointment) return;
                   auto who = people.find(x.participant, std::nullopt);
                   if (!who || who->role != participant_role::patient) return;
                   auto item = make(e, write_back_kind::lobby_entered);
                   item.participant = std::move(who);
                   items.push_back(std::move(item));
                 },
                 [&](const visit_started&) {
                   started_at = e.at;
                   if (!info.encounter) return;
                   auto item = make(e, write_back_kind::visit_started);
                   item.started_at = e.at;
                   items.push_back(std::move(item));
                 },
                 [&](const visit_ended& x) {
                   // Unconditionally (a visit has an Encounter or an Appointment anyway): the
                   // visit's last item is what closes its write-back cursor
                   // (storage/outbox.hpp).
                   auto item = make(e, write_back_kind::visit_ended);
                   item.started_at = started_at;
                   item.ended_because = x.reason;
                   item.outcome = outcome_of(before, started_at);
                   items.push_back(std::move(item));
                 },
                 [&](const device_test_result& x) {
                   auto who = people.find(x.participant, x.device);
                   if (!who) return;
                   auto item = make(e, write_back_kind::device_test);
                   item.participant = std::move(who);
                   item.check = write_back_device_check{x.camera_ok, x.microphone_ok, x.speaker_ok};
                   items.push_back(std::move(item));
                 },
                 [](const auto&) {},
               },
               e.event);
  }
  return items;
}

std::vector<write_back_item> write_back_items_after(const visit_info& info,
                                                    std::span<const event_envelope> events,
                                                    std::uint64_t after) {
  std::vector<write_back_item> items;
  auto state = initial_state(info);
  for (const auto& e : events) {
    // Each event against the fold of the events before it: what its append computed, however
    // the appends grouped the events (pinned by a randomized test).
    if (e.seq > after) {
      auto more = write_back_items(state, {&e, 1});
      items.insert(items.end(), std::make_move_iterator(more.begin()),
                   std::make_move_iterator(more.end()));
    }
    apply(state, e);
  }
  return items;
}

std::string event_key(const write_back_item& item) {
  std::string key{item.tenant.str()};
  key.push_back('/');
  key.append(item.visit.str()).push_back('/');
  key.append(std::to_string(item.seq));
  return key;
}

std::vector<fhir_write> planned_writes(const write_back_item& item,
                                       const write_back_targets& targets) {
  std::vector<fhir_write> writes;
  const bool encounter = targets.encounters && item.encounter.has_value();
  const bool appointment = targets.appointments && item.appointment.has_value();
  switch (item.kind) {
    case write_back_kind::connected:
    case write_back_kind::disconnected:
      if (targets.audit_events && item.participant) writes.push_back(fhir_write::audit_event);
      if (encounter && item.participant && item.participant->role == participant_role::provider &&
          has_ehr_identity(*item.participant))
        writes.push_back(fhir_write::encounter);
      break;
    case write_back_kind::device_test:
      if (targets.audit_events && item.participant) writes.push_back(fhir_write::audit_event);
      break;
    case write_back_kind::lobby_entered:
      if (appointment && item.participant && item.participant->role == participant_role::patient)
        writes.push_back(fhir_write::appointment);
      break;
    case write_back_kind::visit_started:
      if (encounter) writes.push_back(fhir_write::encounter);
      break;
    case write_back_kind::visit_ended:
      if (encounter) writes.push_back(fhir_write::encounter);
      if (appointment &&
          (item.outcome == report_status::completed || item.outcome == report_status::no_show))
        writes.push_back(fhir_write::appointment);
      break;
  }
  return writes;
}

// -- codec -------------------------------------------------------------------------------------
//
//   u8 version (1) | tenant | endpoint | visit | varint seq | i64 at | u8 kind
//   | opt encounter | opt appointment
//   | u8 0/1 participant: participant id | u8 role | u8 identity kind (0 ehr user, 1 join id)
//                         | identity | opt device
//   | u8 0/1 check: u8 flags (camera 1, microphone 2, speaker 4)
//   | opt i64 started_at | u8 0/1 end reason: u8 reason | u8 0/1 outcome: u8 report status

std::string encode(const write_back_item& item) {
  binary::writer w;
  w.u8(write_back_format_version);
  w.id(item.tenant);
  w.id(item.endpoint);
  w.id(item.visit);
  w.varint(item.seq);
  w.time(item.at);
  w.enumerated(item.kind);
  w.opt_id(item.encounter);
  w.opt_id(item.appointment);
  w.boolean(item.participant.has_value());
  if (item.participant) {
    const auto& p = *item.participant;
    w.id(p.id);
    w.enumerated(p.role);
    w.u8(static_cast<std::uint8_t>(p.identity.index()));
    std::visit([&](const auto& identity) { w.id(identity); }, p.identity);
    w.opt_id(p.device);
  }
  w.boolean(item.check.has_value());
  if (item.check) {
    const auto flags = static_cast<std::uint8_t>((item.check->camera_ok ? 1U : 0U) |
                                                 (item.check->microphone_ok ? 2U : 0U) |
                                                 (item.check->speaker_ok ? 4U : 0U));
    w.u8(flags);
  }
  w.opt_time(item.started_at);
  w.boolean(item.ended_because.has_value());
  if (item.ended_because) w.enumerated(*item.ended_because);
  w.boolean(item.outcome.has_value());
  if (item.outcome) w.enumerated(*item.outcome);
  return std::move(w).take();
}

result<write_back_item> decode_write_back(std::string_view bytes) {
  binary::reader r{bytes};
  write_back_item item;
  if (const auto version = r.u8("version"); !r.failed() && version != write_back_format_version)
    return make_error(errc::invalid_argument,
                      "write-back item: unknown format version " + std::to_string(version));
  item.tenant = r.id<tenant_id>("tenant");
  item.endpoint = r.id<endpoint_id>("endpoint");
  item.visit = r.id<visit_id>("visit");
  item.seq = r.varint("seq");
  item.at = r.time("at");
  item.kind = r.enumerated("kind", write_back_kind::device_test);
  item.encounter = r.opt_named_id<fhir_reference>("encounter");
  item.appointment = r.opt_named_id<fhir_reference>("appointment");
  if (r.boolean("participant")) {
    write_back_participant p;
    p.id = r.id<participant_id>("participant id");
    p.role = r.enumerated("role", participant_role::guest);
    const auto kind = r.u8("identity kind");
    if (kind == 0) {
      p.identity = r.id<ehr_user_id>("identity");
    } else if (kind == 1) {
      p.identity = r.id<join_id>("identity");
    } else {
      r.fail("identity kind has unknown value " + std::to_string(kind));
    }
    p.device = r.opt_id<device_id>("device");
    item.participant = std::move(p);
  }
  if (r.boolean("check")) {
    const auto flags = r.u8("check flags");
    if (flags > 7) r.fail("check flags has unknown bits");
    item.check = write_back_device_check{(flags & 1U) != 0, (flags & 2U) != 0, (flags & 4U) != 0};
  }
  item.started_at = r.opt_time("started_at");
  if (r.boolean("end reason")) item.ended_because = r.enumerated("end reason", end_reason::timeout);
  if (r.boolean("outcome")) item.outcome = r.enumerated("outcome", report_status::abandoned);
  if (!r.failed() && !r.at_end()) r.fail("trailing bytes after the item");
  if (!r.failed() && item.seq == 0) r.fail("seq must be at least 1");
  if (r.failed())
    return make_error(errc::invalid_argument, "write-back item: " + std::string{r.why()});
  return item;
}

std::string encode(const dead_letter& letter) {
  binary::writer w;
  w.u8(write_back_format_version);
  w.varint(letter.attempts);
  w.time(letter.at);
  w.str(letter.reason);
  w.str(encode(letter.item));
  return std::move(w).take();
}

result<dead_letter> decode_dead_letter(std::string_view bytes) {
  binary::reader r{bytes};
  dead_letter letter;
  if (const auto version = r.u8("version"); !r.failed() && version != write_back_format_version)
    return make_error(errc::invalid_argument,
                      "dead letter: unknown format version " + std::to_string(version));
  const auto attempts = r.varint("attempts");
  if (attempts > std::uint64_t{UINT32_MAX}) r.fail("attempts out of range");
  letter.attempts = static_cast<std::uint32_t>(attempts);
  letter.at = r.time("at");
  letter.reason = std::string{r.str("reason")};
  const auto item_bytes = r.str("item");
  if (!r.failed() && !r.at_end()) r.fail("trailing bytes after the dead letter");
  if (r.failed()) return make_error(errc::invalid_argument, "dead letter: " + std::string{r.why()});
  auto item = decode_write_back(item_bytes);
  if (!item) return item.err();
  letter.item = std::move(*item);
  return letter;
}

// -- delivery policy ---------------------------------------------------------------------------

delivery_verdict verdict_for_status(int status) noexcept {
  if (status >= 200 && status < 300) return delivery_verdict::delivered;
  if (status == 408 || status == 409 || status == 412 || status == 425 || status == 429 ||
      status >= 500 || status < 100)
    return delivery_verdict::retry;
  return delivery_verdict::permanent;
}

duration retry_delay(const retry_policy& policy, std::uint32_t attempt, double unit_random,
                     std::optional<duration> retry_after) {
  // first_delay * 2^(attempt-1), computed without overflow: stop doubling at the cap.
  auto delay = policy.first_delay;
  for (std::uint32_t i = 1; i < attempt && delay < policy.max_delay; ++i) delay *= 2;
  delay = std::min(delay, policy.max_delay);
  unit_random = std::clamp(unit_random, 0.0, 1.0);
  const auto half = delay / 2;
  auto jittered = half + duration{static_cast<duration::rep>(
                           std::floor(static_cast<double>((delay - half).count()) * unit_random))};
  if (retry_after && *retry_after > jittered) jittered = *retry_after;
  return jittered;
}

bool circuit_breaker::allow(timestamp now) {
  if (!opened_) return true;
  if (now < open_until_ || probing_) return false;
  probing_ = true;  // half-open: one probe at a time
  return true;
}

void circuit_breaker::record_success() {
  consecutive_failures_ = 0;
  opened_ = false;
  probing_ = false;
}

void circuit_breaker::record_failure(timestamp now) {
  ++consecutive_failures_;
  if (probing_ || consecutive_failures_ >= options_.failure_threshold) {
    opened_ = true;
    open_until_ = now + options_.open_for;
  }
  probing_ = false;
}

circuit_breaker::state circuit_breaker::current(timestamp now) const noexcept {
  if (!opened_) return state::closed;
  if (probing_ || now >= open_until_) return state::half_open;
  return state::open;
}

std::string_view to_string(write_back_kind kind) noexcept {
  switch (kind) {
    case write_back_kind::connected: return "connected";
    case write_back_kind::disconnected: return "disconnected";
    case write_back_kind::lobby_entered: return "lobby_entered";
    case write_back_kind::visit_started: return "visit_started";
    case write_back_kind::visit_ended: return "visit_ended";
    case write_back_kind::device_test: return "device_test";
  }
  return "unknown";
}

std::string_view to_string(fhir_write write) noexcept {
  switch (write) {
    case fhir_write::audit_event: return "AuditEvent";
    case fhir_write::encounter: return "Encounter";
    case fhir_write::appointment: return "Appointment";
  }
  return "unknown";
}

std::string_view to_string(circuit_breaker::state s) noexcept {
  switch (s) {
    case circuit_breaker::state::closed: return "closed";
    case circuit_breaker::state::open: return "open";
    case circuit_breaker::state::half_open: return "half_open";
  }
  return "unknown";
}

}  // namespace visitd::domain
