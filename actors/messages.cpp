#include "actors/messages.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

#include <chrono>
#include <string>
#include <utility>

namespace visitd::actors {

// -- time ------------------------------------------------------------------------------------

domain::timestamp wall_clock_now() {
  return std::chrono::time_point_cast<domain::duration>(std::chrono::system_clock::now());
}

// -- errors ------------------------------------------------------------------------------------

caf::error to_caf_error(const domain::error& err) {
  return caf::error{static_cast<std::uint8_t>(static_cast<int>(err.code) + 1),
                    domain_error_category, caf::make_message(err.message)};
}

caf::error to_caf_error(domain::errc code, std::string message) {
  return to_caf_error(domain::make_error(code, std::move(message)));
}

std::string exception_message(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "unknown exception";
}

domain::error to_domain_error(const caf::error& err) {
  if (err.category() == domain_error_category && err.code() > 0 &&
      err.code() <= static_cast<std::uint8_t>(static_cast<int>(domain::last_errc) + 1)) {
    std::string message;
    if (err.context().match_elements<std::string>()) message = err.context().get_as<std::string>(0);
    return domain::make_error(static_cast<domain::errc>(err.code() - 1), std::move(message));
  }
  if (err == caf::sec::request_timeout)
    return domain::make_error(domain::errc::timeout, "actor request timed out");
  return domain::make_error(domain::errc::unavailable, caf::to_string(err));
}

}  // namespace visitd::actors
