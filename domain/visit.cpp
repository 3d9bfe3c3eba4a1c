#include "domain/visit.hpp"

#include "domain/overloaded.hpp"

#include <algorithm>

namespace visitd::domain {

namespace {

bool starts_with(const fhir_reference& ref, std::string_view prefix) {
  return ref.str().starts_with(prefix);
}

void erase_from_lobby(visit_state& state, const participant_id& participant) {
  std::erase(state.lobby, participant);
}

bool any_connected(const visit_state& state) {
  return std::any_of(state.participants.begin(), state.participants.end(),
                     [](const auto& kv) { return kv.second.connected(); });
}

bool staff_and_patient_present(const visit_state& state) {
  bool staff = false;
  bool other = false;
  for (const auto& [id, p] : state.participants) {
    if (!p.present()) continue;
    (p.is_staff() ? staff : other) = true;
  }
  return staff && other;
}

std::string quoted(const participant_id& id) {
  return "participant '" + id.str() + "'";
}

// Builds the events of one `decide` call. Later rules must see the effect of earlier events, and
// the emitted events must fold to exactly the state the rules reasoned about, so the rules read
// the state with every event emitted so far applied. That state is a copy of the visit's (maps of
// participants and devices: a dozen allocations), made only once a rule reads it: commands whose
// rules never look past their own event (a device test, a lobby message) emit without copying.
class event_builder {
public:
  event_builder(const visit_state& state, timestamp now)
    : base_(state), at_(state.last_event_at ? std::max(now, *state.last_event_at) : now) {}

  void emit(visit_event event) {
    event_envelope env{base_.last_seq + out_.size() + 1, at_, std::move(event)};
    if (work_) apply(*work_, env);
    out_.push_back(std::move(env));
  }

  /// The visit's state with every event emitted so far applied.
  [[nodiscard]] const visit_state& state() {
    if (!work_) {
      work_.emplace(base_);
      for (const auto& env : out_) apply(*work_, env);
    }
    return *work_;
  }
  [[nodiscard]] timestamp at() const noexcept { return at_; }

  /// Rules that follow from any command: the visit starts the first time staff and a
  /// patient/guest are present together, and ends when everyone has gone after it started.
  void settle() {
    if (settled_without_copy()) return;
    if (state().status == visit_status::ended) return;
    if (!state().started_at && staff_and_patient_present(state())) emit(visit_started{});
    if (state().status == visit_status::in_progress && !any_connected(state()))
      emit(visit_ended{end_reason::last_left});
  }

  /// Disconnects every connected device of `participant` (or of everyone when nullopt).
  void disconnect_all(const std::optional<participant_id>& only = std::nullopt) {
    std::vector<disconnected> drops;
    for (const auto& [pid, p] : state().participants) {
      if (only && pid != *only) continue;
      for (const auto& [did, d] : p.devices)
        if (d.connected) drops.push_back(disconnected{pid, did});
    }
    for (auto& drop : drops) emit(std::move(drop));
  }

  [[nodiscard]] std::vector<event_envelope> take() && { return std::move(out_); }

private:
  /// settle() for the commonest commands, a device joining or leaving a started visit, read off
  /// the visit's state without copying it: a (dis)connection changes neither status nor
  /// started_at, so only "is anyone still connected" can emit anything (visit_ended). False when
  /// the case is not this one and settle() must read the full state.
  bool settled_without_copy() {
    if (work_ || out_.size() != 1 || !base_.started_at) return false;
    const auto& only = out_.front().event;
    if (const auto* c = std::get_if<connected>(&only))
      // Connecting a device of a known participant leaves someone connected: nothing follows.
      return base_.participants.contains(c->participant);
    const auto* d = std::get_if<disconnected>(&only);
    if (!d) return false;
    if (base_.status != visit_status::in_progress) return true;
    for (const auto& [pid, p] : base_.participants)
      for (const auto& [did, device] : p.devices)
        if (device.connected && !(pid == d->participant && did == d->device)) return true;
    emit(visit_ended{end_reason::last_left});
    return true;
  }

