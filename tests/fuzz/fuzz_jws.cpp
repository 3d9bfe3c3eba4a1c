// libFuzzer target: the JOSE code that reads what an EHR (or an attacker posing as one) sends —
// a JWK Set, a compact JWS, an id_token — plus the id_token claim checks on arbitrary claims.
//
// Every input goes through parse_jwks, verify_jws and verify_id_token against a fixed JWK Set
// (public keys only; the seed tokens in corpus/fuzz_jws were signed once with the matching
// private keys, which were then discarded). A random fuzzer cannot forge a signature, so to
// reach the claim checks an input that looks like a JSON object is also signed with a key made
// at start-up and verified as an id_token: control flow does not depend on that key.

#include "fhir/jose.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

using namespace visitd::fhir;

constexpr std::string_view fixed_jwks =
  R"({"keys":[{"kty":"EC","kid":"zS5-HD2_WNNgYMUsH1OvVDlq9JU0nuz2AURjUOGCjeI","alg":"ES384","use":"sig","crv":"P-384","x":"2M5NmRnZe2HDfPTWpRg0prQZY42rCvT8KNDR8SYukk4iLNPmwo4wVKDFDnP5NQYR","y":"IBhfPwLH4Rbs6BEC3ogLFzeEPzbIHYpzOGI9LfhT1wgu2scKuZTnSweLehGNmCgo"},{"kty":"RSA","kid":"BY9YgzvoFZ_QpGrHN5gB5ut6-Dc9aEmRw7-soiNiYZU","alg":"RS384","use":"sig","n":"qyAxLGtgMuMhtmdoTgXOmtFjZHvYmuvOs6LruXrlDT6EQFoI2zcE_H8QGXCYBpF8Lz8iztZocmsf6RM2qYgeutL2KEb0FdKl0PSiiUWjZN5I6nJW-KIp3wRHKYHV8Js7clSWH-aTcU9ID97VoK8Yi6oUWwzXhKGffh1y97NkCcyifq0B39zJUDtcpQnT5laGQvANIWtxC4seuxbaqk0ShkXAAOI8MuRGb9eo3lZ4_MZqYKha0fOskYt8fiRt2RsHieasjQKnnCBL__8tAvo2ew8opOiVeGiO75InKhZPLmE4pMnJEdEQ-ErDp1lLkTPbeGVVfnSTwrrefBHaFmV-XpPtcpbwd3GcFBoUUsHpHrbOKUur2jvhTjIAgV4Rprq15hyoPjptdjm9sv7P5c-PqrVT3OJ8BpXdKcobZmBc2oNlzibNGUsZgHSzJkSVufhggOINtjAsGnhrVejX_1cspKkRI5TE7TO6_8K3uP78LjJhuvwvfiL5lv_EILyLK08D","e":"AQAB"}]})";

const visitd::domain::timestamp now{std::chrono::seconds{1'700'000'000}};
constexpr std::string_view issuer = "https://ehr.example.org/fhir";
constexpr std::string_view client_id = "visitd-app";
constexpr std::string_view nonce = "fuzz-nonce";

struct fixture {
  jwk_set fixed = parse_jwks(fixed_jwks).value();
  signing_key signer = generate_signing_key(jws_alg::es384).value();
  jwk_set signer_set;

  fixture() {
    const signing_key* keys[] = {&signer};
    signer_set = parse_jwks(jwks_json(keys)).value();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fixture f;
  const std::string_view input{reinterpret_cast<const char*>(data), size};

  if (auto set = parse_jwks(input)) {
    for (const auto& key : set->keys) (void)key.compatible_with(jws_alg::rs256);
  }
  (void)peek_jws_header(input);
  (void)verify_jws(input, f.fixed);
  (void)verify_id_token(input, f.fixed, issuer, client_id, nonce, now);

  if (!input.empty() && input.front() == '{') {
    if (auto token = sign_jwt(f.signer, input))
      (void)verify_id_token(*token, f.signer_set, issuer, client_id, nonce, now);
  }
  return 0;
}
