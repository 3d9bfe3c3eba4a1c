#include "domain/visit.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace visitd::domain {
namespace {

using testing::t0;

using namespace std::chrono_literals;
using testing::did;
using testing::euid;
using testing::jid;
using testing::make_id;
using testing::pid;

visit_info test_info() {
  return make_visit_info(make_id<visit_id>("v1"), make_id<tenant_id>("t1"),
                         make_id<endpoint_id>("e1"), make_id<fhir_reference>("Appointment/a1"),
                         std::nullopt, std::nullopt, t0)
    .value();
}

cmd::join provider(std::string_view p, std::string_view d = "d1") {
  return cmd::join{pid(p), did(d), participant_role::provider,
                   euid("Practitioner/" + std::string{p})};
}
cmd::join patient(std::string_view p, std::string_view d = "d1") {
  return cmd::join{pid(p), did(d), participant_role::patient, jid("j-" + std::string{p})};
}

template <class Event>
std::vector<Event> of_type(const std::vector<event_envelope>& events) {
  std::vector<Event> out;
  for (const auto& e : events)
    if (const auto* ev = std::get_if<Event>(&e.event)) out.push_back(*ev);
  return out;
}

class visit_test : public ::testing::Test {
protected:
  /// Decides and, on success, applies; returns the decision.
  result<std::vector<event_envelope>> run(const command& c, duration after = 0s) {
    now_ += after;
    auto events = decide(state_, c, now_, policy_);
    if (events) {
      for (const auto& e : *events) apply(state_, e);
      log_.insert(log_.end(), events->begin(), events->end());
    }
    return events;
  }

  std::vector<event_envelope> ok(const command& c, duration after = 0s) {
    auto events = run(c, after);
    EXPECT_TRUE(events.has_value()) << events.err().message;
    return events ? *events : std::vector<event_envelope>{};
  }

  errc fails(const command& c, duration after = 0s) {
    const visit_state before = state_;
    auto events = run(c, after);
    EXPECT_FALSE(events.has_value());
    EXPECT_EQ(state_, before);
    return events ? errc::internal : events.err().code;
  }

  const participant_state& p(std::string_view id) { return state_.participants.at(pid(id)); }

  visit_policy policy_;
  visit_state state_ = initial_state(test_info());
  timestamp now_ = t0;
  std::vector<event_envelope> log_;
};

TEST(visit_info, needs_an_appointment_or_encounter_of_the_right_type) {
  auto v = make_id<visit_id>("v");
  auto t = make_id<tenant_id>("t");
  auto e = make_id<endpoint_id>("e");
  EXPECT_FALSE(make_visit_info(v, t, e, std::nullopt, std::nullopt, std::nullopt, t0));
  EXPECT_FALSE(make_visit_info(v, t, e, make_id<fhir_reference>("Encounter/1"), std::nullopt,
                               std::nullopt, t0));
  EXPECT_FALSE(make_visit_info(v, t, e, std::nullopt, make_id<fhir_reference>("Appointment/1"),
                               std::nullopt, t0));
  auto ok = make_visit_info(v, t, e, std::nullopt, make_id<fhir_reference>("Encounter/1"),
                            make_id<department_id>("dep-1"), t0);
  ASSERT_TRUE(ok.has_value()) << ok.err().message;
  EXPECT_EQ(ok->encounter->str(), "Encounter/1");
}

TEST_F(visit_test, starts_scheduled_and_opens_on_first_join) {
  EXPECT_EQ(state_.status, visit_status::scheduled);
  auto events = ok(provider("doc"));
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].seq, 1U);
  EXPECT_EQ(events[1].seq, 2U);
  EXPECT_TRUE(std::holds_alternative<participant_joined>(events[0].event));
  EXPECT_TRUE(std::holds_alternative<connected>(events[1].event));
  EXPECT_EQ(state_.status, visit_status::open);
  EXPECT_EQ(state_.opened_at, t0);
  EXPECT_TRUE(state_.lobby.empty()) << "staff are never lobbied";
  EXPECT_TRUE(p("doc").present());
}

TEST_F(visit_test, patients_and_guests_wait_in_the_lobby_in_arrival_order) {
  ok(patient("pat"));
  ok(cmd::join{pid("gst"), did("d1"), participant_role::guest, jid("j-g")}, 1s);
  EXPECT_EQ(state_.status, visit_status::open);
  EXPECT_EQ(lobby_position(state_, pid("pat")), 1U);
  EXPECT_EQ(lobby_position(state_, pid("gst")), 2U);
  EXPECT_EQ(lobby_position(state_, pid("nobody")), std::nullopt);
  EXPECT_FALSE(p("pat").present());
  EXPECT_EQ(of_type<lobby_entered>(log_).size(), 2U);
}

