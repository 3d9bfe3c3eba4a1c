#pragma once

// Shared by the whole-program benchmarks: id literals, fatal errors, where benchmark stores
// live, and a realistic visit made by the domain rules.

#include "domain/visit.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace visitd::bench {

template <class Id>
Id id(std::string_view text) {
  return *Id::parse(text);
}

[[noreturn]] inline void die(const std::string& why) {
  std::fprintf(stderr, "bench: %s\n", why.c_str());
  std::exit(1);
}

/// `<VISITD_BENCH_DIR or /tmp/visitd-bench>/<name>`.
inline std::filesystem::path bench_dir(const char* name) {
  const char* env = std::getenv("VISITD_BENCH_DIR");
  return (env ? std::filesystem::path{env}
              : std::filesystem::temp_directory_path() / "visitd-bench") /
         name;
}

inline const domain::participant_id& template_patient() {
  static const auto patient = id<domain::participant_id>("pat-9c2e");
  return patient;
}

/// The command the throughput benchmark drives: the patient reports a device test, one durable
/// event per command (with a write-back item, rebuilt from the event rather than stored).
inline domain::command device_test_command() {
  return domain::cmd::report_device_test{template_patient(), id<domain::device_id>("d-2"), true,
                                         true, true};
}

/// A visit in progress, made by the domain rules: a provider and a patient join, the patient is
/// admitted, both connected; then device checks until it has at least `min_events` events.
/// `events` is its whole journal and `state` the fold of it.
struct template_visit {
  domain::visit_state state;
  std::vector<domain::event_envelope> events;
};

inline template_visit in_progress_visit(std::size_t min_events = 0) {
  using namespace domain;
  auto info =
    make_visit_info(id<visit_id>("visit-template"), id<tenant_id>("tenant-1"),
                    id<endpoint_id>("ep-1"), id<fhir_reference>("Appointment/1"), std::nullopt,
                    std::nullopt, timestamp{std::chrono::seconds{1'700'000'000}});
  if (!info) die(info.err().message);
  template_visit v{initial_state(*info), {}};
  timestamp t{std::chrono::seconds{1'700'000'000}};
  auto run = [&](const command& c) {
    auto events = decide(v.state, c, t, visit_policy{});
    if (!events) die("template visit: " + events.err().message);
    for (auto& e : *events) {
      apply(v.state, e);
      v.events.push_back(e);
    }
    t += std::chrono::seconds(1);
  };
  auto doc = id<participant_id>("doc-4f1a");
  run(cmd::join{doc, id<device_id>("d-1"), participant_role::provider,
                id<ehr_user_id>("Practitioner/123")});
  run(cmd::join{template_patient(), id<device_id>("d-2"), participant_role::patient,
                id<join_id>("j-77ab")});
  run(cmd::admit{doc, template_patient()});
  if (v.state.status != visit_status::in_progress) die("template visit is not in progress");
  while (v.events.size() < min_events) run(device_test_command());
  return v;
}

}  // namespace visitd::bench
