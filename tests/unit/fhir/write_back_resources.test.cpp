#include "fhir/write_back_resources.hpp"

#include "domain/time_format.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace visitd::fhir {
namespace {

using domain::write_back_item;
using domain::write_back_kind;

template <class Id>
Id id(std::string_view text) {
  auto parsed = Id::parse(text);
  EXPECT_TRUE(parsed) << text;
  return *parsed;
}

domain::timestamp at(std::string_view text) {
  auto parsed = domain::parse_rfc3339(text, "test");
  EXPECT_TRUE(parsed) << text;
  return *parsed;
}

write_back_item base_item(write_back_kind kind, std::string_view when) {
  write_back_item item;
  item.tenant = id<domain::tenant_id>("t1");
  item.endpoint = id<domain::endpoint_id>("e1");
  item.visit = id<domain::visit_id>("v1");
  item.seq = 7;
  item.at = at(when);
  item.kind = kind;
  item.encounter = id<domain::fhir_reference>("Encounter/42");
  item.appointment = id<domain::fhir_reference>("Appointment/9");
  return item;
}

domain::write_back_participant provider() {
  return {id<domain::participant_id>("p1"), domain::participant_role::provider,
          id<domain::ehr_user_id>("Practitioner/123"), id<domain::device_id>("d1")};
}

domain::write_back_participant join_link_patient() {
  return {id<domain::participant_id>("p2"), domain::participant_role::patient,
          id<domain::join_id>("j-77"), std::nullopt};
}

write_back_item provider_item(write_back_kind kind, std::string_view when) {
  auto item = base_item(kind, when);
  item.participant = provider();
  return item;
}

/// The merged text, failing the test when the merge failed or changed nothing.
std::string merged(const domain::result<std::optional<std::string>>& r) {
  EXPECT_TRUE(r.has_value()) << r.err().message;
  if (!r.has_value()) return {};
  EXPECT_TRUE(r.value().has_value()) << "nothing changed";
  return r.value().value_or("");
}

boost::json::value parse(std::string_view text) {
  return boost::json::parse(text);
}

std::string_view str(const boost::json::value& v, std::initializer_list<std::string_view> path) {
  const boost::json::value* at = &v;
  for (auto key : path) at = &at->as_object().at(key);
  return at->as_string();
}

// -- AuditEvent --------------------------------------------------------------------------------

TEST(write_back_resources, audit_event_id_is_derived_from_the_event_key) {
  const auto item = provider_item(write_back_kind::connected, "2026-11-25T18:49:36Z");
  // sha256("t1/v1/7"), first 40 hex digits.
  EXPECT_EQ(audit_event_id(item), "vd-e1d0ce0746895275079bc609967a00991bec6dbc");
  auto other = item;
  other.at = at("2027-01-01T00:00:00Z");  // a retry of the same event: same id
  other.kind = write_back_kind::disconnected;
  EXPECT_EQ(audit_event_id(other), audit_event_id(item));
  other.seq = 8;
  EXPECT_NE(audit_event_id(other), audit_event_id(item));
}

TEST(write_back_resources, event_key_query_is_url_encoded) {
  const auto item = provider_item(write_back_kind::connected, "2026-11-25T18:49:36Z");
  EXPECT_EQ(event_key_query(item), "_tag=urn:visitd:event-key%7Ct1%2Fv1%2F7");
}

TEST(write_back_resources, audit_event_of_a_provider_connect) {
  const auto item = provider_item(write_back_kind::connected, "2026-11-25T18:49:36Z");
  EXPECT_EQ(
    audit_event_json(item, {}, "https://visitd.example.org", false),
    R"({"resourceType":"AuditEvent",)"
    R"("meta":{"tag":[{"system":"urn:visitd:event-key","code":"t1/v1/7"}]},)"
    R"("type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110114",)"
    R"("display":"User Authentication"},)"
    R"("subtype":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110122",)"
    R"("display":"Login"}],)"
    R"("action":"E",)"
    R"("period":{"start":"2026-11-25T18:49:36Z","end":"2026-11-25T18:49:36Z"},)"
    R"("recorded":"2026-11-25T18:49:36Z",)"
    R"("outcome":"0",)"
    R"("agent":[{"type":{"coding":[{"system":"urn:visitd:participant-role","code":"provider"}]},)"
    R"("who":{"reference":"Practitioner/123"},"requestor":true}],)"
    R"("source":{"observer":{"display":"https://visitd.example.org"},)"
    R"("type":[{"system":"http://terminology.hl7.org/CodeSystem/security-source-type",)"
    R"("code":"4","display":"Application Server"}]},)"
    R"("entity":[{"what":{"reference":"Encounter/42"}},{"what":{"reference":"Appointment/9"}}]})");
}