TEST_F(visit_test, early_arrivals_are_not_admitted_when_a_provider_joins_by_default) {
  ok(patient("pat"));
  ok(provider("doc"), 1min);
  EXPECT_EQ(p("pat").status, admission::lobby);
  EXPECT_EQ(state_.status, visit_status::open);
}

TEST_F(visit_test, auto_admit_on_provider_join_admits_the_lobby) {
  policy_.auto_admit_on_provider_join = true;
  ok(patient("pat"));
  ok(patient("pat2"));
  auto events = ok(provider("doc"), 1min);
  auto admissions = of_type<admitted>(events);
  ASSERT_EQ(admissions.size(), 2U);
  EXPECT_EQ(admissions[0].participant, pid("pat"));
  EXPECT_EQ(admissions[0].by, std::nullopt);
  EXPECT_TRUE(state_.lobby.empty());
  EXPECT_EQ(state_.status, visit_status::in_progress);
}

TEST_F(visit_test, admit_starts_the_visit_once_staff_and_patient_are_present) {
  ok(patient("pat"));
  ok(provider("doc"), 1min);
  auto events = ok(cmd::admit{pid("doc"), pid("pat")}, 30s);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(std::get<admitted>(events[0].event).by, pid("doc"));
  EXPECT_TRUE(std::holds_alternative<visit_started>(events[1].event));
  EXPECT_EQ(state_.status, visit_status::in_progress);
  EXPECT_EQ(state_.started_at, t0 + 90s);
  EXPECT_TRUE(p("pat").present());
  EXPECT_FALSE(lobby_position(state_, pid("pat")));
}

TEST_F(visit_test, admit_is_refused_for_non_staff_unknown_or_not_waiting) {
  ok(patient("pat"));
  ok(patient("pat2"));
  ok(provider("doc"));
  EXPECT_EQ(fails(cmd::admit{pid("pat2"), pid("pat")}), errc::forbidden);
  EXPECT_EQ(fails(cmd::admit{pid("stranger"), pid("pat")}), errc::forbidden);
  EXPECT_EQ(fails(cmd::admit{pid("doc"), pid("ghost")}), errc::not_found);
  EXPECT_EQ(fails(cmd::admit{pid("doc"), pid("doc")}), errc::conflict);
  ok(cmd::admit{pid("doc"), pid("pat")});
  EXPECT_EQ(fails(cmd::admit{pid("doc"), pid("pat")}), errc::conflict);
}

TEST_F(visit_test, forbidden_message_names_the_actor) {
  ok(patient("pat"));
  auto r = run(cmd::admit{pid("pat"), pid("pat")});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.err().message.find("'pat'"), std::string::npos) << r.err().message;
}

TEST_F(visit_test, admit_all_admits_everyone_in_queue_order) {
  ok(patient("b"));
  ok(patient("a"));
  ok(provider("doc"));
  auto events = ok(cmd::admit_all{pid("doc")});
  auto admissions = of_type<admitted>(events);
  ASSERT_EQ(admissions.size(), 2U);
  EXPECT_EQ(admissions[0].participant, pid("b"));
  EXPECT_EQ(admissions[1].participant, pid("a"));
  EXPECT_EQ(of_type<visit_started>(events).size(), 1U);
  EXPECT_EQ(fails(cmd::admit_all{pid("doc")}), errc::conflict);
  EXPECT_EQ(fails(cmd::admit_all{pid("a")}), errc::forbidden);
}

TEST_F(visit_test, deny_removes_from_lobby_disconnects_and_bars_rejoining) {
  ok(patient("pat"));
  ok(patient("pat", "d2"));
  ok(provider("doc"));
  EXPECT_EQ(fails(cmd::deny{pid("pat"), pid("pat"), deny_reason::duplicate}), errc::forbidden);
  auto events = ok(cmd::deny{pid("doc"), pid("pat"), deny_reason::not_expected});
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(std::get<denied>(events[0].event).reason, deny_reason::not_expected);
  EXPECT_EQ(of_type<disconnected>(events).size(), 2U);
  EXPECT_EQ(p("pat").status, admission::denied);
  EXPECT_FALSE(p("pat").connected());
  EXPECT_TRUE(state_.lobby.empty());
  EXPECT_EQ(fails(patient("pat")), errc::forbidden);
  EXPECT_EQ(fails(cmd::deny{pid("doc"), pid("pat"), deny_reason::duplicate}), errc::conflict);
}

