// libFuzzer target: the token endpoint's replies (success and OAuth error), which come from the
// network and are parsed before anything about them is trusted.

#include "fhir/token_response.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  if (auto response = visitd::fhir::parse_token_response(input)) {
    // Invariants the callers rely on.
    if (response->access_token.empty() || response->token_type != "Bearer") __builtin_trap();
    for (const auto& item : response->fhir_context)
      if (item.reference.empty()) __builtin_trap();
  }
  if (auto error = visitd::fhir::parse_oauth_error(input))
    if (error->error.empty()) __builtin_trap();
  return 0;
}
