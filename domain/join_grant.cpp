#include "domain/join_grant.hpp"

#include "domain/binary.hpp"

namespace visitd::domain {

namespace {
constexpr std::uint8_t grant_format_version = 1;
}  // namespace

result<join_grant> make_join_grant(visit_id visit, participant_role role, join_id participant,
                                   timestamp expires_at) {
  if (role == participant_role::provider)
    return make_error(errc::invalid_argument,
                      "role: a join link is for a patient or guest, not a provider");
  return join_grant{std::move(visit), role, std::move(participant), expires_at};
}

std::string encode_join_grant(const join_grant& grant) {
  binary::writer w;
  w.u8(grant_format_version);
  w.id(grant.visit);
  w.enumerated(grant.role);
  w.id(grant.participant);
  w.time(grant.expires_at);
  return std::move(w).take();
}

result<join_grant> decode_join_grant(std::string_view bytes) {
  binary::reader r{bytes};
  const auto version = r.u8("join grant version");
  if (!r.failed() && version != grant_format_version)
    return make_error(errc::invalid_argument,
                      "join grant: unknown format version " + std::to_string(version));
  auto visit = r.id<visit_id>("visit");
  auto role = r.enumerated("role", participant_role::guest);
  auto participant = r.id<join_id>("participant");
  auto expires_at = r.time("expires_at");
  if (r.failed()) return make_error(errc::invalid_argument, "join grant: " + std::string{r.why()});
  if (!r.at_end()) return make_error(errc::invalid_argument, "join grant: trailing bytes");
  return make_join_grant(std::move(visit), role, std::move(participant), expires_at);
}

}  // namespace visitd::domain