TEST_F(visit_test, return_to_lobby_puts_an_admitted_patient_at_the_end) {
  ok(patient("pat"));
  ok(patient("pat2"));
  ok(provider("doc"));
  ok(cmd::admit{pid("doc"), pid("pat")});
  EXPECT_EQ(fails(cmd::return_to_lobby{pid("pat2"), pid("pat")}), errc::forbidden);
  EXPECT_EQ(fails(cmd::return_to_lobby{pid("doc"), pid("doc")}), errc::conflict);
  EXPECT_EQ(fails(cmd::return_to_lobby{pid("doc"), pid("pat2")}), errc::conflict);
  auto events = ok(cmd::return_to_lobby{pid("doc"), pid("pat")});
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(lobby_position(state_, pid("pat")), 2U);
  EXPECT_FALSE(p("pat").present());
  EXPECT_EQ(state_.status, visit_status::in_progress) << "started stays started";
  // Readmitting does not start the visit a second time.
  auto again = ok(cmd::admit{pid("doc"), pid("pat")});
  EXPECT_TRUE(of_type<visit_started>(again).empty());
}

TEST_F(visit_test, lobby_messages_are_staff_only_and_capped) {
  ok(patient("pat"));
  ok(provider("doc"));
  auto events = ok(cmd::send_lobby_message{pid("doc"), std::nullopt, "Running 5 minutes late"});
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(std::get<lobby_message>(events[0].event).text, "Running 5 minutes late");
  ok(cmd::send_lobby_message{pid("doc"), pid("pat"), std::string(500, 'x')});
  EXPECT_EQ(fails(cmd::send_lobby_message{pid("doc"), pid("pat"), std::string(501, 'x')}),
            errc::invalid_argument);
  EXPECT_EQ(fails(cmd::send_lobby_message{pid("doc"), std::nullopt, ""}), errc::invalid_argument);
  EXPECT_EQ(fails(cmd::send_lobby_message{pid("doc"), std::nullopt, "a\x01"}),
            errc::invalid_argument);
  EXPECT_EQ(fails(cmd::send_lobby_message{pid("pat"), std::nullopt, "hi"}), errc::forbidden);
  EXPECT_EQ(fails(cmd::send_lobby_message{pid("doc"), pid("doc"), "hi"}), errc::conflict);
  EXPECT_EQ(fails(cmd::send_lobby_message{pid("doc"), pid("ghost"), "hi"}), errc::not_found);
}

TEST_F(visit_test, last_leave_after_start_ends_the_visit) {
  ok(patient("pat"));
  ok(provider("doc"));
  ok(cmd::admit{pid("doc"), pid("pat")});
  ok(cmd::leave{pid("doc"), did("d1")}, 10min);
  EXPECT_EQ(state_.status, visit_status::in_progress);
  auto events = ok(cmd::leave{pid("pat"), did("d1")}, 1min);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(std::get<visit_ended>(events[1].event).reason, end_reason::last_left);
  EXPECT_EQ(state_.status, visit_status::ended);
  EXPECT_EQ(fails(patient("pat")), errc::conflict);
  EXPECT_EQ(fails(cmd::expire{}, 48h), errc::conflict);
}

TEST_F(visit_test, leaving_before_the_start_does_not_end_the_visit) {
  ok(provider("doc"));
  ok(cmd::leave{pid("doc"), did("d1")});
  EXPECT_EQ(state_.status, visit_status::open);
  ok(provider("doc"));
}

TEST_F(visit_test, a_participant_may_use_several_devices) {
  ok(provider("doc"));
  ok(provider("doc", "d2"));
  EXPECT_EQ(fails(provider("doc", "d2")), errc::conflict);
  ok(cmd::leave{pid("doc"), did("d1")});
  EXPECT_TRUE(p("doc").connected());
  EXPECT_EQ(fails(cmd::leave{pid("doc"), did("d1")}), errc::conflict);
  EXPECT_EQ(fails(cmd::leave{pid("ghost"), did("d1")}), errc::not_found);
}

TEST_F(visit_test, join_checks_role_and_identity) {
  EXPECT_EQ(fails(cmd::join{pid("doc"), did("d1"), participant_role::provider, jid("j")}),
            errc::invalid_argument);
  EXPECT_EQ(fails(cmd::join{pid("g"), did("d1"), participant_role::guest, euid("Patient/1")}),
            errc::invalid_argument);
  ok(cmd::join{pid("pat"), did("d1"), participant_role::patient, euid("Patient/1")});
  EXPECT_EQ(fails(cmd::join{pid("pat"), did("d2"), participant_role::guest, jid("j")}),
            errc::conflict);
  EXPECT_EQ(fails(cmd::join{pid("pat"), did("d2"), participant_role::patient, euid("Patient/2")}),
            errc::conflict);
}

