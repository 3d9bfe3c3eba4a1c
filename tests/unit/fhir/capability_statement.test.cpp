#include "fhir/capability_statement.hpp"

#include <gtest/gtest.h>

namespace visitd::fhir {
namespace {

// Shaped like Epic's R4 `metadata`: an instance statement with SMART security, AuditEvent by
// (conditional) create only, Encounter readable and updatable, Appointment read-only.
constexpr std::string_view epic_like = R"({
  "resourceType": "CapabilityStatement",
  "status": "active",
  "date": "2024-05-01T00:00:00Z",
  "publisher": "Epic",
  "kind": "instance",
  "software": {"name": "Epic", "version": "May 2024"},
  "implementation": {"description": "FHIR", "url": "https://ehr.example.org/fhir/api/FHIR/R4"},
  "fhirVersion": "4.0.1",
  "format": ["xml", "json"],
  "rest": [{
    "mode": "server",
    "security": {
      "extension": [{
        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
        "extension": [
          {"url": "authorize", "valueUri": "https://ehr.example.org/oauth2/authorize"},
          {"url": "token", "valueUri": "https://ehr.example.org/oauth2/token"}]}],
      "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                "code": "SMART-on-FHIR"}]}]
    },
    "resource": [
      {"type": "Appointment",
       "interaction": [{"code": "read"}, {"code": "search-type"}],
       "searchParam": [{"name": "patient", "type": "reference"}]},
      {"type": "AuditEvent",
       "interaction": [{"code": "create"}],
       "conditionalCreate": true,
       "updateCreate": false},
      {"type": "Encounter",
       "profile": "http://hl7.org/fhir/StructureDefinition/Encounter",
       "interaction": [{"code": "read"}, {"code": "update"}, {"code": "search-type"}],
       "versioning": "versioned",
       "conditionalUpdate": false},
      {"type": "Patient", "interaction": [{"code": "read"}]}
    ],
    "interaction": [{"code": "batch"}]
  }]
})";

// Shaped like HAPI FHIR's: every interaction, update-as-create and conditional create.
constexpr std::string_view hapi_like = R"({
  "resourceType": "CapabilityStatement",
  "id": "b5e8a6a8-0b7e-4e0c-9e44-1b7a0bd2c6d0",
  "status": "active",
  "kind": "instance",
  "software": {"name": "HAPI FHIR Server", "version": "6.8.0"},
  "fhirVersion": "4.0.1",
  "format": ["application/fhir+xml", "xml", "application/fhir+json", "json"],
  "rest": [{
    "mode": "server",
    "resource": [
      {"type": "AuditEvent",
       "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
       "interaction": [{"code": "history-instance"}, {"code": "delete"}, {"code": "update"},
                       {"code": "history-type"}, {"code": "vread"}, {"code": "create"},
                       {"code": "read"}, {"code": "search-type"}, {"code": "patch"}],
       "versioning": "versioned-update",
       "readHistory": true,
       "updateCreate": true,
       "conditionalCreate": true,
       "conditionalRead": "full-support",
       "conditionalUpdate": true,
       "conditionalDelete": "multiple",
       "searchInclude": ["*"],
       "searchParam": [{"name": "_tag", "type": "token"}]},
      {"type": "Appointment",
       "interaction": [{"code": "update"}, {"code": "create"}, {"code": "read"}],
       "versioning": "versioned-update", "updateCreate": true, "conditionalCreate": true},
      {"type": "Encounter",
       "interaction": [{"code": "update"}, {"code": "create"}, {"code": "read"}],
       "versioning": "versioned-update", "updateCreate": true, "conditionalCreate": true}
    ],
    "operation": [{"name": "everything", "definition": "OperationDefinition/Patient-everything"}]
  }]
})";

void expect_invalid(std::string_view json, std::string_view says) {
  auto parsed = parse_capability_statement(json);
  ASSERT_FALSE(parsed) << json;
  EXPECT_EQ(parsed.err().code, domain::errc::invalid_argument);
  EXPECT_NE(parsed.err().message.find(says), std::string::npos) << parsed.err().message;
}

