#include "http/errors.hpp"

#include <boost/json.hpp>

namespace visitd::http {

int status_for(domain::errc code) noexcept {
  using domain::errc;
  switch (code) {
    case errc::invalid_argument: return 400;
    case errc::unauthenticated: return 401;
    case errc::forbidden: return 403;
    case errc::not_found: return 404;
    case errc::conflict: return 409;
    case errc::rate_limited: return 429;
    case errc::unavailable: return 503;
    case errc::timeout: return 504;
    case errc::storage_failure:
    case errc::internal: return 500;
  }
  return 500;
}

response error_response(int status, std::string_view code, std::string_view message) {
  boost::json::object body{
    {"error", boost::json::object{{"code", code}, {"message", message}}},
  };
  return json_response(status, boost::json::serialize(body));
}

response error_response(const domain::error& err) {
  return error_response(status_for(err.code), domain::to_string(err.code), err.message);
}

response json_response(int status, std::string body) {
  response res;
  res.status = status;
  res.body = std::move(body);
  return res;
}

}  // namespace visitd::http
