#include "fhir/write_back_client.hpp"

#include "fhir/jose.hpp"
#include "fhir/token_response.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace visitd::fhir {

using domain::delivery_verdict;
using domain::errc;
using domain::make_error;

namespace {

constexpr std::string_view fhir_json = "application/fhir+json";

/// Longest OperationOutcome diagnostics quoted in an outcome's detail.
constexpr std::size_t max_diagnostics_bytes = 300;

/// Longest Retry-After honoured: a server asking for more is waited for a day, then asked again
/// (and a hostile value cannot stall an endpoint's outbox for ever).
constexpr std::chrono::seconds max_retry_after{std::chrono::hours{24}};

/// A token response without `expires_in` (SMART requires it; RFC 6749 does not) is reused this
/// long.
constexpr std::chrono::seconds default_token_lifetime{std::chrono::minutes{5}};

// -- helpers -----------------------------------------------------------------------------------

/// Text from the remote side made safe for a log line: control characters become spaces, and it
/// is cut to `limit` bytes at a UTF-8 character boundary ("…" marks the cut).
std::string printable(std::string_view text, std::size_t limit) {
  const bool cut = text.size() > limit;
  if (cut) {
    auto end = limit;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) --end;
    text = text.substr(0, end);
  }
  std::string out;
  out.reserve(text.size() + 3);
  for (const char c : text)
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  if (cut) out.append("…");
  return out;
}

/// The first `issue[].diagnostics` of an OperationOutcome body (else the first
/// `issue[].details.text`), capped; "" when the body is not one or says nothing.
std::string diagnostics_of(std::string_view body) {
  if (body.empty()) return {};
  simdjson::dom::parser parser;
  const simdjson::padded_string padded{body};
  simdjson::dom::element root;
  simdjson::dom::array issues;
  if (parser.parse(padded).get(root) || root["issue"].get_array().get(issues)) return {};
  std::string_view found;
  for (const auto issue : issues) {
    std::string_view text;
    if (!issue["diagnostics"].get_string().get(text) && !text.empty()) {
      found = text;
      break;
    }
    if (found.empty() && !issue["details"]["text"].get_string().get(text)) found = text;
  }
  return printable(found, max_diagnostics_bytes);
}

/// "GET Encounter/42: HTTP 404" plus the server's diagnostics, if any.
std::string http_detail(std::string_view method, std::string_view path, int status,
                        std::string_view body) {
  std::string out{method};
  out.append(" ").append(path).append(": HTTP ").append(std::to_string(status));
  if (auto diagnostics = diagnostics_of(body); !diagnostics.empty())
    out.append(": ").append(diagnostics);
  return out;
}

/// "PUT AuditEvent/vd-…: <what the https client said>".
std::string network_detail(std::string_view method, std::string_view path,
                           const domain::error& err) {
  std::string out{method};
  out.append(" ").append(path).append(": ").append(err.message);
  return out;
}

std::optional<int> number_at(std::string_view text, std::size_t pos, std::size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int value = 0;
  const auto* first = text.data() + pos;
  const auto* last = first + count;
  auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || end != last) return std::nullopt;
  return value;
}