TEST(capability_statement, epic_like_statement) {
  auto parsed = parse_capability_statement(epic_like);
  ASSERT_TRUE(parsed) << parsed.err().message;
  write_back_support expected;
  expected.fhir_version = "4.0.1";
  expected.audit_event = {.listed = true,
                          .read = false,
                          .create = true,
                          .update = false,
                          .update_create = false,
                          .conditional_create = true,
                          .versioning = ""};
  expected.encounter = {.listed = true,
                        .read = true,
                        .create = false,
                        .update = true,
                        .update_create = false,
                        .conditional_create = false,
                        .versioning = "versioned"};
  expected.appointment = {.listed = true,
                          .read = true,
                          .create = false,
                          .update = false,
                          .update_create = false,
                          .conditional_create = false,
                          .versioning = ""};
  EXPECT_EQ(*parsed, expected);

  const auto plan = plan_write_back(*parsed, {});
  EXPECT_EQ(plan.audit_events, audit_event_strategy::conditional_create);
  EXPECT_EQ(plan.targets, (domain::write_back_targets{
                            .audit_events = true, .encounters = true, .appointments = false}));
  EXPECT_EQ(plan.notes, std::vector<std::string>{
                          "Appointment: the server does not support update of Appointment, so it "
                          "is not updated"});
}

TEST(capability_statement, hapi_like_statement_prefers_update_as_create) {
  auto parsed = parse_capability_statement(hapi_like);
  ASSERT_TRUE(parsed) << parsed.err().message;
  EXPECT_EQ(parsed->fhir_version, "4.0.1");
  EXPECT_TRUE(parsed->audit_event.update_create);
  EXPECT_TRUE(parsed->audit_event.conditional_create);
  EXPECT_TRUE(parsed->audit_event.read);
  EXPECT_EQ(parsed->audit_event.versioning, "versioned-update");
  EXPECT_TRUE(parsed->encounter.read && parsed->encounter.update);
  EXPECT_TRUE(parsed->appointment.read && parsed->appointment.update);

  const auto plan = plan_write_back(*parsed, {});
  EXPECT_EQ(plan.audit_events, audit_event_strategy::update_as_create);
  EXPECT_EQ(plan.targets, domain::write_back_targets{});
  EXPECT_TRUE(plan.notes.empty());
}

TEST(capability_statement, first_server_rest_entry_counts) {
  auto parsed = parse_capability_statement(R"({"resourceType":"CapabilityStatement",
    "rest":[{"mode":"client","resource":[{"type":"Encounter","interaction":[{"code":"read"}]}]},
            {"mode":"server","resource":[
              {"type":"Encounter","interaction":[{"code":"update"}]},
              {"type":"Encounter","interaction":[{"code":"read"}]}]},
            {"mode":"server","resource":[{"type":"Appointment"}]}]})");
  ASSERT_TRUE(parsed) << parsed.err().message;
  EXPECT_EQ(parsed->fhir_version, "");
  EXPECT_TRUE(parsed->encounter.listed);
  EXPECT_TRUE(parsed->encounter.update);
  EXPECT_FALSE(parsed->encounter.read);  // the second Encounter entry is not read
  EXPECT_FALSE(parsed->appointment.listed);
  EXPECT_FALSE(parsed->audit_event.listed);
}

TEST(capability_statement, server_without_resources) {
  auto parsed = parse_capability_statement(
    R"({"resourceType":"CapabilityStatement","rest":[{"mode":"server"}]})");
  ASSERT_TRUE(parsed) << parsed.err().message;
  EXPECT_EQ(*parsed, write_back_support{});
}