TEST(write_back_resources, audit_event_of_a_join_link_patient_disconnect) {
  auto item = base_item(write_back_kind::disconnected, "2026-11-25T19:05:00.250Z");
  item.participant = join_link_patient();
  item.appointment.reset();
  EXPECT_EQ(
    audit_event_json(item, {}, "https://visitd.example.org", true),
    R"({"resourceType":"AuditEvent","id":"vd-e1d0ce0746895275079bc609967a00991bec6dbc",)"
    R"("meta":{"tag":[{"system":"urn:visitd:event-key","code":"t1/v1/7"}]},)"
    R"("type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110114",)"
    R"("display":"User Authentication"},)"
    R"("subtype":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110123",)"
    R"("display":"Logout"}],)"
    R"("action":"E",)"
    R"("period":{"start":"2026-11-25T19:05:00.250000Z","end":"2026-11-25T19:05:00.250000Z"},)"
    R"("recorded":"2026-11-25T19:05:00.250000Z",)"
    R"("outcome":"0",)"
    R"("agent":[{"type":{"coding":[{"system":"urn:visitd:participant-role","code":"patient"}]},)"
    R"("who":{"identifier":{"system":"urn:visitd:participant","value":"j-77"}},)"
    R"("requestor":true}],)"
    R"("source":{"observer":{"display":"https://visitd.example.org"},)"
    R"("type":[{"system":"http://terminology.hl7.org/CodeSystem/security-source-type",)"
    R"("code":"4","display":"Application Server"}]},)"
    R"("entity":[{"what":{"reference":"Encounter/42"}}]})");
}

TEST(write_back_resources, audit_event_of_device_tests_and_configured_codes) {
  auto item = base_item(write_back_kind::device_test, "2026-11-25T18:00:00Z");
  item.participant = join_link_patient();
  item.encounter.reset();
  item.appointment.reset();
  item.check = domain::write_back_device_check{true, true, true};
  domain::audit_event_codes codes;
  codes.type = {"urn:ehr:audit", "VV", ""};
  auto ok = parse(audit_event_json(item, codes, "obs", false));
  EXPECT_EQ(ok.at("outcome"), "0");
  EXPECT_FALSE(ok.as_object().contains("outcomeDesc"));
  EXPECT_FALSE(ok.as_object().contains("entity"));
  EXPECT_EQ(ok.at("type"), parse(R"({"system":"urn:ehr:audit","code":"VV"})"));
  EXPECT_EQ(ok.at("subtype"), parse(R"([{"system":"urn:visitd:audit-subtype",)"
                                    R"("code":"device-test","display":"Device test"}])"));

  item.check = domain::write_back_device_check{false, true, false};
  auto failed = parse(audit_event_json(item, codes, "obs", false));
  EXPECT_EQ(failed.at("outcome"), "4");
  EXPECT_EQ(failed.at("outcomeDesc"), "device check failed: camera, speaker");
}

// -- Encounter ---------------------------------------------------------------------------------

constexpr std::string_view planned_encounter = R"({
  "resourceType": "Encounter",
  "id": "42",
  "meta": {"versionId": "3", "lastUpdated": "2026-11-20T10:00:00Z"},
  "extension": [{"url": "https://ehr.example.org/ext", "valueString": "keep me"}],
  "status": "planned",
  "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
  "subject": {"reference": "Patient/1"},
  "participant": [{"individual": {"reference": "Practitioner/999"}}],
  "length": {"value": 30, "unit": "min"},
  "period": {"start": "2026-11-25T20:00:00+01:00"}
})";

TEST(write_back_resources, visit_started_moves_the_encounter_forward) {
  const auto item = base_item(write_back_kind::visit_started, "2026-11-25T18:49:36Z");
  auto first = merged(merge_encounter(planned_encounter, item));
  auto out = parse(first);
  EXPECT_EQ(out.at("status"), "in-progress");
  // 18:49:36Z is before 20:00+01:00 (19:00Z): the start moves earlier.
  EXPECT_EQ(out.at("period"), parse(R"({"start":"2026-11-25T18:49:36Z"})"));
  // The class is there already (AMB), and every member visitd does not own is kept.
  auto expected = parse(planned_encounter);
  expected.as_object()["status"] = "in-progress";
  expected.as_object()["period"] = parse(R"({"start":"2026-11-25T18:49:36Z"})");
  EXPECT_EQ(out, expected);

  // Idempotent: applying it again changes nothing.
  auto again = merge_encounter(first, item);
  ASSERT_TRUE(again) << again.err().message;
  EXPECT_FALSE(again->has_value());
}