/// An IMF-fixdate (RFC 9110 §5.6.7: `Sun, 06 Nov 1994 08:49:37 GMT`); nullopt for anything else
/// (the obsolete RFC 850 and asctime forms are not read).
std::optional<domain::timestamp> parse_http_date(std::string_view text) {
  using namespace std::chrono;
  if (text.size() != 29 || text[3] != ',' || text[4] != ' ' || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT")
    return std::nullopt;
  constexpr std::array<std::string_view, 12> names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto name = text.substr(8, 3);
  const auto* m = std::find(names.begin(), names.end(), name);
  const auto d = number_at(text, 5, 2);
  const auto y = number_at(text, 12, 4);
  const auto hh = number_at(text, 17, 2);
  const auto mm = number_at(text, 20, 2);
  const auto ss = number_at(text, 23, 2);
  if (m == names.end() || !d || !y || !hh || !mm || !ss || *hh > 23 || *mm > 59 || *ss > 59)
    return std::nullopt;
  const year_month_day date{year{*y}, month{static_cast<unsigned>(m - names.begin() + 1)},
                            day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return std::nullopt;
  return domain::timestamp{sys_days{date} + hours{*hh} + minutes{*mm} + seconds{*ss}};
}

/// The response's Retry-After (delta-seconds or an HTTP-date), capped at max_retry_after.
std::optional<domain::duration> retry_after_of(const outbound_response& response,
                                               domain::timestamp now) {
  const auto value = response.header("Retry-After");
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return max_retry_after;  // more than 31 years
    std::uint64_t seconds = 0;
    std::from_chars(value.data(), value.data() + value.size(), seconds);
    return std::min<domain::duration>(std::chrono::seconds{seconds}, max_retry_after);
  }
  if (auto when = parse_http_date(value)) {
    if (*when <= now) return domain::duration{0};
    return std::min<domain::duration>(*when - now, max_retry_after);
  }
  return std::nullopt;
}

/// SMART v1 system scopes for what `plan` writes (one token serves all of an endpoint's writes).
std::string scopes_for(const write_back_plan& plan) {
  std::string scope;
  auto add = [&](std::string_view s) {
    if (!scope.empty()) scope.push_back(' ');
    scope.append(s);
  };
  if (plan.targets.audit_events && plan.audit_events != audit_event_strategy::unsupported)
    add("system/AuditEvent.write");
  if (plan.targets.encounters) add("system/Encounter.read system/Encounter.write");
  if (plan.targets.appointments) add("system/Appointment.read system/Appointment.write");
  return scope;
}

std::string endpoint_prefix(const write_back_endpoint& endpoint) {
  std::string key{endpoint.tenant.str()};
  key.push_back('\n');
  key.append(endpoint.endpoint.str()).push_back('\n');
  return key;
}

}  // namespace

// -- one delivery ------------------------------------------------------------------------------

/// The state of one deliver() call: token, then the write (with its read-merge rounds). Each step
/// runs in a completion and keeps the delivery alive through `self`.
struct write_back_client::delivery : std::enable_shared_from_this<delivery> {
  std::shared_ptr<write_back_client> client;
  write_back_endpoint endpoint;
  write_back_plan plan;
  domain::write_back_item item;
  domain::fhir_write write{};
  outcome_reply done;
  std::string scope;
  std::string token_key;
  std::string access_token;
  unsigned round = 0;  ///< Read-merge-update rounds made.

  void finish(delivery_verdict verdict, int status, std::string detail,
              std::optional<domain::duration> retry_after = std::nullopt) {
    done(delivery_outcome{verdict, status, retry_after, std::move(detail)});
  }

  [[nodiscard]] std::string url_of(std::string_view path) const {
    std::string url = endpoint.fhir_base;
    url.push_back('/');
    url.append(path);
    return url;
  }

  [[nodiscard]] std::vector<std::pair<std::string, std::string>> headers(bool with_body) const {
    std::vector<std::pair<std::string, std::string>> out{
      {"Accept", std::string{fhir_json}}, {"Authorization", "Bearer " + access_token}};
    if (with_body) out.emplace_back("Content-Type", std::string{fhir_json});
    return out;
  }

  // -- token -----------------------------------------------------------------------------------

  void start() {
    {
      std::lock_guard lock{client->mutex_};
      auto it = client->tokens_.find(token_key);
      if (it != client->tokens_.end() &&
          client->now() < it->second.expires_at - client->options_.token_margin) {
        access_token = it->second.access_token;
      }
    }
    if (!access_token.empty()) return write_now();
    client->smart_->discover(
      endpoint.fhir_base, endpoint.trust,
      [self = shared_from_this()](const domain::result<smart_configuration>& config) {
        if (!config.has_value())
          return self->finish(
            delivery_verdict::retry, 0,
            "SMART discovery at " + self->endpoint.fhir_base + ": " + config.err().message);
        self->sign_assertion(config.value());
      });
  }

