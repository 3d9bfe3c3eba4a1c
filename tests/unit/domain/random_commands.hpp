#pragma once

// The random command sequences the randomized domain tests drive visits with: a fixed cast of
// providers, patients and a guest, and a seeded generator of commands (including ones the rules
// must refuse) and of time steps around the policy's thresholds.

#include "domain/visit.hpp"
#include "test_support.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace visitd::domain::testing {

struct cast_member {
  participant_id id;
  participant_role role;
  participant_identity identity;
};

inline std::vector<cast_member> cast() {
  return {
    {pid("doc1"), participant_role::provider, euid("Practitioner/1")},
    {pid("doc2"), participant_role::provider, euid("Practitioner/2")},
    {pid("pat1"), participant_role::patient, jid("j-pat1")},
    {pid("pat2"), participant_role::patient, euid("Patient/7")},
    {pid("gst1"), participant_role::guest, jid("j-gst1")},
  };
}

class generator {
public:
  explicit generator(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  bool coin(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }

  command next(const std::vector<cast_member>& people) {
    const auto& who = people[below(people.size())];
    const auto& other = people[below(people.size())];
    const device_id dev = devices_[below(devices_.size())];
    switch (below(12)) {
      case 0:
      case 1:
      case 2: {
        cmd::join j{who.id, dev, who.role, who.identity};
        if (coin(3))  // occasionally a wrong identity or role, which must be refused
          j.role = participant_role::guest;
        return j;
      }
      case 3:
      case 4: return cmd::leave{who.id, dev};
      case 5: return cmd::admit{who.id, other.id};
      case 6: return cmd::admit_all{who.id};
      case 7: return cmd::deny{who.id, other.id, static_cast<deny_reason>(below(4))};
      case 8: return cmd::return_to_lobby{who.id, other.id};
      case 9:
        return cmd::send_lobby_message{
          who.id, coin(50) ? std::optional<participant_id>{other.id} : std::nullopt,
          std::string(1 + below(coin(5) ? 600 : 40), 'm')};
      case 10:
        if (coin(10)) return cmd::end{who.id};
        if (coin(10)) return cmd::expire{};
        return cmd::report_device_test{who.id, dev, coin(50), coin(50), coin(50)};
      default: return cmd::leave{who.id, dev};
    }
  }

  duration step() {
    switch (below(4)) {
      case 0: return duration::zero();
      case 1: return std::chrono::seconds{below(30)};
      case 2: return std::chrono::seconds{below(240)};  // around the 2 min rejoin grace
      default: return std::chrono::minutes{below(40)};  // sometimes past the idle timeout
    }
  }

private:
  std::mt19937_64 rng_;
  std::array<device_id, 2> devices_{did("d1"), did("d2")};
};

}  // namespace visitd::domain::testing
