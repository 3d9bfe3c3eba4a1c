#include "fhir/pending_authorizations.hpp"

#include "fhir/authorization_secrets.hpp"

#include <utility>

namespace visitd::fhir {

namespace {

// SHA-256, base64url: the same digest PKCE uses, so the binding cookie's value never sits in
// memory longer than the request that carried it.
std::string binding_digest(std::string_view binding) {
  return pkce_challenge(binding);
}

}  // namespace

pending_authorizations::pending_authorizations(pending_authorizations_options options)
  : options_(options) {}

domain::result<void> pending_authorizations::add(std::string state, std::string_view binding,
                                                 pending_authorization request,
                                                 domain::timestamp now) {
  if (state.empty() || binding.empty())
    return domain::make_error(domain::errc::invalid_argument, "state and binding are required");
  auto digest = binding_digest(binding);
  std::lock_guard lock{mutex_};
  // A sweep is O(n): done every few seconds, or when the registry looks full, not per sign-in.
  if (now >= next_sweep_ || entries_.size() >= options_.capacity) {
    drop_expired(now);
    next_sweep_ = now + std::chrono::seconds{5};
  }
  if (entries_.size() >= options_.capacity)
    return domain::make_error(domain::errc::rate_limited,
                              "too many EHR sign-ins in progress; try again in a few minutes");
  auto [it, inserted] =
    entries_.try_emplace(std::move(state), entry{std::move(digest), std::move(request)});
  if (!inserted) return domain::make_error(domain::errc::conflict, "state is already pending");
  return {};
}

domain::result<pending_authorization> pending_authorizations::take(std::string_view state,
                                                                   std::string_view binding,
                                                                   domain::timestamp now) {
  entry found;
  {
    std::lock_guard lock{mutex_};
    auto it = entries_.find(state);
    if (it == entries_.end())
      return domain::make_error(domain::errc::invalid_argument,
                                "state: unknown or already used (start the sign-in again)");
    found = std::move(it->second);
    entries_.erase(it);
  }
  if (binding.empty() || !constant_time_equal(binding_digest(binding), found.binding_digest))
    return domain::make_error(domain::errc::forbidden,
                              "this sign-in was started in another browser (binding cookie "
                              "missing or different)");
  if (now >= found.request.expires_at)
    return domain::make_error(domain::errc::conflict,
                              "the sign-in expired before the EHR sent the browser back");
  return std::move(found.request);
}

std::size_t pending_authorizations::size() const {
  std::lock_guard lock{mutex_};
  return entries_.size();
}

void pending_authorizations::drop_expired(domain::timestamp now) {
  std::erase_if(entries_, [now](const auto& kv) { return now >= kv.second.request.expires_at; });
}

std::string_view to_string(authorization_purpose purpose) noexcept {
  switch (purpose) {
    case authorization_purpose::validation: return "validation";
    case authorization_purpose::launch: return "launch";
  }
  return "unknown";
}

}  // namespace visitd::fhir
