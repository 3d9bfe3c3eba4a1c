#include "domain/report.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace visitd::domain {
namespace {

using testing::t0;

using namespace std::chrono_literals;
using testing::did;
using testing::euid;
using testing::jid;
using testing::pid;

/// Builds an event list with consecutive seq numbers.
class journal {
public:
  journal& at(duration offset) {
    now_ = t0 + offset;
    return *this;
  }
  journal& add(visit_event e) {
    events_.push_back(event_envelope{events_.size() + 1, now_, std::move(e)});
    return *this;
  }
  journal& provider(std::string_view p) {
    return add(participant_joined{pid(p), participant_role::provider,
                                  euid("Practitioner/" + std::string{p})});
  }
  journal& patient(std::string_view p) {
    add(participant_joined{pid(p), participant_role::patient, jid("j-" + std::string{p})});
    return add(lobby_entered{pid(p)});
  }
  journal& on(std::string_view p, std::string_view d = "d1") {
    return add(connected{pid(p), did(d)});
  }
  journal& off(std::string_view p, std::string_view d = "d1") {
    return add(disconnected{pid(p), did(d)});
  }
  journal& admit(std::string_view p) { return add(admitted{pid(p), pid("doc")}); }
  journal& end(end_reason r = end_reason::last_left) { return add(visit_ended{r}); }

  [[nodiscard]] const std::vector<event_envelope>& events() const { return events_; }

private:
  timestamp now_ = t0;
  std::vector<event_envelope> events_;
};

TEST(report, completed_visit_start_duration_attendees_and_wait) {
  journal j;
  j.at(0min).patient("pat").on("pat");
  j.at(2min).provider("doc").on("doc");
  j.at(5min).admit("pat").add(visit_started{});
  j.at(6min).patient("gst").on("gst");
  j.at(7min).admit("gst");
  j.at(20min).off("pat");
  j.at(25min).off("gst");
  j.at(30min).off("doc").end();
  const auto rep = make_report(j.events());
  EXPECT_EQ(rep.status, report_status::completed);
  EXPECT_EQ(rep.started_at, t0 + 5min);
  EXPECT_EQ(rep.length, 25min);
  EXPECT_EQ(rep.max_attendees, 3U);
  ASSERT_EQ(rep.lobby_waits.size(), 2U);
  EXPECT_EQ(rep.lobby_waits[0].participant, pid("pat"));
  EXPECT_EQ(rep.lobby_waits[0].wait, 5min);
  EXPECT_EQ(rep.lobby_waits[1].wait, 1min);
}

TEST(report, duration_ends_at_the_last_leave_not_at_the_end_event) {
  journal j;
  j.at(0min).provider("doc").on("doc").patient("pat").on("pat").admit("pat");
  j.at(10min).off("pat");
  j.at(12min).off("doc");
  j.at(40min).end(end_reason::timeout);
  const auto rep = make_report(j.events());
  EXPECT_EQ(rep.started_at, t0);
  EXPECT_EQ(rep.length, 12min);
}

TEST(report, lobby_wait_counts_from_first_entry_to_first_admission) {
  journal j;
  j.at(0min).patient("pat").on("pat").provider("doc").on("doc");
  j.at(3min).admit("pat");
  j.at(4min).add(returned_to_lobby{pid("pat"), pid("doc")});
  j.at(9min).admit("pat");
  const auto rep = make_report(j.events());
  ASSERT_EQ(rep.lobby_waits.size(), 1U);
  EXPECT_EQ(rep.lobby_waits[0].entered_at, t0);
  EXPECT_EQ(rep.lobby_waits[0].wait, 3min);
  EXPECT_EQ(rep.status, report_status::not_ended);
}

TEST(report, still_present_counts_to_the_last_event) {
  journal j;
  j.at(0min).provider("doc").on("doc").patient("pat").on("pat").admit("pat");
  j.at(7min).add(lobby_message{pid("doc"), std::nullopt, "hi"});
  EXPECT_EQ(make_report(j.events()).length, 7min);
}

TEST(report, no_show_when_staff_never_meets_a_patient) {
  journal j;
  j.at(0min).provider("doc").on("doc");
  j.at(30min).off("doc").end(end_reason::timeout);
  const auto rep = make_report(j.events());
  EXPECT_EQ(rep.status, report_status::no_show);
  EXPECT_EQ(rep.started_at, std::nullopt);
  EXPECT_EQ(rep.length, 0us);
  EXPECT_EQ(rep.max_attendees, 1U);
}

TEST(report, cancelled_when_nobody_joined) {
  journal j;
  j.at(30min).end(end_reason::timeout);
  const auto rep = make_report(j.events());
  EXPECT_EQ(rep.status, report_status::cancelled);
  EXPECT_EQ(rep.max_attendees, 0U);
  EXPECT_EQ(make_report({}).status, report_status::not_ended);
}

TEST(report, abandoned_when_a_patient_waited_and_was_never_admitted) {
  journal j;
  j.at(0min).patient("pat").on("pat");
  j.at(1min).provider("doc").on("doc");
  j.at(20min).off("pat").off("doc").end(end_reason::ended_by_provider);
  const auto rep = make_report(j.events());
  EXPECT_EQ(rep.status, report_status::abandoned);
  ASSERT_EQ(rep.lobby_waits.size(), 1U);
  EXPECT_EQ(rep.lobby_waits[0].wait, std::nullopt);
  EXPECT_EQ(rep.max_attendees, 1U);
}

TEST(report, admitted_but_never_together_is_a_no_show) {
  // The provider admits a patient who has dropped, then leaves; the patient comes back alone.
  journal j;
  j.at(0min).patient("pat").on("pat").off("pat");
  j.at(1min).provider("doc").on("doc").admit("pat").off("doc");
  j.at(2min).on("pat").off("pat").end(end_reason::timeout);
  const auto rep = make_report(j.events());
  EXPECT_EQ(rep.status, report_status::no_show);
  EXPECT_EQ(rep.started_at, std::nullopt);
}

TEST(report, status_names) {
  EXPECT_EQ(to_string(report_status::no_show), "no_show");
  EXPECT_EQ(to_string(report_status::abandoned), "abandoned");
}

}  // namespace
}  // namespace visitd::domain