TEST_F(visit_test, rejoin_within_grace_goes_straight_in) {
  policy_.rejoin_grace = 2min;
  ok(patient("pat"));
  ok(provider("doc"));
  ok(cmd::admit{pid("doc"), pid("pat")});
  ok(cmd::leave{pid("pat"), did("d1")}, 5min);
  auto events = ok(patient("pat", "d9"), 2min);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_TRUE(p("pat").present());
}

TEST_F(visit_test, rejoin_after_grace_goes_back_to_the_lobby) {
  policy_.rejoin_grace = 2min;
  ok(patient("pat"));
  ok(provider("doc"));
  ok(cmd::admit{pid("doc"), pid("pat")});
  ok(cmd::leave{pid("pat"), did("d1")}, 5min);
  auto events = ok(patient("pat"), 2min + 1us);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(std::get<returned_to_lobby>(events[0].event).by, std::nullopt);
  EXPECT_EQ(p("pat").status, admission::lobby);
  EXPECT_EQ(lobby_position(state_, pid("pat")), 1U);
}

TEST_F(visit_test, end_by_provider_disconnects_everyone) {
  ok(patient("pat"));
  ok(provider("doc"));
  EXPECT_EQ(fails(cmd::end{pid("pat")}), errc::forbidden);
  auto events = ok(cmd::end{pid("doc")});
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(of_type<disconnected>(events).size(), 2U);
  EXPECT_EQ(std::get<visit_ended>(events.back().event).reason, end_reason::ended_by_provider);
  EXPECT_EQ(state_.status, visit_status::ended);
  EXPECT_EQ(present_count(state_), 0U);
  EXPECT_EQ(fails(cmd::end{pid("doc")}), errc::conflict);
  EXPECT_EQ(fails(cmd::report_device_test{pid("doc"), did("d1"), true, true, true}),
            errc::conflict);
}

TEST_F(visit_test, expire_only_after_the_deadline) {
  policy_.idle_timeout = 30min;
  policy_.max_duration = 4h;
  // Nobody connected: idle timeout counts from the scheduled start.
  EXPECT_EQ(expires_at(state_, policy_), t0 + 30min);
  EXPECT_EQ(fails(cmd::expire{}, 30min - 1us), errc::conflict);
  now_ = t0;
  ok(provider("doc"), 10min);
  // Someone connected: only the hard limit applies.
  EXPECT_EQ(expires_at(state_, policy_), t0 + 4h);
  EXPECT_EQ(fails(cmd::expire{}, 1h), errc::conflict);
  auto events = ok(cmd::expire{}, 3h);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(std::get<visit_ended>(events[1].event).reason, end_reason::timeout);
  EXPECT_EQ(expires_at(state_, policy_), std::nullopt);
}

TEST_F(visit_test, idle_timeout_counts_from_the_last_event) {
  policy_.idle_timeout = 30min;
  ok(provider("doc"), 1h);
  ok(cmd::leave{pid("doc"), did("d1")}, 10min);
  EXPECT_EQ(expires_at(state_, policy_), t0 + 1h + 10min + 30min);
}

TEST_F(visit_test, device_test_results_are_kept_per_device) {
  EXPECT_EQ(fails(cmd::report_device_test{pid("pat"), did("d1"), true, true, true}),
            errc::not_found);
  ok(patient("pat"));
  ok(cmd::report_device_test{pid("pat"), did("cam2"), true, false, true});
  const auto& check = p("pat").devices.at(did("cam2")).last_check;
  ASSERT_TRUE(check.has_value());
  EXPECT_TRUE(check->camera_ok);
  EXPECT_FALSE(check->microphone_ok);
  EXPECT_FALSE(p("pat").devices.at(did("cam2")).connected);
}

TEST_F(visit_test, event_time_never_runs_backwards) {
  ok(provider("doc"), 10min);
  auto events = ok(patient("pat"), -5min);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].at, t0 + 10min);
}

TEST_F(visit_test, fold_rebuilds_the_live_state_and_detects_gaps) {
  ok(patient("pat"));
  ok(provider("doc"));
  ok(cmd::admit{pid("doc"), pid("pat")});
  auto rebuilt = fold(test_info(), log_);
  ASSERT_TRUE(rebuilt.has_value());
  EXPECT_EQ(*rebuilt, state_);
  auto gap = log_;
  gap.erase(gap.begin() + 2);
  auto broken = fold(test_info(), gap);
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.err().code, errc::invalid_argument);
}

TEST(visit_apply, ignores_events_about_unknown_participants) {
  visit_state s = initial_state(test_info());
  apply(s, event_envelope{1, t0, connected{pid("ghost"), did("d")}});
  apply(s, event_envelope{2, t0, admitted{pid("ghost"), std::nullopt}});
  EXPECT_TRUE(s.participants.empty());
  EXPECT_EQ(s.last_seq, 2U);
}

}  // namespace
}  // namespace visitd::domain