TEST(write_back_resources, an_existing_earlier_start_with_offset_is_kept) {
  auto text = std::string{planned_encounter};
  text.replace(text.find("20:00:00+01:00"), 14, "19:00:00+01:00");  // 18:00Z
  const auto item = base_item(write_back_kind::visit_started, "2026-11-25T18:49:36Z");
  auto out = parse(merged(merge_encounter(text, item)));
  EXPECT_EQ(str(out, {"period", "start"}), "2026-11-25T19:00:00+01:00");
  EXPECT_EQ(out.at("status"), "in-progress");
}

TEST(write_back_resources, class_virtual_is_added_only_when_absent) {
  const auto item = base_item(write_back_kind::visit_started, "2026-11-25T18:49:36Z");
  auto out =
    parse(merged(merge_encounter(R"({"resourceType":"Encounter","status":"arrived"})", item)));
  EXPECT_EQ(out, parse(R"({"resourceType":"Encounter","status":"in-progress",
    "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"VR",
             "display":"virtual"},
    "period":{"start":"2026-11-25T18:49:36Z"}})"));
}

TEST(write_back_resources, visit_ended_finishes_the_encounter) {
  auto item = base_item(write_back_kind::visit_ended, "2026-11-25T19:30:00Z");
  item.started_at = at("2026-11-25T18:49:36Z");
  item.ended_because = domain::end_reason::ended_by_provider;
  auto out = parse(merged(merge_encounter(planned_encounter, item)));
  EXPECT_EQ(out.at("status"), "finished");
  EXPECT_EQ(out.at("period"),
            parse(R"({"start":"2026-11-25T18:49:36Z","end":"2026-11-25T19:30:00Z"})"));
}

TEST(write_back_resources, encounter_merges_commute) {
  const auto started = base_item(write_back_kind::visit_started, "2026-11-25T18:49:36Z");
  auto ended = base_item(write_back_kind::visit_ended, "2026-11-25T19:30:00Z");
  ended.started_at = started.at;
  auto connect = provider_item(write_back_kind::connected, "2026-11-25T18:48:00Z");
  auto disconnect = provider_item(write_back_kind::disconnected, "2026-11-25T19:29:00Z");

  auto apply = [](std::string text, const std::vector<write_back_item>& items) {
    for (const auto& item : items) {
      auto r = merge_encounter(text, item);
      EXPECT_TRUE(r.has_value());
      if (r.has_value() && r->has_value()) text = **r;
    }
    return parse(text);
  };
  const auto in_order =
    apply(std::string{planned_encounter}, {connect, started, disconnect, ended});
  EXPECT_EQ(in_order.at("status"), "finished");
  EXPECT_EQ(in_order.at("period"),
            parse(R"({"start":"2026-11-25T18:49:36Z","end":"2026-11-25T19:30:00Z"})"));
  EXPECT_EQ(in_order.at("participant"), parse(R"([{"individual":{"reference":"Practitioner/999"}},
                      {"individual":{"reference":"Practitioner/123"},
                       "period":{"start":"2026-11-25T18:48:00Z","end":"2026-11-25T19:29:00Z"}}])"));
  EXPECT_EQ(apply(std::string{planned_encounter}, {ended, disconnect, started, connect}), in_order);
  EXPECT_EQ(
    apply(std::string{planned_encounter}, {started, ended, ended, connect, disconnect, connect}),
    in_order);
  // A reconnect later than the first connect, and a disconnect earlier than the last one, move
  // nothing.
  auto late_connect = provider_item(write_back_kind::connected, "2026-11-25T19:00:00Z");
  auto early_disconnect = provider_item(write_back_kind::disconnected, "2026-11-25T18:55:00Z");
  auto final_text = boost::json::serialize(in_order);
  for (const auto& item : {late_connect, early_disconnect, started, ended}) {
    auto r = merge_encounter(final_text, item);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value()) << domain::to_string(item.kind);
  }
}