  const visit_state& base_;  // the visit before this command; outlives the builder
  std::optional<visit_state> work_;
  timestamp at_;
  std::vector<event_envelope> out_;
};

using events_result = result<std::vector<event_envelope>>;

/// The staff member issuing a staff-only command, or `forbidden`.
result<void> require_staff(const visit_state& state, const participant_id& by,
                           std::string_view what) {
  const auto it = state.participants.find(by);
  if (it == state.participants.end() || !it->second.is_staff())
    return make_error(errc::forbidden, "only staff may " + std::string{what} + "; " + quoted(by) +
                                         " is not a provider in this visit");
  return {};
}

result<const participant_state*> find_participant(const visit_state& state,
                                                  const participant_id& id) {
  const auto it = state.participants.find(id);
  if (it == state.participants.end())
    return make_error(errc::not_found, quoted(id) + " has not joined this visit");
  return &it->second;
}

result<void> check_identity(const cmd::join& c) {
  const bool is_ehr_user = std::holds_alternative<ehr_user_id>(c.identity);
  if (c.role == participant_role::provider && !is_ehr_user)
    return make_error(errc::invalid_argument,
                      "identity of a provider must be an ehr_user_id, not a join_id");
  if (c.role == participant_role::guest && is_ehr_user)
    return make_error(errc::invalid_argument,
                      "identity of a guest must be a join_id, not an ehr_user_id");
  return {};
}

events_result decide_join(const visit_state& state, const cmd::join& c, timestamp now,
                          const visit_policy& policy) {
  if (auto ok = check_identity(c); !ok) return std::move(ok).err();
  event_builder b{state, now};
  const auto it = state.participants.find(c.participant);
  if (it == state.participants.end()) {
    b.emit(participant_joined{c.participant, c.role, c.identity});
    if (c.role != participant_role::provider) b.emit(lobby_entered{c.participant});
  } else {
    const participant_state& p = it->second;
    if (p.role != c.role || p.identity != c.identity)
      return make_error(errc::conflict, quoted(c.participant) +
                                          " already joined with a different role or identity");
    if (p.status == admission::denied)
      return make_error(errc::forbidden, quoted(c.participant) + " was denied entry");
    if (const auto d = p.devices.find(c.device); d != p.devices.end() && d->second.connected)
      return make_error(errc::conflict, "device_id '" + c.device.str() + "' of " +
                                          quoted(c.participant) + " is already connected");
    if (!p.is_staff() && p.status == admission::admitted && !p.connected()) {
      // Rejoining after a drop: straight back in within the grace period, else the lobby again.
      timestamp anchor = p.admitted_at.value_or(b.at());
      if (p.last_left_at) anchor = std::max(anchor, *p.last_left_at);
      if (b.at() - anchor > policy.rejoin_grace)
        b.emit(returned_to_lobby{c.participant, std::nullopt});
    }
  }
  b.emit(connected{c.participant, c.device});
  if (c.role == participant_role::provider && policy.auto_admit_on_provider_join) {
    const std::vector<participant_id> waiting = b.state().lobby;
    for (const auto& w : waiting) b.emit(admitted{w, std::nullopt});
  }
  b.settle();
  return std::move(b).take();
}

events_result decide_leave(const visit_state& state, const cmd::leave& c, timestamp now) {
  auto p = find_participant(state, c.participant);
  if (!p) return std::move(p).err();
  const auto d = (*p)->devices.find(c.device);
  if (d == (*p)->devices.end() || !d->second.connected)
    return make_error(errc::conflict, "device_id '" + c.device.str() + "' of " +
                                        quoted(c.participant) + " is not connected");
  event_builder b{state, now};
  b.emit(disconnected{c.participant, c.device});
  b.settle();
  return std::move(b).take();
}

result<const participant_state*> lobby_member(const visit_state& state, const participant_id& id) {
  auto p = find_participant(state, id);
  if (!p) return p;
  if ((*p)->status != admission::lobby)
    return make_error(errc::conflict, quoted(id) + " is not waiting in the lobby");
  return p;
}

events_result decide_admit(const visit_state& state, const cmd::admit& c, timestamp now) {
  if (auto ok = require_staff(state, c.by, "admit"); !ok) return std::move(ok).err();
  if (auto p = lobby_member(state, c.participant); !p) return std::move(p).err();
  event_builder b{state, now};
  b.emit(admitted{c.participant, c.by});
  b.settle();
  return std::move(b).take();
}

events_result decide_admit_all(const visit_state& state, const cmd::admit_all& c, timestamp now) {
  if (auto ok = require_staff(state, c.by, "admit"); !ok) return std::move(ok).err();
  if (state.lobby.empty()) return make_error(errc::conflict, "the lobby is empty; nobody to admit");
  event_builder b{state, now};
  for (const auto& w : state.lobby) b.emit(admitted{w, c.by});
  b.settle();
  return std::move(b).take();
}

events_result decide_deny(const visit_state& state, const cmd::deny& c, timestamp now) {
  if (auto ok = require_staff(state, c.by, "deny"); !ok) return std::move(ok).err();
  if (auto p = lobby_member(state, c.participant); !p) return std::move(p).err();
  event_builder b{state, now};
  b.emit(denied{c.participant, c.by, c.reason});
  b.disconnect_all(c.participant);
  b.settle();
  return std::move(b).take();
}

events_result decide_return(const visit_state& state, const cmd::return_to_lobby& c,
                            timestamp now) {
  if (auto ok = require_staff(state, c.by, "return a participant to the lobby"); !ok)
    return std::move(ok).err();
  auto p = find_participant(state, c.participant);
  if (!p) return std::move(p).err();
  if ((*p)->is_staff())
    return make_error(errc::conflict, quoted(c.participant) + " is staff; staff are never lobbied");
  if ((*p)->status != admission::admitted)
    return make_error(errc::conflict, quoted(c.participant) + " is not admitted");
  event_builder b{state, now};
  b.emit(returned_to_lobby{c.participant, c.by});
  b.settle();
  return std::move(b).take();
}

events_result decide_message(const visit_state& state, const cmd::send_lobby_message& c,
                             timestamp now) {
  if (auto ok = require_staff(state, c.by, "message the lobby"); !ok) return std::move(ok).err();
  if (auto ok = validate_lobby_message(c.text); !ok) return std::move(ok).err();
  if (c.to) {
    if (auto p = lobby_member(state, *c.to); !p) return std::move(p).err();
  }
  event_builder b{state, now};
  b.emit(lobby_message{c.by, c.to, c.text});
  return std::move(b).take();
}

events_result decide_end(const visit_state& state, const cmd::end& c, timestamp now) {
  if (auto ok = require_staff(state, c.by, "end the visit"); !ok) return std::move(ok).err();
  event_builder b{state, now};
  b.disconnect_all();
  b.emit(visit_ended{end_reason::ended_by_provider});
  return std::move(b).take();
}

events_result decide_expire(const visit_state& state, timestamp now, const visit_policy& policy) {
  event_builder b{state, now};
  const auto deadline = expires_at(state, policy);
  if (!deadline || b.at() < *deadline)
    return make_error(errc::conflict, "the visit has not expired yet");
  b.disconnect_all();
  b.emit(visit_ended{end_reason::timeout});
  return std::move(b).take();
}

events_result decide_device_test(const visit_state& state, const cmd::report_device_test& c,
                                 timestamp now) {
  if (auto p = find_participant(state, c.participant); !p) return std::move(p).err();
  event_builder b{state, now};
  b.emit(device_test_result{c.participant, c.device, c.camera_ok, c.microphone_ok, c.speaker_ok});
  return std::move(b).take();
}

}  // namespace

// -- visit_info / participant ------------------------------------------------------------------

result<visit_info> make_visit_info(visit_id id, tenant_id tenant, endpoint_id endpoint,
                                   std::optional<fhir_reference> appointment,
                                   std::optional<fhir_reference> encounter,
                                   std::optional<department_id> department,
                                   timestamp scheduled_start) {
  if (id.empty() || tenant.empty() || endpoint.empty())
    return make_error(errc::invalid_argument, "visit_id, tenant_id and endpoint_id are required");
  if (!appointment && !encounter)
    return make_error(errc::invalid_argument,
                      "a visit needs an appointment or an encounter reference");
  if (appointment && !starts_with(*appointment, "Appointment/"))
    return make_error(errc::invalid_argument, "appointment must reference Appointment/…");
  if (encounter && !starts_with(*encounter, "Encounter/"))
    return make_error(errc::invalid_argument, "encounter must reference Encounter/…");
  return visit_info{std::move(id),          std::move(tenant),    std::move(endpoint),
                    std::move(appointment), std::move(encounter), std::move(department),
                    scheduled_start};
}

bool participant_state::connected() const noexcept {
  return std::any_of(devices.begin(), devices.end(),
                     [](const auto& kv) { return kv.second.connected; });
}

bool participant_state::present() const noexcept {
  return status == admission::admitted && connected();
}

visit_state initial_state(visit_info info) {
  visit_state state;
  state.info = std::move(info);
  return state;
}

// -- decide ------------------------------------------------------------------------------------

result<std::vector<event_envelope>> decide(const visit_state& state, const command& cmd,
                                           timestamp now, const visit_policy& policy) {
  if (state.status == visit_status::ended) return make_error(errc::conflict, "the visit has ended");
  return std::visit(
    overloaded{
      [&](const cmd::join& c) { return decide_join(state, c, now, policy); },
      [&](const cmd::leave& c) { return decide_leave(state, c, now); },
      [&](const cmd::admit& c) { return decide_admit(state, c, now); },
      [&](const cmd::admit_all& c) { return decide_admit_all(state, c, now); },
      [&](const cmd::deny& c) { return decide_deny(state, c, now); },
      [&](const cmd::return_to_lobby& c) { return decide_return(state, c, now); },
      [&](const cmd::send_lobby_message& c) { return decide_message(state, c, now); },
      [&](const cmd::end& c) { return decide_end(state, c, now); },
      [&](const cmd::expire&) { return decide_expire(state, now, policy); },
      [&](const cmd::report_device_test& c) { return decide_device_test(state, c, now); },
    },
    cmd);
}

// -- apply -------------------------------------------------------------------------------------

void apply(visit_state& state, const event_envelope& env) {
  state.last_seq = env.seq;
  state.last_event_at = env.at;
  const timestamp at = env.at;
  auto find = [&](const participant_id& id) -> participant_state* {
    const auto it = state.participants.find(id);
    return it == state.participants.end() ? nullptr : &it->second;
  };
  // Entering the lobby and being sent back to it fold the same way: to the end of the queue.
  auto put_in_lobby = [&](const participant_id& id) {
    auto* p = find(id);
    if (!p || p->is_staff()) return;  // staff are never lobbied
    p->status = admission::lobby;
    if (!p->first_lobby_at) p->first_lobby_at = at;
    erase_from_lobby(state, id);
    state.lobby.push_back(id);
  };
  std::visit(overloaded{
               [&](const participant_joined& e) {
                 if (find(e.participant)) return;
                 participant_state p;
                 p.role = e.role;
                 p.identity = e.identity;
                 if (e.role == participant_role::provider) {
                   p.status = admission::admitted;
                   p.admitted_at = at;
                 }
                 state.participants.emplace(e.participant, std::move(p));
                 if (state.status == visit_status::scheduled) {
                   state.status = visit_status::open;
                   state.opened_at = at;
                 }
               },
               [&](const lobby_entered& e) { put_in_lobby(e.participant); },
               [&](const admitted& e) {
                 auto* p = find(e.participant);
                 if (!p) return;
                 p->status = admission::admitted;
                 p->admitted_at = at;
                 erase_from_lobby(state, e.participant);
               },
               [&](const denied& e) {
                 auto* p = find(e.participant);
                 if (!p) return;
                 p->status = admission::denied;
                 erase_from_lobby(state, e.participant);
               },
               [&](const returned_to_lobby& e) { put_in_lobby(e.participant); },
               [&](const connected& e) {
                 auto* p = find(e.participant);
                 if (!p) return;
                 auto& d = p->devices[e.device];
                 d.connected = true;
                 d.last_change = at;
               },
               [&](const disconnected& e) {
                 auto* p = find(e.participant);
                 if (!p) return;
                 const auto it = p->devices.find(e.device);
                 if (it == p->devices.end() || !it->second.connected) return;
                 it->second.connected = false;
                 it->second.last_change = at;
                 if (!p->connected()) p->last_left_at = at;
               },
               [&](const visit_started&) {
                 if (state.started_at) return;
                 state.status = visit_status::in_progress;
                 state.started_at = at;
               },
               [&](const visit_ended& e) {
                 state.status = visit_status::ended;
                 state.ended_at = at;
                 state.ended_because = e.reason;
               },
               [&](const lobby_message&) {
                 // Delivered to subscribers; it changes nothing in the visit's state.
               },
               [&](const device_test_result& e) {
                 auto* p = find(e.participant);
                 if (!p) return;
                 p->devices[e.device].last_check =
                   device_check{e.camera_ok, e.microphone_ok, e.speaker_ok, at};
               },
             },
             env.event);
}

result<visit_state> fold(visit_info info, std::span<const event_envelope> events) {
  visit_state state = initial_state(std::move(info));
  for (const auto& env : events) {
    if (env.seq != state.last_seq + 1)
      return make_error(errc::invalid_argument, "event seq " + std::to_string(env.seq) +
                                                  " follows seq " + std::to_string(state.last_seq) +
                                                  "; the journal has a gap");
    apply(state, env);
  }
  return state;
}

// -- queries -----------------------------------------------------------------------------------

std::optional<std::size_t> lobby_position(const visit_state& state,
                                          const participant_id& participant) {
  const auto it = std::find(state.lobby.begin(), state.lobby.end(), participant);
  if (it == state.lobby.end()) return std::nullopt;
  return static_cast<std::size_t>(it - state.lobby.begin()) + 1;
}

std::optional<timestamp> expires_at(const visit_state& state, const visit_policy& policy) {
  if (state.status == visit_status::ended) return std::nullopt;
  const timestamp start = state.info.scheduled_start;
  timestamp deadline = start + policy.max_duration;
  if (!any_connected(state)) {
    const timestamp last = state.last_event_at ? std::max(start, *state.last_event_at) : start;
    deadline = std::min(deadline, last + policy.idle_timeout);
  }
  return deadline;
}

std::size_t present_count(const visit_state& state) {
  return static_cast<std::size_t>(
    std::count_if(state.participants.begin(), state.participants.end(),
                  [](const auto& kv) { return kv.second.present(); }));
}

std::string_view to_string(visit_status status) noexcept {
  switch (status) {
    case visit_status::scheduled: return "scheduled";
    case visit_status::open: return "open";
    case visit_status::in_progress: return "in_progress";
    case visit_status::ended: return "ended";
  }
  return "unknown";
}

}  // namespace visitd::domain
