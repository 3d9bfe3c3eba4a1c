#pragma once

// Delivers write-back items to an EHR's FHIR API (domain/write_back.hpp, fhir/
// write_back_resources.hpp): one FHIR write per call, authenticated with a SMART Backend Services
// system token (client_credentials grant with a private_key_jwt assertion signed by the tenant's
// key, RFC 7523), cached per endpoint until shortly before it expires.
//
// - AuditEvent: `PUT AuditEvent/{audit_event_id}` (update-as-create) or `POST AuditEvent` with
//   `If-None-Exist: _tag=…` (conditional create), as the endpoint's plan says.
// - Encounter / Appointment: read (keeping the ETag), merge, and `PUT` with `If-Match: <ETag>`;
//   on 412 the resource is read and merged again (a few rounds), so a concurrent EHR edit is
//   kept, never overwritten. A merge that changes nothing writes nothing.
//
// A call never fails as such: it answers a `delivery_outcome` whose verdict says whether the
// write is done, should be retried (network errors, timeouts, 401 once the token is dropped,
// 408/409/412/425/429/5xx, token endpoint trouble) or is refused for good (other 4xx, or a
// resource the EHR does not have). Every call answers exactly once, on an io thread of the https
// client or the key ring, or inline. Thread-safe; hold it by shared_ptr.

#include "domain/error.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "domain/write_back.hpp"
#include "fhir/capability_statement.hpp"
#include "fhir/https_client.hpp"
#include "fhir/key_ring.hpp"
#include "fhir/smart_client.hpp"
#include "fhir/write_back_resources.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace visitd::fhir {

/// The endpoint a write goes to (from its approved revision).
struct write_back_endpoint {
  domain::tenant_id tenant;
  domain::endpoint_id endpoint;
  std::string fhir_base;
  std::string client_id;
  domain::client_type client = domain::client_type::public_client;
  std::string trust;  ///< The https client's trust name for this tenant's EHR.
  friend bool operator==(const write_back_endpoint&, const write_back_endpoint&) = default;
};

/// The result of one delivery attempt.
struct delivery_outcome {
  domain::delivery_verdict verdict = domain::delivery_verdict::retry;
  int http_status = 0;                          ///< 0 when no answer came (network, timeout).
  std::optional<domain::duration> retry_after;  ///< The server's Retry-After, if any.
  std::string detail;  ///< What happened, e.g. "PUT AuditEvent/vd-…: HTTP 400: <diagnostics>".
};

struct write_back_client_options {
  std::string observer = "visitd";  ///< AuditEvent source.observer.display (the public URL).
  /// A cached token is not used within this margin of its expiry.
  std::chrono::seconds token_margin{60};
  /// Read-merge-update rounds on 412 before the attempt counts as failed (and is retried).
  unsigned merge_rounds = 3;
  /// The clock (the system clock when empty).
  std::function<domain::timestamp()> clock;
};

class write_back_client : public std::enable_shared_from_this<write_back_client> {
public:
  template <class T>
  using reply = std::function<void(domain::result<T>)>;
  using outcome_reply = std::function<void(delivery_outcome)>;

  write_back_client(std::shared_ptr<https_client> http, std::shared_ptr<smart_client> smart,
                    std::shared_ptr<key_ring> keys, write_back_client_options options = {});

  /// Reads the endpoint's CapabilityStatement (`GET [base]/metadata`, no token). `unavailable`
  /// when it cannot be fetched (saying why), `invalid_argument` when it does not parse.
  void check(const write_back_endpoint& endpoint, const reply<write_back_support>& done);

  /// Makes `write` of `item` at `endpoint` under `plan`. Precondition: `write` is one of
  /// `planned_writes(item, plan.targets)`; an AuditEvent needs a strategy other than
  /// `unsupported` (else the outcome is permanent).
  void deliver(const write_back_endpoint& endpoint, const write_back_plan& plan,
               const domain::write_back_item& item, domain::fhir_write write,
               const outcome_reply& done);

  /// Forgets every cached token of `endpoint` (its registration changed).
  void forget(const write_back_endpoint& endpoint);

private:
  // Implementation details are up to the source; tokens are cached in a map under a mutex.
  struct cached_token {
    std::string access_token;
    domain::timestamp expires_at{};
  };
  /// One deliver() call in flight: token, then the write (defined in the source).
  struct delivery;
  [[nodiscard]] domain::timestamp now() const;

  std::shared_ptr<https_client> http_;
  std::shared_ptr<smart_client> smart_;
  std::shared_ptr<key_ring> keys_;
  write_back_client_options options_;
  std::mutex mutex_;
  std::map<std::string, cached_token> tokens_;
};

}  // namespace visitd::fhir
