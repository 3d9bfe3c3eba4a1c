#include "fhir/write_back_resources.hpp"

#include "domain/time_format.hpp"

#include <boost/json.hpp>
#include <openssl/evp.h>
#include <simdjson.h>

#include <array>
#include <chrono>
#include <variant>

namespace visitd::fhir {

using domain::errc;
using domain::make_error;
using domain::write_back_kind;

namespace {

namespace json = boost::json;

// -- reading what the EHR sent -----------------------------------------------------------------

/// simdjson's DOM (which validates the whole document) turned into a Boost.JSON value that can be
/// edited and written back. Numbers keep their kind (int64, uint64, double); a decimal is written
/// back in its shortest form, so "1.50" becomes 1.5 (Encounters and Appointments carry almost no
/// decimals, and none visitd touches).
json::value to_boost(simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::ARRAY: {
      json::array out;
      const simdjson::dom::array array = element.get_array().value_unsafe();
      out.reserve(array.size());
      for (const auto child : array) out.push_back(to_boost(child));
      return out;
    }
    case simdjson::dom::element_type::OBJECT: {
      json::object out;
      const simdjson::dom::object object = element.get_object().value_unsafe();
      out.reserve(object.size());
      // A repeated name (invalid FHIR): the last one wins, as in most JSON readers.
      for (const auto field : object) out.insert_or_assign(field.key, to_boost(field.value));
      return out;
    }
    case simdjson::dom::element_type::INT64: return element.get_int64().value_unsafe();
    case simdjson::dom::element_type::UINT64: return element.get_uint64().value_unsafe();
    case simdjson::dom::element_type::DOUBLE: return element.get_double().value_unsafe();
    case simdjson::dom::element_type::STRING:
      return json::string{element.get_string().value_unsafe()};
    case simdjson::dom::element_type::BOOL: return element.get_bool().value_unsafe();
    case simdjson::dom::element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

/// `text` as an editable resource of `type`; `invalid_argument` when it is not JSON or not a
/// resource of that type.
domain::result<json::value> read_resource(std::string_view text, std::string_view type) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded{text};
  simdjson::dom::element root;
  std::string article = type.front() == 'A' || type.front() == 'E' ? "an " : "a ";
  if (parser.parse(padded).get(root))
    return make_error(errc::invalid_argument, "the " + std::string{type} + " read is not JSON");
  std::string_view resource_type;
  if (root.type() != simdjson::dom::element_type::OBJECT ||
      root["resourceType"].get_string().get(resource_type) || resource_type != type)
    return make_error(errc::invalid_argument,
                      "the resource read is not " + article + std::string{type});
  return to_boost(root);
}

/// `member` of `object` as a string; nullopt when absent. `invalid_argument` when present but not
/// a string.
domain::result<std::optional<std::string_view>> status_of(const json::object& resource,
                                                          std::string_view type) {
  const auto* status = resource.if_contains("status");
  if (status == nullptr) return std::optional<std::string_view>{};
  if (!status->is_string())
    return make_error(errc::invalid_argument, std::string{type} + ".status is not a string");
  return std::optional<std::string_view>{std::string_view{status->get_string()}};
}

// -- FHIR dateTime -----------------------------------------------------------------------------

/// The instants a FHIR dateTime covers, both inclusive: one instant for a full dateTime, the
/// whole year, month or day for a partial one. A partial date has no time zone (it is the EHR's
/// local date); it is read as UTC, which is close enough to decide "earlier" or "later" for
/// visits that happen within it.
struct time_span {
  domain::timestamp first;
  domain::timestamp last;
};

std::optional<int> digits(std::string_view text, std::size_t pos, std::size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

/// Reads `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or a full dateTime with seconds and a zone (what R4
/// allows); nullopt for anything else, which callers leave as it is.
std::optional<time_span> parse_fhir_date_time(std::string_view text) {
  using namespace std::chrono;
  if (text.size() > 10) {
    auto instant = domain::parse_rfc3339(text, "dateTime");
    if (!instant) return std::nullopt;
    return time_span{*instant, *instant};
  }
  const auto y = digits(text, 0, 4);
  if (!y) return std::nullopt;
  const year yr{*y};
  if (text.size() == 4) {
    const sys_days from{yr / January / 1};
    const sys_days to{(yr + years{1}) / January / 1};
    return time_span{from, domain::timestamp{to} - microseconds{1}};
  }
  if (text.size() < 7 || text[4] != '-') return std::nullopt;
  const auto m = digits(text, 5, 2);
  if (!m || *m < 1 || *m > 12) return std::nullopt;
  const year_month ym{yr, month{static_cast<unsigned>(*m)}};
  if (text.size() == 7) {
    const sys_days from{ym / 1};
    const sys_days to{(ym + months{1}) / 1};
    return time_span{from, domain::timestamp{to} - microseconds{1}};
  }
  if (text.size() != 10 || text[7] != '-') return std::nullopt;
  const auto d = digits(text, 8, 2);
  if (!d) return std::nullopt;
  const year_month_day ymd{ym / day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  const sys_days from{ymd};
  return time_span{from, domain::timestamp{from + days{1}} - microseconds{1}};
}

json::string date_time(domain::timestamp t) {
  return json::string{domain::format_rfc3339(t)};
}

/// `period.start = min(existing, t)`; true when it changed. An existing value that is not a
/// dateTime visitd understands is kept.
bool move_start_earlier(json::object& period, domain::timestamp t) {
  auto* start = period.if_contains("start");
  if (start == nullptr) {
    period["start"] = date_time(t);
    return true;
  }
  if (!start->is_string()) return false;
  const auto existing = parse_fhir_date_time(start->get_string());
  if (!existing || t >= existing->first) return false;
  *start = date_time(t);
  return true;
}

/// `period.end = max(existing, t)`; true when it changed.
bool move_end_later(json::object& period, domain::timestamp t) {
  auto* end = period.if_contains("end");
  if (end == nullptr) {
    period["end"] = date_time(t);
    return true;
  }
  if (!end->is_string()) return false;
  const auto existing = parse_fhir_date_time(end->get_string());
  if (!existing || t <= existing->last) return false;
  *end = date_time(t);
  return true;
}

/// The `period` member of `parent`, made empty when absent; nullptr when it is not an object
/// (left as it is).
json::object* period_of(json::object& parent) {
  auto* period = parent.if_contains("period");
  if (period == nullptr) return &parent["period"].emplace_object();
  return period->if_object();
}

// -- status order ------------------------------------------------------------------------------

bool one_of(std::optional<std::string_view> status, std::initializer_list<std::string_view> set) {
  if (!status) return false;
  for (auto s : set)
    if (*status == s) return true;
  return false;
}

// -- Encounter ---------------------------------------------------------------------------------

/// Whether the Encounter participant `entry` is `user` (a relative reference, or an absolute one
/// ending in it).
bool is_participant(const json::value& entry, std::string_view user) {
  const auto* object = entry.if_object();
  if (object == nullptr) return false;
  const auto* individual = object->if_contains("individual");
  if (individual == nullptr || !individual->is_object()) return false;
  const auto* reference = individual->get_object().if_contains("reference");
  if (reference == nullptr || !reference->is_string()) return false;
  const std::string_view text = reference->get_string();
  if (text == user) return true;
  return text.size() > user.size() && text.ends_with(user) &&
         text[text.size() - user.size() - 1] == '/';
}

/// The participant period of staff user `user` moved by a connect (start) or disconnect (end).
bool merge_participant(json::object& encounter, const domain::write_back_item& item,
                       std::string_view user) {
  auto* participants = encounter.if_contains("participant");
  auto* list =
    participants == nullptr ? &encounter["participant"].emplace_array() : participants->if_array();
  if (list == nullptr) return false;  // not FHIR: left alone
  json::object* entry = nullptr;
  for (auto& candidate : *list) {
    if (is_participant(candidate, user)) {
      entry = &candidate.get_object();
      break;
    }
  }
  if (entry == nullptr) {
    json::object added;
    added["individual"] = json::object{{"reference", user}};
    entry = &list->emplace_back(std::move(added)).get_object();
  }
  auto* period = period_of(*entry);
  if (period == nullptr) return false;
  return item.kind == write_back_kind::connected ? move_start_earlier(*period, item.at)
                                                 : move_end_later(*period, item.at);
}

// -- AuditEvent --------------------------------------------------------------------------------

json::object coding_json(const domain::coding& c) {
  json::object out;
  if (!c.system.empty()) out["system"] = c.system;
  if (!c.code.empty()) out["code"] = c.code;
  if (!c.display.empty()) out["display"] = c.display;
  return out;
}

std::string_view role_code(domain::participant_role role) {
  switch (role) {
    case domain::participant_role::provider: return "provider";
    case domain::participant_role::patient: return "patient";
    case domain::participant_role::guest: return "guest";
  }
  return "unknown";
}

/// The failed checks of a device test, e.g. "camera, speaker"; "" when all passed.
std::string failed_checks(const domain::write_back_device_check& check) {
  std::string out;
  auto add = [&](bool ok, std::string_view name) {
    if (ok) return;
    if (!out.empty()) out.append(", ");
    out.append(name);
  };
  add(check.camera_ok, "camera");
  add(check.microphone_ok, "microphone");
  add(check.speaker_ok, "speaker");
  return out;
}

}  // namespace

std::string audit_event_id(const domain::write_back_item& item) {
  const auto key = domain::event_key(item);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // SHA-256 of a short string cannot fail short of memory exhaustion; the id would then be
  // "vd-" + zeros, which a PUT would still write idempotently.
  if (EVP_Digest(key.data(), key.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
    length = 0;
  constexpr std::string_view hex = "0123456789abcdef";
  std::string id{"vd-"};
  for (std::size_t i = 0; i < 20; ++i) {
    const unsigned char byte = i < length ? digest[i] : 0;
    id.push_back(hex[byte >> 4U]);
    id.push_back(hex[byte & 0x0FU]);
  }
  return id;
}

std::string event_key_query(const domain::write_back_item& item) {
  std::string value{event_key_system};
  value.push_back('|');
  value.append(domain::event_key(item));
  // Unreserved characters and ':' (legal in a query, and the system's separator) stay as they
  // are; everything else, notably '|', '/', '%', '&', '=', '+' and space, is %XX.
  constexpr std::string_view hex = "0123456789ABCDEF";
  std::string out{"_tag="};
  for (const unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4U]);
      out.push_back(hex[c & 0x0FU]);
    }
  }
  return out;
}

std::string audit_event_json(const domain::write_back_item& item,
                             const domain::audit_event_codes& codes, std::string_view observer,
                             bool with_id) {
  json::object event;
  event["resourceType"] = "AuditEvent";
  if (with_id) event["id"] = audit_event_id(item);
  event["meta"] = json::object{
    {"tag",
     json::array{json::object{{"system", event_key_system}, {"code", domain::event_key(item)}}}}};
  event["type"] = coding_json(codes.type);
  const domain::coding& subtype = item.kind == write_back_kind::connected      ? codes.connected
                                  : item.kind == write_back_kind::disconnected ? codes.disconnected
                                                                               : codes.device_test;
  event["subtype"] = json::array{coding_json(subtype)};
  event["action"] = "E";
  const auto at = date_time(item.at);
  event["period"] = json::object{{"start", at}, {"end", at}};
  event["recorded"] = at;
  // 0 success; 4 minor failure: the device test ran, and some check failed.
  std::string failed;
  if (item.kind == write_back_kind::device_test && item.check) failed = failed_checks(*item.check);
  event["outcome"] = failed.empty() ? "0" : "4";
  if (!failed.empty()) event["outcomeDesc"] = std::string{"device check failed: "}.append(failed);

  json::object agent;
  if (item.participant) {
    const auto& p = *item.participant;
    agent["type"] =
      json::object{{"coding", json::array{json::object{{"system", "urn:visitd:participant-role"},
                                                       {"code", role_code(p.role)}}}}};
    if (const auto* user = std::get_if<domain::ehr_user_id>(&p.identity)) {
      agent["who"] = json::object{{"reference", user->str()}};
    } else {
      agent["who"] = json::object{
        {"identifier", json::object{{"system", participant_system},
                                    {"value", std::get<domain::join_id>(p.identity).str()}}}};
    }
  }
  agent["requestor"] = true;
  event["agent"] = json::array{std::move(agent)};

  event["source"] = json::object{
    {"observer", json::object{{"display", observer}}},
    {"type", json::array{json::object{
               {"system", "http://terminology.hl7.org/CodeSystem/security-source-type"},
               {"code", "4"},
               {"display", "Application Server"}}}}};

  json::array entities;
  if (item.encounter)
    entities.push_back(json::object{{"what", json::object{{"reference", item.encounter->str()}}}});
  if (item.appointment)
    entities.push_back(
      json::object{{"what", json::object{{"reference", item.appointment->str()}}}});
  if (!entities.empty()) event["entity"] = std::move(entities);
  return json::serialize(event);
}

domain::result<std::optional<std::string>> merge_encounter(std::string_view current,
                                                           const domain::write_back_item& item) {
  auto parsed = read_resource(current, "Encounter");
  if (!parsed) return parsed.err();
  auto& encounter = parsed->get_object();
  auto status = status_of(encounter, "Encounter");
  if (!status) return status.err();

  bool changed = false;
  switch (item.kind) {
    case write_back_kind::visit_started: {
      if (!one_of(*status, {"in-progress", "finished", "cancelled", "entered-in-error"})) {
        encounter["status"] = "in-progress";
        changed = true;
      }
      if (!encounter.contains("class")) {
        encounter["class"] =
          json::object{{"system", "http://terminology.hl7.org/CodeSystem/v3-ActCode"},
                       {"code", "VR"},
                       {"display", "virtual"}};
        changed = true;
      }
      if (auto* period = period_of(encounter)) changed |= move_start_earlier(*period, item.at);
      break;
    }
    case write_back_kind::visit_ended: {
      if (!one_of(*status, {"finished", "cancelled", "entered-in-error"})) {
        encounter["status"] = "finished";
        changed = true;
      }
      if (auto* period = period_of(encounter)) {
        changed |= move_end_later(*period, item.at);
        if (item.started_at) changed |= move_start_earlier(*period, *item.started_at);
      }
      break;
    }
    case write_back_kind::connected:
    case write_back_kind::disconnected: {
      if (!item.participant || item.participant->role != domain::participant_role::provider) break;
      const auto* user = std::get_if<domain::ehr_user_id>(&item.participant->identity);
      if (user == nullptr) break;
      changed = merge_participant(encounter, item, user->str());
      break;
    }
    case write_back_kind::lobby_entered:
    case write_back_kind::device_test: break;
  }
  if (!changed) return std::optional<std::string>{};
  return std::optional<std::string>{json::serialize(*parsed)};
}

domain::result<std::optional<std::string>> merge_appointment(std::string_view current,
                                                             const domain::write_back_item& item) {
  auto parsed = read_resource(current, "Appointment");
  if (!parsed) return parsed.err();
  auto& appointment = parsed->get_object();
  auto status = status_of(appointment, "Appointment");
  if (!status) return status.err();

  std::string_view next;
  switch (item.kind) {
    case write_back_kind::lobby_entered:
      if (item.participant && item.participant->role == domain::participant_role::patient &&
          one_of(*status, {"booked", "pending", "proposed"}))
        next = "arrived";
      break;
    case write_back_kind::visit_ended:
      // Only the report's completed and no-show outcomes say something about the Appointment;
      // a cancelled or abandoned visit leaves it as the EHR has it.
      if (!one_of(*status, {"fulfilled", "noshow", "cancelled", "entered-in-error"})) {
        if (item.outcome == domain::report_status::completed) next = "fulfilled";
        if (item.outcome == domain::report_status::no_show) next = "noshow";
      }
      break;
    case write_back_kind::connected:
    case write_back_kind::disconnected:
    case write_back_kind::visit_started:
    case write_back_kind::device_test: break;
  }
  if (next.empty()) return std::optional<std::string>{};
  appointment["status"] = next;
  return std::optional<std::string>{json::serialize(*parsed)};
}

}  // namespace visitd::fhir
