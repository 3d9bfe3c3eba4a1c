#pragma once

// The box's private_key_jwt keys, one set per tenant: an RS384 (RSA 3072) and an ES384 (P-384)
// key, so the tenant's EHR can use either algorithm SMART Backend Services asks servers to
// support. The public halves are the tenant's JWK Set, which its EHR registration points at
// ({public}/smart/{tenant}/jwks.json).
//
// Keys are files under `<dir>/<tenant>/`, named `<generation>-<alg>-<kid>.pem` (PKCS#8, mode
// 0600, written atomically and synced): the kid in the name is checked against the key when it
// is loaded. A tenant's keys are made on first use, off the caller's thread (an RSA key takes up
// to a second). Rotation adds a new generation, which signs from then on; the previous one stays
// published, so an EHR that cached the old JWK Set, or an assertion signed a moment ago, still
// verifies. Older generations are deleted.
//
// Thread-safe. Completions run inline when the keys are loaded, else on the ring's own thread.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "fhir/jose.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace visitd::fhir {

/// A tenant's keys: the signing generation first, then the previous one (if any).
struct tenant_keys {
  std::uint32_t generation = 0;
  std::vector<signing_key> keys;

  /// The current generation's key for `alg` (RS384 or ES384), or nullptr.
  [[nodiscard]] const signing_key* signer(jws_alg alg) const noexcept;
  /// The JWK Set of every published key.
  [[nodiscard]] std::string jwks() const;
};

class key_ring {
public:
  using reply = std::function<void(domain::result<tenant_keys>)>;

  virtual ~key_ring() = default;

  /// The tenant's keys, made (and stored durably) first if it has none.
  virtual void keys_of(const domain::tenant_id& tenant, reply done) = 0;

  /// Makes a new generation for the tenant and deletes the one before the previous.
  virtual void rotate(const domain::tenant_id& tenant, reply done) = 0;

  /// Answers queued requests with `unavailable` and joins the ring's thread; later requests
  /// that need it are refused the same way. Idempotent. Call before the code its completions
  /// call into goes away: a thread that called into CAF keeps the actor system's logger alive
  /// until it ends, so the actor system cannot be destroyed while the thread lives.
  virtual void stop() = 0;
};

/// Opens the ring at `dir` (created mode 0700 if missing) and loads every tenant's keys.
/// `storage_failure` naming the file for an unreadable or mismatched key file, or a directory
/// others may read.
[[nodiscard]] domain::result<std::shared_ptr<key_ring>> open_key_ring(
  const std::filesystem::path& dir);

}  // namespace visitd::fhir