TEST(write_back_resources, encounter_status_never_moves_backward) {
  const auto started = base_item(write_back_kind::visit_started, "2026-11-25T18:49:36Z");
  for (std::string_view status : {"finished", "cancelled", "entered-in-error", "in-progress"}) {
    const std::string text =
      R"({"resourceType":"Encounter","status":")" + std::string{status} +
      R"(","class":{"code":"VR"},"period":{"start":"2026-11-25T18:00:00Z"}})";
    auto r = merge_encounter(text, started);
    ASSERT_TRUE(r.has_value()) << r.err().message;
    EXPECT_FALSE(r->has_value()) << status;
  }
  auto ended = base_item(write_back_kind::visit_ended, "2026-11-25T19:30:00Z");
  auto out = parse(merged(merge_encounter(
    R"({"resourceType":"Encounter","status":"cancelled","period":{"end":"2026-11-25T19:00:00Z"}})",
    ended)));
  EXPECT_EQ(out.at("status"), "cancelled");
  EXPECT_EQ(str(out, {"period", "end"}), "2026-11-25T19:30:00Z");
}

TEST(write_back_resources, partial_and_unreadable_dates) {
  const auto started = base_item(write_back_kind::visit_started, "2026-11-25T18:49:36Z");
  const auto ended = base_item(write_back_kind::visit_ended, "2026-11-25T19:30:00Z");
  auto encounter = [](std::string_view period) {
    return R"({"resourceType":"Encounter","status":"finished","class":{"code":"VR"},"period":)" +
           std::string{period} + "}";
  };
  auto unchanged = [](const domain::result<std::optional<std::string>>& r) {
    return r.has_value() && !r->has_value();
  };
  // A date (or month, or year) covers the instant: nothing moves.
  EXPECT_TRUE(unchanged(merge_encounter(encounter(R"({"start":"2026-11-25"})"), started)));
  EXPECT_TRUE(unchanged(merge_encounter(encounter(R"({"start":"2026-11"})"), started)));
  EXPECT_TRUE(unchanged(merge_encounter(encounter(R"({"start":"2026"})"), started)));
  EXPECT_TRUE(unchanged(merge_encounter(encounter(R"({"end":"2026-11-25"})"), ended)));
  // A later date is replaced by the earlier instant, an earlier one by the later end.
  EXPECT_EQ(str(parse(merged(merge_encounter(encounter(R"({"start":"2026-11-26"})"), started))),
                {"period", "start"}),
            "2026-11-25T18:49:36Z");
  EXPECT_EQ(str(parse(merged(merge_encounter(encounter(R"({"end":"2026-11-24"})"), ended))),
                {"period", "end"}),
            "2026-11-25T19:30:00Z");
  // A value visitd cannot read is the EHR's business: kept as it is.
  for (std::string_view bad :
       {R"({"start":"soon"})", R"({"start":"2026-11-25T18:00:00"})", R"({"start":"2026-02-30"})",
        R"({"start":12})", R"({"start":"2026-11-25T25:00:00Z"})"})
    EXPECT_TRUE(unchanged(merge_encounter(encounter(bad), started))) << bad;
  EXPECT_TRUE(unchanged(merge_encounter(
    R"({"resourceType":"Encounter","status":"finished","class":{},"period":"x"})", started)));
}

TEST(write_back_resources, participant_periods_of_staff) {
  const auto connect = provider_item(write_back_kind::connected, "2026-11-25T18:48:00Z");
  // An absolute reference to the same user is the same participant; other members are kept.
  auto out = parse(merged(merge_encounter(R"({"resourceType":"Encounter","status":"in-progress",
    "participant":[{"type":[{"text":"attender"}],
                    "individual":{"reference":"https://ehr.example.org/fhir/Practitioner/123"},
                    "period":{"start":"2026-11-25T19:00:00Z"}}]})",
                                          connect)));
  EXPECT_EQ(out.at("participant"), parse(R"([{"type":[{"text":"attender"}],
    "individual":{"reference":"https://ehr.example.org/fhir/Practitioner/123"},
    "period":{"start":"2026-11-25T18:48:00Z"}}])"));

  // Someone else whose reference merely ends the same way is not the user.
  auto other = parse(merged(merge_encounter(R"({"resourceType":"Encounter","status":"in-progress",
    "participant":[{"individual":{"reference":"OtherPractitioner/123"}}]})",
                                            connect)));
  EXPECT_EQ(other.at("participant").as_array().size(), 2U);

  // Patients, guests and join-link identities have no Encounter participant entry.
  auto patient = base_item(write_back_kind::connected, "2026-11-25T18:48:00Z");
  patient.participant = join_link_patient();
  auto r = merge_encounter(planned_encounter, patient);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  auto test = provider_item(write_back_kind::device_test, "2026-11-25T18:48:00Z");
  r = merge_encounter(planned_encounter, test);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
}

