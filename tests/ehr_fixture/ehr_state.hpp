#pragma once

// The in-memory state of one test EHR (an independent SMART issuer under /ehr/{name}/) and the
// helpers its handlers share. Everything here is touched on the io thread only.

#include "http_types.hpp"
#include "jose.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::test_ehr {

namespace json = boost::json;
using steady = std::chrono::steady_clock;

/// Seconds since the epoch (JWT times).
[[nodiscard]] std::int64_t unix_now();

// -- registrations and grants -------------------------------------------------

struct client_registration {
  std::string client_id;
  bool confidential = false;
  std::vector<std::string> redirect_uris;
  std::optional<json::object> jwks;  ///< Inline JWK Set ({"keys":[...]}).
  std::string jwks_url;              ///< Or fetched at use time, trusting jwks_url_ca_pem.
  std::string jwks_url_ca_pem;
  std::map<std::string, std::int64_t> seen_jti;  ///< Assertion jti → its exp (replay guard).
};

/// Who and what a grant is about (SMART launch context).
struct launch_context {
  std::string fhir_user;  ///< "Practitioner/p1" (relative reference).
  std::string patient, encounter, appointment;
};

struct launch_record {
  launch_context context;
  steady::time_point expires;
};

struct code_record {
  std::string client_id, redirect_uri, code_challenge, nonce;
  std::vector<std::string> scopes;
  launch_context context;
  steady::time_point expires;
  bool used = false;
  std::vector<std::string> issued_tokens;  ///< Revoked when the code is replayed.
};

struct token_record {
  std::string client_id;
  std::vector<std::string> scopes;
  launch_context context;
  steady::time_point expires;
  bool revoked = false;
};

/// Knobs set with POST /control/ehr/{name}/behaviour (see README.md).
struct behaviour {
  std::string authorize = "consent";  ///< consent | deny
  std::string user = "Practitioner/123";
  std::string patient;
  std::string smart_configuration = "ok";  ///< ok | missing | no_s256 | plain_only | bad_json
  std::string id_token =
    "ok";  ///< ok | tamper | wrong_aud | wrong_iss | expired | wrong_nonce | unknown_kid
  std::int64_t code_ttl_seconds = 60;
  bool update_create = true;       ///< PUT of an unknown id creates it (else 405)
  bool conditional_create = true;  ///< If-None-Exist honoured (else a 400)
  bool require_if_match = false;   ///< an update without If-Match is a 412

  // Outages and failures of the FHIR API and the token endpoint.
  int fhir_status = 0;  ///< 0, or 400-599: every FHIR write answers it, applies nothing
  std::int64_t retry_after_seconds = 0;  ///< >0: Retry-After on 429/503 (fhir_status, token_status)
  std::int64_t fhir_delay_ms = 0;     ///< every FHIR interaction but metadata runs this much later
  std::int64_t fail_after_apply = 0;  ///< the next N successful writes apply, then answer 500
  bool refuse_connections = false;    ///< FHIR requests get the connection closed, no answer
  int token_status = 0;  ///< 0, or 400-599: client_credentials token requests answer it
};

struct static_file {
  std::string content_type;
  std::string body;
};

/// One EHR. Created on first use of its name; never deleted.
struct ehr_state {
  std::string name;
  std::string base;  ///< https://127.0.0.1:<port>/ehr/<name>

  behaviour knobs;
  std::map<std::string, client_registration> clients;
  std::map<std::string, launch_record> launches;
  std::map<std::string, code_record> codes;
  std::map<std::string, token_record> tokens;
  std::map<std::string, std::map<std::string, json::object>> resources;  ///< type → id → JSON
  std::map<std::string, static_file> files;

  [[nodiscard]] std::string fhir_base() const { return base + "/fhir"; }
  [[nodiscard]] std::string token_endpoint() const { return base + "/token"; }
  [[nodiscard]] std::string authorize_endpoint() const { return base + "/authorize"; }
  [[nodiscard]] std::string jwks_uri() const { return base + "/jwks"; }

