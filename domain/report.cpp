#include "domain/report.hpp"

#include "domain/overloaded.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <variant>

namespace visitd::domain {

namespace {

// What the report needs to know of a participant: deliberately not the visit fold, so the two
// implementations check each other in the tests.
struct attendee {
  bool staff = false;
  bool admitted = false;
  std::set<device_id> devices;
  [[nodiscard]] bool present() const { return admitted && !devices.empty(); }
};

}  // namespace

visit_report make_report(std::span<const event_envelope> events) {
  visit_report rep;
  std::map<participant_id, attendee> people;
  std::map<participant_id, std::size_t> wait_index;  // into rep.lobby_waits
  std::optional<timestamp> last_leave;
  bool anyone_joined = false;
  bool ended = false;
  bool patient_lobbied = false;
  bool patient_admitted = false;

  for (const auto& env : events) {
    const timestamp at = env.at;
    std::map<participant_id, bool> before;
    for (const auto& [id, a] : people) before[id] = a.present();

    std::visit(overloaded{
                 [&](const participant_joined& e) {
                   anyone_joined = true;
                   auto [it, fresh] = people.try_emplace(e.participant);
                   if (!fresh) return;
                   it->second.staff = e.role == participant_role::provider;
                   it->second.admitted = it->second.staff;
                 },
                 [&](const lobby_entered& e) {
                   auto it = people.find(e.participant);
                   if (it == people.end() || it->second.staff) return;
                   it->second.admitted = false;
                   patient_lobbied = true;
                   if (!wait_index.contains(e.participant)) {
                     wait_index.emplace(e.participant, rep.lobby_waits.size());
                     rep.lobby_waits.push_back(lobby_wait{e.participant, at, std::nullopt});
                   }
                 },
                 [&](const admitted& e) {
                   auto it = people.find(e.participant);
                   if (it == people.end()) return;
                   it->second.admitted = true;
                   if (!it->second.staff) patient_admitted = true;
                   if (auto w = wait_index.find(e.participant); w != wait_index.end()) {
                     auto& wait = rep.lobby_waits[w->second];
                     if (!wait.wait) wait.wait = at - wait.entered_at;
                   }
                 },
                 [&](const denied& e) {
                   if (auto it = people.find(e.participant); it != people.end())
                     it->second.admitted = false;
                 },
                 [&](const returned_to_lobby& e) {
                   if (auto it = people.find(e.participant);
                       it != people.end() && !it->second.staff)
                     it->second.admitted = false;
                 },
                 [&](const connected& e) {
                   if (auto it = people.find(e.participant); it != people.end())
                     it->second.devices.insert(e.device);
                 },
                 [&](const disconnected& e) {
                   if (auto it = people.find(e.participant); it != people.end())
                     it->second.devices.erase(e.device);
                 },
                 [&](const visit_started&) {},
                 [&](const visit_ended&) { ended = true; },
                 [&](const lobby_message&) {},
                 [&](const device_test_result&) {},
               },
               env.event);

    std::size_t present = 0;
    bool staff_present = false;
    bool other_present = false;
    for (const auto& [id, a] : people) {
      const bool now_present = a.present();
      if (now_present) {
        ++present;
        (a.staff ? staff_present : other_present) = true;
      }
      const auto was = before.find(id);
      if (was != before.end() && was->second && !now_present) last_leave = at;
    }
    rep.max_attendees = std::max(rep.max_attendees, present);
    if (!rep.started_at && staff_present && other_present) rep.started_at = at;
  }

  if (rep.started_at) {
    const bool still_present =
      std::any_of(people.begin(), people.end(), [](const auto& kv) { return kv.second.present(); });
    timestamp end = events.back().at;
    if (!still_present && last_leave) end = *last_leave;
    rep.length = end - *rep.started_at;
  }

  if (!ended)
    rep.status = report_status::not_ended;
  else if (rep.started_at)
    rep.status = report_status::completed;
  else if (!anyone_joined)
    rep.status = report_status::cancelled;
  else if (patient_lobbied && !patient_admitted)
    rep.status = report_status::abandoned;
  else
    rep.status = report_status::no_show;
  return rep;
}

std::string_view to_string(report_status status) noexcept {
  switch (status) {
    case report_status::not_ended: return "not_ended";
    case report_status::completed: return "completed";
    case report_status::no_show: return "no_show";
    case report_status::cancelled: return "cancelled";
    case report_status::abandoned: return "abandoned";
  }
  return "unknown";
}

}  // namespace visitd::domain