  void sign_assertion(const smart_configuration& config) {
    const auto alg = client_assertion_alg(config);
    client->keys_->keys_of(endpoint.tenant, [self = shared_from_this(), alg,
                                             config](const domain::result<tenant_keys>& keys) {
      std::string what{"the client assertion for "};
      what.append(self->endpoint.tenant.str()).append(": ");
      if (!keys.has_value())
        return self->finish(delivery_verdict::retry, 0, what.append(keys.err().message));
      const auto* key = keys.value().signer(alg);
      if (key == nullptr)
        return self->finish(
          delivery_verdict::retry, 0,
          what.append("the tenant has no ").append(to_string(alg)).append(" key"));
      auto jti = random_jti();
      if (!jti) return self->finish(delivery_verdict::retry, 0, what.append(jti.err().message));
      auto assertion =
        make_client_assertion(*key, self->endpoint.client_id, config.token_endpoint,
                              self->client->now(), max_client_assertion_lifetime, *jti);
      if (!assertion)
        return self->finish(delivery_verdict::retry, 0, what.append(assertion.err().message));
      self->request_token(config.token_endpoint, *assertion);
    });
  }

  void request_token(const std::string& token_endpoint, const std::string& assertion) {
    std::string body;
    append_form_field(body, "grant_type", "client_credentials");
    append_form_field(body, "scope", scope);
    append_form_field(body, "client_assertion_type", client_assertion_type);
    append_form_field(body, "client_assertion", assertion);
    outbound_request post{.method = "POST",
                          .url = token_endpoint,
                          .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                                      {"Accept", "application/json"}},
                          .body = std::move(body),
                          .trust = endpoint.trust};
    const std::string what = "POST " + token_endpoint;
    client->http_->send(
      std::move(post), [self = shared_from_this(), what](domain::result<outbound_response> r) {
        if (!r.has_value())
          return self->finish(delivery_verdict::retry, 0, what + ": " + r.err().message);
        const auto& response = r.value();
        const auto retry_after = retry_after_of(response, self->client->now());
        std::string detail = what + ": HTTP " + std::to_string(response.status);
        // Whatever went wrong at the token endpoint (a registration being fixed, an outage) is
        // retried: the outbox's schedule and circuit breaker bound the attempts.
        if (response.status != 200) {
          if (auto refused = parse_oauth_error(response.body)) {
            detail.append(": ").append(printable(refused->error, 100));
            if (!refused->error_description.empty())
              detail.append(" (")
                .append(printable(refused->error_description, max_diagnostics_bytes))
                .append(")");
          }
          return self->finish(delivery_verdict::retry, response.status, std::move(detail),
                              retry_after);
        }
        auto tokens = parse_token_response(response.body);
        if (!tokens.has_value())
          return self->finish(delivery_verdict::retry, response.status,
                              detail.append(": ").append(tokens.err().message));
        self->access_token = tokens.value().access_token;
        {
          std::lock_guard lock{self->client->mutex_};
          self->client->tokens_[self->token_key] = cached_token{
            self->access_token,
            self->client->now() + tokens.value().expires_in.value_or(default_token_lifetime)};
        }
        self->write_now();
      });
  }

  /// The token was refused (401): it is dropped, unless a newer one has replaced it meanwhile.
  void drop_token() {
    std::lock_guard lock{client->mutex_};
    auto it = client->tokens_.find(token_key);
    if (it != client->tokens_.end() && it->second.access_token == access_token)
      client->tokens_.erase(it);
  }

  /// The outcome of a write's answer that is not handled specially.
  void finish_with(std::string_view method, std::string_view path,
                   const outbound_response& response) {
    auto detail = http_detail(method, path, response.status, response.body);
    auto retry_after = retry_after_of(response, client->now());
    if (response.status == 401) {
      drop_token();
      detail.append(" (the access token was dropped)");
      return finish(delivery_verdict::retry, response.status, std::move(detail), retry_after);
    }
    finish(domain::verdict_for_status(response.status), response.status, std::move(detail),
           retry_after);
  }

  // -- writes ----------------------------------------------------------------------------------

  void write_now() {
    switch (write) {
      case domain::fhir_write::audit_event: return create_audit_event();
      case domain::fhir_write::encounter:
      case domain::fhir_write::appointment: return read_current();
    }
  }

  void create_audit_event() {
    const bool put = plan.audit_events == audit_event_strategy::update_as_create;
    std::string path{"AuditEvent"};
    if (put) path.append("/").append(audit_event_id(item));
    outbound_request request{
      .method = put ? "PUT" : "POST",
      .url = url_of(path),
      .headers = headers(true),
      .body = audit_event_json(item, plan.codes, client->options_.observer, put),
      .trust = endpoint.trust};
    if (!put) request.headers.emplace_back("If-None-Exist", event_key_query(item));
    std::string method = request.method;
    client->http_->send(std::move(request), [self = shared_from_this(), method,
                                             path](domain::result<outbound_response> r) {
      if (!r.has_value())
        return self->finish(delivery_verdict::retry, 0, network_detail(method, path, r.err()));
      const auto& response = r.value();
      // A conditional create that finds several matches answers 412 (FHIR R4 §3.1.0.8.1): the
      // event key is unique to this event, so its AuditEvent is already there (more than once).
      if (method == "POST" && response.status == 412)
        return self->finish(delivery_verdict::delivered, response.status,
                            http_detail(method, path, response.status, response.body)
                              .append(" (the event's AuditEvent already exists)"));
      self->finish_with(method, path, response);
    });
  }

  [[nodiscard]] std::string resource_path() const {
    const auto& reference =
      write == domain::fhir_write::encounter ? item.encounter : item.appointment;
    return reference ? reference->str() : std::string{};
  }

  void read_current() {
    const auto path = resource_path();
    outbound_request request{.method = "GET",
                             .url = url_of(path),
                             .headers = headers(false),
                             .body = {},
                             .trust = endpoint.trust};
    client->http_->send(std::move(request), [self = shared_from_this(),
                                             path](domain::result<outbound_response> r) {
      if (!r.has_value())
        return self->finish(delivery_verdict::retry, 0, network_detail("GET", path, r.err()));
      const auto& response = r.value();
      // The EHR does not have the resource (any more): no retry will change that.
      if (response.status == 404 || response.status == 410)
        return self->finish(delivery_verdict::permanent, response.status,
                            http_detail("GET", path, response.status, response.body));
      if (response.status < 200 || response.status >= 300)
        return self->finish_with("GET", path, response);
      auto merged = self->write == domain::fhir_write::encounter
                      ? merge_encounter(response.body, self->item)
                      : merge_appointment(response.body, self->item);
      if (!merged.has_value())
        return self->finish(
          delivery_verdict::permanent, response.status,
          http_detail("GET", path, response.status, {}).append(": ").append(merged.err().message));
      if (!merged.value())
        return self->finish(
          delivery_verdict::delivered, response.status,
          http_detail("GET", path, response.status, {}).append(": nothing to change"));
      self->update(path, std::move(*merged.value()), std::string{response.header("ETag")});
    });
  }

  void update(const std::string& path, std::string body, const std::string& etag) {
    outbound_request request{.method = "PUT",
                             .url = url_of(path),
                             .headers = headers(true),
                             .body = std::move(body),
                             .trust = endpoint.trust};
    // The ETag exactly as the read returned it (weak `W/"3"` included): it is the server's to
    // compare. Without one the update is unconditional.
    if (!etag.empty()) request.headers.emplace_back("If-Match", etag);
    ++round;
    client->http_->send(
      std::move(request), [self = shared_from_this(), path](domain::result<outbound_response> r) {
        if (!r.has_value())
          return self->finish(delivery_verdict::retry, 0, network_detail("PUT", path, r.err()));
        const auto& response = r.value();
        if (response.status == 412) {
          // The resource changed since it was read: merge into the new version.
          if (self->round < std::max(1U, self->client->options_.merge_rounds))
            return self->read_current();
          return self->finish(delivery_verdict::retry, response.status,
                              http_detail("PUT", path, response.status, response.body)
                                .append(" (after ")
                                .append(std::to_string(self->round))
                                .append(" read-merge-update rounds)"),
                              retry_after_of(response, self->client->now()));
        }
        self->finish_with("PUT", path, response);
      });
  }
};

