#pragma once

// The one place where an error becomes an HTTP status and a JSON body
// {"error": {"code": "...", "message": "..."}} (../shared/README.md §6).

#include "domain/error.hpp"
#include "http/message.hpp"

#include <string_view>

namespace visitd::http {

/// The HTTP status for a domain error code.
[[nodiscard]] int status_for(domain::errc code) noexcept;

/// A JSON error response with an explicit status and machine-readable code (for protocol-level
/// errors that have no domain code: 405, 413, 415, 429, 431, ...).
[[nodiscard]] response error_response(int status, std::string_view code, std::string_view message);

/// A JSON error response for a domain error.
[[nodiscard]] response error_response(const domain::error& err);

/// A JSON response from an already serialized body.
[[nodiscard]] response json_response(int status, std::string body);

}  // namespace visitd::http
