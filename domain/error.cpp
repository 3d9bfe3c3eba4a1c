#include "domain/error.hpp"

namespace visitd::domain {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::not_found: return "not_found";
    case errc::conflict: return "conflict";
    case errc::unauthenticated: return "unauthenticated";
    case errc::forbidden: return "forbidden";
    case errc::unavailable: return "unavailable";
    case errc::timeout: return "timeout";
    case errc::storage_failure: return "storage_failure";
    case errc::internal: return "internal";
    case errc::rate_limited: return "rate_limited";
  }
  return "internal";
}

}  // namespace visitd::domain