// -- the client --------------------------------------------------------------------------------

write_back_client::write_back_client(std::shared_ptr<https_client> http,
                                     std::shared_ptr<smart_client> smart,
                                     std::shared_ptr<key_ring> keys,
                                     write_back_client_options options)
  : http_(std::move(http)),
    smart_(std::move(smart)),
    keys_(std::move(keys)),
    options_(std::move(options)) {}

domain::timestamp write_back_client::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::time_point_cast<domain::duration>(std::chrono::system_clock::now());
}

void write_back_client::check(const write_back_endpoint& endpoint,
                              const reply<write_back_support>& done) {
  std::string url = endpoint.fhir_base;
  url.append("/metadata");
  outbound_request request{.method = "GET",
                           .url = url,
                           .headers = {{"Accept", std::string{fhir_json}}},
                           .body = {},
                           .trust = endpoint.trust};
  http_->send(std::move(request), [url, done](domain::result<outbound_response> r) {
    if (!r.has_value())
      return done(make_error(errc::unavailable, "could not fetch the CapabilityStatement from " +
                                                  url + ": " + r.err().message));
    const auto& response = r.value();
    if (response.status != 200)
      return done(
        make_error(errc::unavailable, http_detail("GET", url, response.status, response.body)));
    auto support = parse_capability_statement(response.body);
    if (!support.has_value())
      return done(make_error(errc::invalid_argument, "the CapabilityStatement at " + url +
                                                       " is not usable: " + support.err().message));
    done(support.value());
  });
}