  /// Appends to the log (GET /control/ehr/{name}/log); adds "seq" and "time". Keeps the last
  /// `max_log` entries.
  void record(json::object entry);
  [[nodiscard]] const json::array& log() const { return log_; }

  /// Drops expired launches, codes, tokens and jti entries (called on each request).
  void expire();

private:
  static constexpr std::size_t max_log = 10000;
  json::array log_;
  std::uint64_t next_seq_ = 1;
};

/// What every EHR shares: the id_token key and the way to run blocking or delayed work.
struct fixture_services {
  const signing_key* key = nullptr;
  post_fn post;    ///< Back onto the io thread.
  after_fn after;  ///< On the io thread after a delay (a timer).
  /// Runs `work` on a worker thread (for blocking fetches); `work` posts its result back.
  std::function<void(std::function<void()>)> run_blocking;
};

// -- responses ----------------------------------------------------------------

[[nodiscard]] http_response json_response(int status, const json::value& body,
                                          const std::string& content_type = "application/json");

/// RFC 6749 §5.2 error: 400 (or 401 for invalid_client), Cache-Control: no-store.
[[nodiscard]] http_response oauth_error(const std::string& error, const std::string& description);

/// A FHIR OperationOutcome with one issue, as application/fhir+json.
[[nodiscard]] http_response operation_outcome(int status, const std::string& code,
                                              const std::string& diagnostics);

/// Parses a JSON body; nullopt when malformed.
[[nodiscard]] std::optional<json::value> parse_json(std::string_view text);

/// The string member `key` of `o`, or nullopt when absent or not a string.
[[nodiscard]] std::optional<std::string> string_member(const json::object& o, std::string_view key);

/// Now as a FHIR instant with milliseconds, UTC ("2024-05-01T12:00:00.123Z").
[[nodiscard]] std::string fhir_instant_now();

/// Gives a stored resource `meta.versionId` "1" and `meta.lastUpdated` now where absent (the
/// control API's PUT). False, changing nothing, when `meta` is not an object or its versionId
/// is not a decimal number of 1-9 digits (the FHIR API counts versions up from it).
[[nodiscard]] bool default_meta(json::object& resource);

/// FHIR id syntax: [A-Za-z0-9-.]{1,64}.
[[nodiscard]] bool is_fhir_id(std::string_view id);

/// A FHIR resource type name as used in paths: [A-Z][A-Za-z]{0,63}.
[[nodiscard]] bool is_resource_type(std::string_view type);

/// "Type/id" with a resource type and an id.
[[nodiscard]] bool is_relative_reference(std::string_view reference);

/// True when one of `scopes` (SMART v1 `.read`/`.write`/`.*` or v2 `.cruds`) allows
/// `interaction` ('c', 'r', 'u', 'd' or 's') on `type`, in any context (patient/user/system).
[[nodiscard]] bool scopes_permit(const std::vector<std::string>& scopes, std::string_view type,
                                 char interaction);

// -- the endpoints (oauth.cpp, fhir.cpp) --------------------------------------

/// GET B/fhir/.well-known/smart-configuration.
[[nodiscard]] http_response smart_configuration(const ehr_state& ehr);

/// GET B/jwks.
[[nodiscard]] http_response jwks(const fixture_services& services);

/// GET or POST B/authorize; `params` are the query (GET) or the form body (POST).
[[nodiscard]] http_response authorize(ehr_state& ehr, const http_request& request,
                                      std::string_view raw_params);

/// POST B/token; may answer later (a jwks_url fetch).
void token(ehr_state& ehr, const fixture_services& services, const http_request& request,
           reply_fn reply);

/// Everything under B/fhir/ except the SMART configuration; `path` is what follows "fhir/"
/// (with the query). May answer later (behaviour fhir_delay_ms); `ehr` must outlive that.
void fhir(ehr_state& ehr, const fixture_services& services, const http_request& request,
          std::string_view path, reply_fn reply);

}  // namespace visitd::test_ehr
