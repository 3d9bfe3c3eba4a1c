// libFuzzer target: the SMART discovery document ({iss}/.well-known/smart-configuration), the
// first thing visitd reads from an EHR it has not talked to before.

#include "fhir/smart_configuration.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  if (auto config = visitd::fhir::parse_smart_configuration(input)) {
    // The parser promises: required endpoints present and PKCE S256 offered.
    const auto& methods = config->code_challenge_methods_supported;
    if (config->token_endpoint.empty() || config->authorization_endpoint.empty() ||
        std::find(methods.begin(), methods.end(), "S256") == methods.end())
      __builtin_trap();
  }
  return 0;
}