void write_back_client::deliver(const write_back_endpoint& endpoint, const write_back_plan& plan,
                                const domain::write_back_item& item, domain::fhir_write write,
                                const outcome_reply& done) {
  auto refuse = [&](std::string detail) {
    done(delivery_outcome{delivery_verdict::permanent, 0, std::nullopt, std::move(detail)});
  };
  // A public client has no credential of its own, so it can never get a system token: no retry
  // helps until the endpoint is registered again as a confidential client (a new revision, whose
  // items are planned anew).
  if (endpoint.client != domain::client_type::confidential_private_key_jwt)
    return refuse(
      "write-back needs a confidential client registered for SMART Backend Services "
      "(private_key_jwt)");
  const auto planned = domain::planned_writes(item, plan.targets);
  if (std::find(planned.begin(), planned.end(), write) == planned.end())
    return refuse(std::string{domain::to_string(write)}.append(
      ": not a write this item causes under the endpoint's plan"));
  if (write == domain::fhir_write::audit_event &&
      plan.audit_events == audit_event_strategy::unsupported)
    return refuse(
      "AuditEvent: the server supports neither update-as-create nor conditional create");

  auto call = std::make_shared<delivery>();
  call->client = shared_from_this();
  call->endpoint = endpoint;
  call->plan = plan;
  call->item = item;
  call->write = write;
  call->done = done;
  call->scope = scopes_for(plan);
  // One token per endpoint registration and scope set (a changed plan asks for other scopes).
  call->token_key = endpoint_prefix(endpoint);
  call->token_key.append(endpoint.fhir_base)
    .append("\n")
    .append(endpoint.client_id)
    .append("\n")
    .append(call->scope);
  call->start();
}

void write_back_client::forget(const write_back_endpoint& endpoint) {
  const auto prefix = endpoint_prefix(endpoint);
  std::lock_guard lock{mutex_};
  for (auto it = tokens_.lower_bound(prefix); it != tokens_.end() && it->first.starts_with(prefix);)
    it = tokens_.erase(it);
}

}  // namespace visitd::fhir
