#include "http/visit_json.hpp"

#include "domain/overloaded.hpp"
#include "domain/time_format.hpp"

#include <boost/json.hpp>

namespace visitd::http {

std::string_view status_name(domain::visit_status s) {
  switch (s) {
    case domain::visit_status::scheduled: return "scheduled";
    case domain::visit_status::open: return "open";
    case domain::visit_status::in_progress: return "in_progress";
    case domain::visit_status::ended: return "ended";
  }
  return "unknown";
}

std::string_view admission_name(domain::admission a) {
  switch (a) {
    case domain::admission::none: return "none";
    case domain::admission::lobby: return "lobby";
    case domain::admission::admitted: return "admitted";
    default: return "denied";
  }
}

boost::json::object summary_json(const actors::visit_summary& v) {
  boost::json::object out{
    {"id", v.visit.str()},
    {"status", status_name(v.status)},
    {"scheduled_start", domain::format_rfc3339(v.scheduled_start)},
    {"lobby", v.lobby},
    {"present", v.present},
    {"last_seq", v.last_seq},
  };
  if (v.department) out["department"] = v.department->str();
  return out;
}

boost::json::object visit_json(const domain::visit_state& v) {
  boost::json::object out{
    {"id", v.info.id.str()},
    {"tenant", v.info.tenant.str()},
    {"endpoint", v.info.endpoint.str()},
    {"status", status_name(v.status)},
    {"scheduled_start", domain::format_rfc3339(v.info.scheduled_start)},
    {"last_seq", v.last_seq},
  };
  if (v.info.appointment) out["appointment"] = v.info.appointment->str();
  if (v.info.encounter) out["encounter"] = v.info.encounter->str();
  if (v.info.department) out["department"] = v.info.department->str();
  if (v.started_at) out["started_at"] = domain::format_rfc3339(*v.started_at);
  if (v.ended_at) out["ended_at"] = domain::format_rfc3339(*v.ended_at);
  boost::json::array participants;
  for (const auto& [id, p] : v.participants) {
    boost::json::array devices;
    for (const auto& [device, d] : p.devices)
      devices.emplace_back(boost::json::object{{"id", device.str()}, {"connected", d.connected}});
    participants.emplace_back(boost::json::object{{"id", id.str()},
                                                  {"role", domain::to_string(p.role)},
                                                  {"status", admission_name(p.status)},
                                                  {"connected", p.connected()},
                                                  {"devices", std::move(devices)}});
  }
  out["participants"] = std::move(participants);
  boost::json::array lobby;
  for (const auto& id : v.lobby) lobby.emplace_back(id.str());
  out["lobby"] = std::move(lobby);
  return out;
}

boost::json::object event_json(const domain::event_envelope& e) {
  using namespace domain;
  boost::json::object out{
    {"seq", e.seq}, {"at", format_rfc3339(e.at)}, {"type", event_name(e.event)}};
  auto identity = [](const participant_identity& id) {
    return std::visit([](const auto& x) { return x.str(); }, id);
  };
  std::visit(overloaded{
               [&](const participant_joined& x) {
                 out["participant"] = x.participant.str();
                 out["role"] = to_string(x.role);
                 out["identity"] = identity(x.identity);
               },
               [&](const lobby_entered& x) { out["participant"] = x.participant.str(); },
               [&](const admitted& x) {
                 out["participant"] = x.participant.str();
                 if (x.by) out["by"] = x.by->str();
               },
               [&](const denied& x) {
                 out["participant"] = x.participant.str();
                 out["by"] = x.by.str();
                 out["reason"] = to_string(x.reason);
               },
               [&](const returned_to_lobby& x) {
                 out["participant"] = x.participant.str();
                 if (x.by) out["by"] = x.by->str();
               },
               [&](const connected& x) {
                 out["participant"] = x.participant.str();
                 out["device"] = x.device.str();
               },
               [&](const disconnected& x) {
                 out["participant"] = x.participant.str();
                 out["device"] = x.device.str();
               },
               [&](const visit_started&) {},
               [&](const visit_ended& x) { out["reason"] = to_string(x.reason); },
               [&](const lobby_message& x) {
                 out["from"] = x.from.str();
                 if (x.to) out["to"] = x.to->str();
                 out["text"] = x.text;
               },
               [&](const device_test_result& x) {
                 out["participant"] = x.participant.str();
                 out["device"] = x.device.str();
                 out["camera_ok"] = x.camera_ok;
                 out["microphone_ok"] = x.microphone_ok;
                 out["speaker_ok"] = x.speaker_ok;
               },
             },
             e.event);
  return out;
}

}  // namespace visitd::http
