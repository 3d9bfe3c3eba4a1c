#include "fhir/capability_statement.hpp"

#include <simdjson.h>

namespace visitd::fhir {

using domain::errc;
using domain::make_error;

namespace {

domain::error statement_error(std::string_view what) {
  std::string message{"CapabilityStatement: "};
  message.append(what);
  return make_error(errc::invalid_argument, std::move(message));
}

/// A string member of `object`, "" when absent; an error naming `field` when it is something
/// else than a string.
domain::result<std::string_view> optional_string(simdjson::dom::object object,
                                                 std::string_view field, std::string_view path) {
  auto member = object[field];
  if (member.error() == simdjson::NO_SUCH_FIELD) return std::string_view{};
  std::string_view value;
  if (member.get_string().get(value)) {
    std::string what{path};
    what.append(" must be a string");
    return statement_error(what);
  }
  return value;
}

/// A boolean member of `object`, false when absent.
domain::result<bool> optional_bool(simdjson::dom::object object, std::string_view field,
                                   std::string_view path) {
  auto member = object[field];
  if (member.error() == simdjson::NO_SUCH_FIELD) return false;
  bool value = false;
  if (member.get_bool().get(value)) {
    std::string what{path};
    what.append(" must be a boolean");
    return statement_error(what);
  }
  return value;
}

/// Reads one `rest.resource` entry into `out` (whose type the caller matched).
domain::result<void> read_resource(simdjson::dom::object resource, std::string_view type,
                                   resource_support& out) {
  const std::string prefix = "rest.resource[" + std::string{type} + "].";
  out.listed = true;
  auto interactions = resource["interaction"];
  if (interactions.error() != simdjson::NO_SUCH_FIELD) {
    simdjson::dom::array array;
    if (interactions.get_array().get(array))
      return statement_error(prefix + "interaction must be an array");
    for (const auto entry : array) {
      simdjson::dom::object interaction;
      if (entry.get_object().get(interaction))
        return statement_error(prefix + "interaction must be an array of objects");
      auto code = optional_string(interaction, "code", prefix + "interaction[].code");
      if (!code) return code.err();
      if (*code == "read") out.read = true;
      if (*code == "create") out.create = true;
      if (*code == "update") out.update = true;
    }
  }
  auto update_create = optional_bool(resource, "updateCreate", prefix + "updateCreate");
  if (!update_create) return update_create.err();
  out.update_create = *update_create;
  auto conditional_create =
    optional_bool(resource, "conditionalCreate", prefix + "conditionalCreate");
  if (!conditional_create) return conditional_create.err();
  out.conditional_create = *conditional_create;
  auto versioning = optional_string(resource, "versioning", prefix + "versioning");
  if (!versioning) return versioning.err();
  out.versioning.assign(*versioning);
  return {};
}

/// What an unsupported Encounter or Appointment update lacks, as a plan note.
std::string update_note(std::string_view type, const resource_support& support) {
  std::string note{type};
  if (!support.listed) {
    note.append(": the server does not list ").append(type).append(", so it is not updated");
    return note;
  }
  note.append(": the server does not support ");
  if (!support.read && !support.update)
    note.append("read and update");
  else if (!support.read)
    note.append("read");
  else
    note.append("update");
  note.append(" of ").append(type).append(", so it is not updated");
  return note;
}

}  // namespace

domain::result<write_back_support> parse_capability_statement(std::string_view json) {
  // The DOM parser validates the whole document, unlike on-demand, which only checks what it
  // visits: a statement that is not JSON must be refused, not half-read.
  simdjson::dom::parser parser;
  const simdjson::padded_string padded{json};
  simdjson::dom::element root;
  if (parser.parse(padded).get(root)) return statement_error("not valid JSON");
  simdjson::dom::object object;
  if (root.get_object().get(object)) return statement_error("not a JSON object");
  auto resource_type = optional_string(object, "resourceType", "resourceType");
  if (!resource_type || *resource_type != "CapabilityStatement")
    return statement_error("resourceType is not \"CapabilityStatement\"");

  write_back_support out;
  auto version = optional_string(object, "fhirVersion", "fhirVersion");
  if (!version) return version.err();
  out.fhir_version.assign(*version);

  simdjson::dom::array rest;
  auto rest_member = object["rest"];
  if (rest_member.error() == simdjson::NO_SUCH_FIELD)
    return statement_error("no rest entry with mode \"server\"");
  if (rest_member.get_array().get(rest)) return statement_error("rest must be an array");

  for (const auto entry : rest) {
    simdjson::dom::object server;
    if (entry.get_object().get(server)) return statement_error("rest must be an array of objects");
    auto mode = optional_string(server, "mode", "rest[].mode");
    if (!mode) return mode.err();
    if (*mode != "server") continue;

    auto resources = server["resource"];
    if (resources.error() == simdjson::NO_SUCH_FIELD) return out;  // a server without resources
    simdjson::dom::array array;
    if (resources.get_array().get(array)) return statement_error("rest.resource must be an array");
    for (const auto item : array) {
      simdjson::dom::object resource;
      if (item.get_object().get(resource))
        return statement_error("rest.resource must be an array of objects");
      auto type = optional_string(resource, "type", "rest.resource[].type");
      if (!type) return type.err();
      resource_support* target = nullptr;
      if (*type == "AuditEvent")
        target = &out.audit_event;
      else if (*type == "Encounter")
        target = &out.encounter;
      else if (*type == "Appointment")
        target = &out.appointment;
      // A type listed twice: the first entry counts (the spec allows one per type).
      if (target == nullptr || target->listed) continue;
      if (auto ok = read_resource(resource, *type, *target); !ok) return ok.err();
    }
    return out;
  }
  return statement_error("no rest entry with mode \"server\"");
}

write_back_plan plan_write_back(const write_back_support& support,
                                const domain::write_back_policy& policy) {
  const auto& wanted = policy.writes;
  write_back_plan plan;
  plan.codes = policy.codes;
  plan.targets.audit_events = false;
  plan.targets.encounters = false;
  plan.targets.appointments = false;

  if (wanted.audit_events) {
    const auto& audit = support.audit_event;
    if (audit.update_create && audit.update) {
      plan.audit_events = audit_event_strategy::update_as_create;
    } else if (audit.conditional_create && audit.create) {
      plan.audit_events = audit_event_strategy::conditional_create;
    } else if (!audit.listed) {
      plan.notes.emplace_back(
        "AuditEvent: the server does not list AuditEvent, so no AuditEvent is written");
    } else {
      plan.notes.emplace_back(
        "AuditEvent: the server supports neither update-as-create nor conditional create, so a "
        "retry could duplicate");
    }
    plan.targets.audit_events = plan.audit_events != audit_event_strategy::unsupported;
  }

  auto plan_updates = [&](std::string_view type, const resource_support& s, bool& target) {
    if (s.read && s.update)
      target = true;
    else
      plan.notes.push_back(update_note(type, s));
  };
  if (wanted.encounters) plan_updates("Encounter", support.encounter, plan.targets.encounters);
  if (wanted.appointments)
    plan_updates("Appointment", support.appointment, plan.targets.appointments);
  return plan;
}

std::string_view to_string(audit_event_strategy s) noexcept {
  switch (s) {
    case audit_event_strategy::update_as_create: return "update_as_create";
    case audit_event_strategy::conditional_create: return "conditional_create";
    case audit_event_strategy::unsupported: return "unsupported";
  }
  return "unknown";
}

}  // namespace visitd::fhir