TEST(write_back_resources, not_an_encounter) {
  const auto item = base_item(write_back_kind::visit_started, "2026-11-25T18:49:36Z");
  for (std::string_view text :
       {R"({"resourceType":"Appointment","status":"booked"})", R"({"status":"planned"})",
        R"([{"resourceType":"Encounter"}])", "not json", R"({"resourceType":"Encounter",)",
        R"({"resourceType":"Encounter","status":3})"}) {
    auto r = merge_encounter(text, item);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.err().code, domain::errc::invalid_argument);
  }
  auto r = merge_encounter(R"({"resourceType":"Patient"})", item);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "the resource read is not an Encounter");
}

// -- Appointment -------------------------------------------------------------------------------

constexpr std::string_view booked_appointment = R"({
  "resourceType": "Appointment",
  "id": "9",
  "status": "booked",
  "start": "2026-11-25T19:00:00Z",
  "minutesDuration": 30,
  "participant": [{"actor": {"reference": "Patient/1"}, "status": "accepted"}]
})";

TEST(write_back_resources, a_patient_arrives) {
  auto lobby = base_item(write_back_kind::lobby_entered, "2026-11-25T18:40:00Z");
  lobby.participant = join_link_patient();
  auto first = merged(merge_appointment(booked_appointment, lobby));
  auto expected = parse(booked_appointment);
  expected.as_object()["status"] = "arrived";
  EXPECT_EQ(parse(first), expected);
  auto again = merge_appointment(first, lobby);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->has_value());

  // A guest's arrival means nothing to the Appointment; nor does a provider's.
  auto guest = lobby;
  guest.participant->role = domain::participant_role::guest;
  auto r = merge_appointment(booked_appointment, guest);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  auto staff = lobby;
  staff.participant = provider();
  r = merge_appointment(booked_appointment, staff);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
}

TEST(write_back_resources, appointment_after_the_visit) {
  auto ended = base_item(write_back_kind::visit_ended, "2026-11-25T19:30:00Z");
  for (auto untouched : {domain::report_status::cancelled, domain::report_status::abandoned}) {
    ended.outcome = untouched;
    auto r = merge_appointment(booked_appointment, ended);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value()) << "a cancelled or abandoned visit leaves the Appointment";
  }
  ended.outcome = domain::report_status::no_show;
  EXPECT_EQ(parse(merged(merge_appointment(booked_appointment, ended))).at("status"), "noshow");
  ended.started_at = at("2026-11-25T19:01:00Z");
  ended.outcome = domain::report_status::completed;
  auto fulfilled = merged(merge_appointment(booked_appointment, ended));
  EXPECT_EQ(parse(fulfilled).at("status"), "fulfilled");

  // Out of order: the lobby entry after the end moves nothing back.
  auto lobby = base_item(write_back_kind::lobby_entered, "2026-11-25T18:40:00Z");
  lobby.participant = join_link_patient();
  for (const auto& item : {lobby, ended}) {
    auto r = merge_appointment(fulfilled, item);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value());
  }
  for (std::string_view status : {"noshow", "cancelled", "entered-in-error"}) {
    const std::string text =
      R"({"resourceType":"Appointment","status":")" + std::string{status} + R"("})";
    auto r = merge_appointment(text, ended);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value()) << status;
  }
  // arrived and checked-in are not where lobby entry applies, but the end does.
  auto r = merge_appointment(R"({"resourceType":"Appointment","status":"checked-in"})", lobby);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(
    parse(merged(merge_appointment(R"({"resourceType":"Appointment","status":"arrived"})", ended)))
      .at("status"),
    "fulfilled");
}

TEST(write_back_resources, not_an_appointment) {
  auto ended = base_item(write_back_kind::visit_ended, "2026-11-25T19:30:00Z");
  auto r = merge_appointment(planned_encounter, ended);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, domain::errc::invalid_argument);
  EXPECT_EQ(r.err().message, "the resource read is not an Appointment");
}

}  // namespace
}  // namespace visitd::fhir