TEST(capability_statement, refuses_what_is_not_a_usable_statement) {
  expect_invalid("", "not valid JSON");
  expect_invalid(R"({"resourceType":"CapabilityStatement",)", "not valid JSON");
  expect_invalid(R"({"resourceType":"CapabilityStatement","rest":[]} trailing)", "not valid JSON");
  expect_invalid("[1,2]", "not a JSON object");
  expect_invalid(R"({"resourceType":"Patient","rest":[]})", "CapabilityStatement");
  expect_invalid(R"({"rest":[{"mode":"server"}]})", "CapabilityStatement");
  expect_invalid(R"({"resourceType":"CapabilityStatement","fhirVersion":"4.0.1"})",
                 "no rest entry with mode \"server\"");
  expect_invalid(R"({"resourceType":"CapabilityStatement","rest":[{"mode":"client"}]})",
                 "no rest entry with mode \"server\"");
  expect_invalid(R"({"resourceType":"CapabilityStatement","rest":{"mode":"server"}})",
                 "rest must be an array");
  expect_invalid(R"({"resourceType":"CapabilityStatement","rest":[{"mode":"server",
    "resource":[{"type":"AuditEvent","updateCreate":"yes"}]}]})",
                 "rest.resource[AuditEvent].updateCreate must be a boolean");
  expect_invalid(R"({"resourceType":"CapabilityStatement","rest":[{"mode":"server",
    "resource":[{"type":"Encounter","interaction":{"code":"read"}}]}]})",
                 "rest.resource[Encounter].interaction must be an array");
  expect_invalid(R"({"resourceType":"CapabilityStatement","fhirVersion":4,"rest":[]})",
                 "fhirVersion must be a string");
}

TEST(capability_statement, plan_notes_say_what_is_not_written) {
  write_back_support support;
  support.audit_event.listed = true;
  support.audit_event.read = support.audit_event.create = support.audit_event.update = true;
  support.encounter.listed = true;
  // Appointment not listed at all.
  auto plan = plan_write_back(support, {});
  EXPECT_EQ(plan.audit_events, audit_event_strategy::unsupported);
  EXPECT_EQ(plan.targets, (domain::write_back_targets{false, false, false}));
  EXPECT_EQ(plan.notes,
            (std::vector<std::string>{
              "AuditEvent: the server supports neither update-as-create nor conditional create, "
              "so a retry could duplicate",
              "Encounter: the server does not support read and update of Encounter, so it is not "
              "updated",
              "Appointment: the server does not list Appointment, so it is not updated"}));

  support.audit_event = {};
  support.encounter.update = true;
  plan = plan_write_back(support, {});
  EXPECT_EQ(plan.notes[0],
            "AuditEvent: the server does not list AuditEvent, so no AuditEvent is written");
  EXPECT_EQ(plan.notes[1],
            "Encounter: the server does not support read of Encounter, so it is not updated");

  // updateCreate without the update interaction, and conditionalCreate without create, do not
  // count.
  support.audit_event = {};
  support.audit_event.listed = true;
  support.audit_event.update_create = true;
  support.audit_event.conditional_create = true;
  EXPECT_EQ(plan_write_back(support, {}).audit_events, audit_event_strategy::unsupported);
}

TEST(capability_statement, plan_only_writes_what_is_wanted) {
  auto parsed = parse_capability_statement(hapi_like);
  ASSERT_TRUE(parsed);
  const auto plan = plan_write_back(
    *parsed, {.writes = {.audit_events = false, .encounters = true, .appointments = false}});
  EXPECT_EQ(plan.audit_events, audit_event_strategy::unsupported);
  EXPECT_EQ(plan.targets, (domain::write_back_targets{false, true, false}));
  EXPECT_TRUE(plan.notes.empty());  // nothing wanted is missing

  write_back_support nothing;
  const auto none = plan_write_back(nothing, {.writes = {false, false, false}});
  EXPECT_TRUE(none.notes.empty());
  EXPECT_EQ(none.targets, (domain::write_back_targets{false, false, false}));
}

TEST(capability_statement, strategy_names) {
  EXPECT_EQ(to_string(audit_event_strategy::update_as_create), "update_as_create");
  EXPECT_EQ(to_string(audit_event_strategy::conditional_create), "conditional_create");
  EXPECT_EQ(to_string(audit_event_strategy::unsupported), "unsupported");
}

}  // namespace
}  // namespace visitd::fhir
