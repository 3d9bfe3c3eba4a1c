#include "fhir/write_back_client.hpp"

#include "domain/time_format.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <deque>
#include <map>

namespace visitd::fhir {
namespace {

using namespace std::chrono_literals;
using domain::delivery_verdict;
using domain::fhir_write;
using domain::write_back_kind;

constexpr std::string_view base = "https://ehr.example.org/fhir";
constexpr std::string_view token_endpoint = "https://ehr.example.org/oauth2/token";
constexpr std::string_view discovery_url =
  "https://ehr.example.org/fhir/.well-known/smart-configuration";

std::string smart_configuration_json(std::string_view algs) {
  return R"({"issuer":"https://ehr.example.org","jwks_uri":"https://ehr.example.org/jwks",
    "authorization_endpoint":"https://ehr.example.org/oauth2/authorize",
    "token_endpoint":")" +
         std::string{token_endpoint} + R"(",
    "grant_types_supported":["authorization_code","client_credentials"],
    "token_endpoint_auth_methods_supported":["private_key_jwt"],
    "token_endpoint_auth_signing_alg_values_supported":)" +
         std::string{algs} + R"(,
    "scopes_supported":["system/AuditEvent.write"],
    "code_challenge_methods_supported":["S256"],
    "capabilities":["launch-ehr","client-confidential-asymmetric"]})";
}

outbound_response answer(int status, std::string body = {},
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
  return outbound_response{status, std::move(headers), std::move(body)};
}

/// An https client that answers from a script, inline, and records every request. Discovery and
/// the token endpoint answer by default (tokens "tok-1", "tok-2", … valid for an hour).
class fake_http final : public https_client {
public:
  void send(outbound_request request, completion done) override {
    requests.push_back(request);
    const auto key = request.method + " " + request.url;
    if (auto it = scripted.find(key); it != scripted.end() && !it->second.empty()) {
      auto next = std::move(it->second.front());
      it->second.pop_front();
      return done(std::move(next));
    }
    if (request.method == "GET" && request.url == discovery_url)
      return done(answer(200, smart_configuration_json(algs)));
    if (request.method == "POST" && request.url == token_endpoint) {
      ++tokens_issued;
      return done(answer(200, R"({"access_token":"tok-)" + std::to_string(tokens_issued) +
                                R"(","token_type":"Bearer","expires_in":3600,)"
                                R"("scope":"system/AuditEvent.write"})"));
    }
    done(answer(599, "unscripted " + key));
  }
  domain::result<void> add_trust(const std::string&, std::string_view) override { return {}; }
  void shutdown() override {}

  void script(const std::string& method, std::string_view url,
              domain::result<outbound_response> response) {
    scripted[method + " " + std::string{url}].push_back(std::move(response));
  }

  /// The requests other than discovery and token requests.
  [[nodiscard]] std::vector<outbound_request> fhir_requests() const {
    std::vector<outbound_request> out;
    for (const auto& r : requests)
      if (r.url != discovery_url && r.url != token_endpoint) out.push_back(r);
    return out;
  }
  [[nodiscard]] std::vector<outbound_request> token_requests() const {
    std::vector<outbound_request> out;
    for (const auto& r : requests)
      if (r.url == token_endpoint) out.push_back(r);
    return out;
  }

  std::string algs = R"(["RS384","ES384"])";
  int tokens_issued = 0;
  std::vector<outbound_request> requests;
  std::map<std::string, std::deque<domain::result<outbound_response>>> scripted;
};

/// A key ring with one generation of keys for every tenant, made once for the whole suite (an
/// RSA key takes a while).
class fake_keys final : public key_ring {
public:
  static const tenant_keys& keys() {
    static const tenant_keys k = [] {
      tenant_keys out;
      out.generation = 1;
      out.keys.push_back(*generate_signing_key(jws_alg::rs384));
      out.keys.push_back(*generate_signing_key(jws_alg::es384));
      return out;
    }();
    return k;
  }
  void keys_of(const domain::tenant_id& tenant, reply done) override {
    asked.push_back(tenant.str());
    if (fail) return done(domain::make_error(domain::errc::unavailable, "the key ring stopped"));
    done(keys());
  }
  void rotate(const domain::tenant_id&, reply done) override { done(keys()); }
  void stop() override {}

  bool fail = false;
  std::vector<std::string> asked;
};

template <class Id>
Id id(std::string_view text) {
  auto parsed = Id::parse(text);
  EXPECT_TRUE(parsed) << text;
  return *parsed;
}

std::string header_of(const outbound_request& r, std::string_view name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return "<absent>";
}

/// The form fields of a token request, decoded.
std::map<std::string, std::string> form_of(std::string_view body) {
  auto decode = [](std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '%' && i + 2 < text.size()) {
        out.push_back(
          static_cast<char>(std::stoi(std::string{text.substr(i + 1, 2)}, nullptr, 16)));
        i += 2;
      } else {
        out.push_back(text[i] == '+' ? ' ' : text[i]);
      }
    }
    return out;
  };
  std::map<std::string, std::string> fields;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const auto pair = body.substr(0, amp);
    const auto eq = pair.find('=');
    fields[decode(pair.substr(0, eq))] = decode(pair.substr(eq + 1));
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
  }
  return fields;
}

class write_back_client_test : public ::testing::Test {
protected:
  void SetUp() override {
    http = std::make_shared<fake_http>();
    keys = std::make_shared<fake_keys>();
    smart_client_options smart_options;
    smart_options.clock = [this] { return now; };
    smart = std::make_shared<smart_client>(http, smart_options);
    write_back_client_options options;
    options.observer = "https://visitd.example.org";
    options.clock = [this] { return now; };
    client = std::make_shared<write_back_client>(http, smart, keys, options);

    endpoint.tenant = id<domain::tenant_id>("t1");
    endpoint.endpoint = id<domain::endpoint_id>("e1");
    endpoint.fhir_base = base;
    endpoint.client_id = "visitd-backend";
    endpoint.client = domain::client_type::confidential_private_key_jwt;
    endpoint.trust = "ehr-ca";

    plan.audit_events = audit_event_strategy::update_as_create;
    plan.targets = {};

    item.tenant = endpoint.tenant;
    item.endpoint = endpoint.endpoint;
    item.visit = id<domain::visit_id>("v1");
    item.seq = 7;
    item.at = *domain::parse_rfc3339("2026-11-25T18:49:36Z", "at");
    item.kind = write_back_kind::connected;
    item.encounter = id<domain::fhir_reference>("Encounter/42");
    item.appointment = id<domain::fhir_reference>("Appointment/9");
    item.participant = domain::write_back_participant{
      id<domain::participant_id>("p1"), domain::participant_role::provider,
      id<domain::ehr_user_id>("Practitioner/123"), std::nullopt};
  }

  delivery_outcome deliver(fhir_write write) {
    std::optional<delivery_outcome> outcome;
    int calls = 0;
    client->deliver(endpoint, plan, item, write, [&](delivery_outcome o) {
      ++calls;
      outcome = std::move(o);
    });
    EXPECT_EQ(calls, 1);
    return outcome.value_or(delivery_outcome{});
  }

  [[nodiscard]] std::string url(std::string_view path) const {
    return std::string{base}.append("/").append(path);
  }
  [[nodiscard]] std::string audit_url() const { return url("AuditEvent/" + audit_event_id(item)); }

  domain::timestamp now = *domain::parse_rfc3339("2026-11-25T18:50:00Z", "now");
  std::shared_ptr<fake_http> http;
  std::shared_ptr<fake_keys> keys;
  std::shared_ptr<smart_client> smart;
  std::shared_ptr<write_back_client> client;
  write_back_endpoint endpoint;
  write_back_plan plan;
  domain::write_back_item item;
};

constexpr std::string_view encounter_v3 = R"({"resourceType":"Encounter","id":"42",
  "meta":{"versionId":"3"},"status":"planned","class":{"code":"AMB"},
  "participant":[{"individual":{"reference":"Practitioner/123"}}]})";

// -- token -------------------------------------------------------------------------------------

TEST_F(write_back_client_test, token_is_fetched_with_a_client_assertion_and_cached) {
  http->script("PUT", audit_url(), answer(201));
  auto first = deliver(fhir_write::audit_event);
  EXPECT_EQ(first.verdict, delivery_verdict::delivered) << first.detail;
  EXPECT_EQ(first.http_status, 201);

  const auto posts = http->token_requests();
  ASSERT_EQ(posts.size(), 1U);
  EXPECT_EQ(posts[0].method, "POST");
  EXPECT_EQ(posts[0].trust, "ehr-ca");
  EXPECT_EQ(header_of(posts[0], "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_NE(posts[0].body.find("grant_type=client_credentials&scope=system%2FAuditEvent.write"),
            std::string::npos)
    << posts[0].body;
  auto form = form_of(posts[0].body);
  EXPECT_EQ(form.size(), 4U);
  EXPECT_EQ(form["grant_type"], "client_credentials");
  EXPECT_EQ(form["scope"],
            "system/AuditEvent.write system/Encounter.read system/Encounter.write "
            "system/Appointment.read system/Appointment.write");
  EXPECT_EQ(form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  EXPECT_EQ(keys->asked, std::vector<std::string>{"t1"});

  // The assertion: RS384 (both listed), signed by the tenant's key, for this client and endpoint.
  auto header = peek_jws_header(form["client_assertion"]);
  ASSERT_TRUE(header) << header.err().message;
  EXPECT_EQ(header->alg, "RS384");
  EXPECT_EQ(header->kid, fake_keys::keys().signer(jws_alg::rs384)->kid());
  auto jwks = parse_jwks(fake_keys::keys().jwks());
  ASSERT_TRUE(jwks);
  auto payload = verify_jws(form["client_assertion"], *jwks);
  ASSERT_TRUE(payload) << payload.err().message;
  auto claims = boost::json::parse(*payload);
  EXPECT_EQ(claims.at("iss"), "visitd-backend");
  EXPECT_EQ(claims.at("sub"), "visitd-backend");
  EXPECT_EQ(claims.at("aud").as_string(), token_endpoint);

  // The PUT carried the token; the second write reuses it.
  const auto writes = http->fhir_requests();
  ASSERT_EQ(writes.size(), 1U);
  EXPECT_EQ(header_of(writes[0], "Authorization"), "Bearer tok-1");
  http->script("PUT", audit_url(), answer(200));
  now += 58min;  // expires in 3600 s; margin 60 s
  EXPECT_EQ(deliver(fhir_write::audit_event).verdict, delivery_verdict::delivered);
  EXPECT_EQ(http->token_requests().size(), 1U);
  EXPECT_EQ(header_of(http->fhir_requests().back(), "Authorization"), "Bearer tok-1");

  // Within the margin of its expiry, a new token is fetched.
  http->script("PUT", audit_url(), answer(200));
  now += 1min + 1s;
  EXPECT_EQ(deliver(fhir_write::audit_event).verdict, delivery_verdict::delivered);
  EXPECT_EQ(http->token_requests().size(), 2U);
  EXPECT_EQ(header_of(http->fhir_requests().back(), "Authorization"), "Bearer tok-2");
}

TEST_F(write_back_client_test, scopes_follow_the_plan_and_es384_when_only_it_is_listed) {
  http->algs = R"(["ES384"])";
  plan.targets = {.audit_events = true, .encounters = false, .appointments = false};
  http->script("PUT", audit_url(), answer(201));
  EXPECT_EQ(deliver(fhir_write::audit_event).verdict, delivery_verdict::delivered);
  auto form = form_of(http->token_requests().at(0).body);
  EXPECT_EQ(form["scope"], "system/AuditEvent.write");
  auto header = peek_jws_header(form["client_assertion"]);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->alg, "ES384");
}

TEST_F(write_back_client_test, token_endpoint_trouble_is_retried) {
  http->script("POST", token_endpoint,
               answer(400, R"({"error":"invalid_client","error_description":"unknown key"})"));
  auto refused = deliver(fhir_write::audit_event);
  EXPECT_EQ(refused.verdict, delivery_verdict::retry);
  EXPECT_EQ(refused.http_status, 400);
  EXPECT_EQ(refused.detail,
            "POST https://ehr.example.org/oauth2/token: HTTP 400: invalid_client (unknown key)");
  EXPECT_TRUE(http->fhir_requests().empty());

  http->script("POST", token_endpoint,
               domain::make_error(domain::errc::timeout, "response timed out"));
  auto timed_out = deliver(fhir_write::audit_event);
  EXPECT_EQ(timed_out.verdict, delivery_verdict::retry);
  EXPECT_EQ(timed_out.http_status, 0);
  EXPECT_EQ(timed_out.detail, "POST https://ehr.example.org/oauth2/token: response timed out");

  http->script("GET", discovery_url, answer(404));
  now += 1h;  // past the discovery cache
  auto no_discovery = deliver(fhir_write::audit_event);
  EXPECT_EQ(no_discovery.verdict, delivery_verdict::retry);
  EXPECT_NE(no_discovery.detail.find("SMART discovery at https://ehr.example.org/fhir"),
            std::string::npos)
    << no_discovery.detail;

  keys->fail = true;
  auto no_keys = deliver(fhir_write::audit_event);
  EXPECT_EQ(no_keys.verdict, delivery_verdict::retry);
  EXPECT_EQ(no_keys.detail, "the client assertion for t1: the key ring stopped");
}

TEST_F(write_back_client_test, public_client_is_refused_for_good) {
  endpoint.client = domain::client_type::public_client;
  auto outcome = deliver(fhir_write::audit_event);
  EXPECT_EQ(outcome.verdict, delivery_verdict::permanent);
  EXPECT_EQ(outcome.http_status, 0);
  EXPECT_EQ(outcome.detail,
            "write-back needs a confidential client registered for SMART Backend Services "
            "(private_key_jwt)");
  EXPECT_TRUE(http->requests.empty());
}

TEST_F(write_back_client_test, writes_outside_the_plan_are_refused) {
  plan.audit_events = audit_event_strategy::unsupported;
  plan.targets.audit_events = false;
  auto outcome = deliver(fhir_write::audit_event);
  EXPECT_EQ(outcome.verdict, delivery_verdict::permanent);
  EXPECT_EQ(outcome.detail, "AuditEvent: not a write this item causes under the endpoint's plan");
  item.kind = write_back_kind::lobby_entered;
  EXPECT_EQ(deliver(fhir_write::encounter).verdict, delivery_verdict::permanent);
  EXPECT_TRUE(http->requests.empty());
}

// -- AuditEvent --------------------------------------------------------------------------------

TEST_F(write_back_client_test, update_as_create_puts_to_the_deterministic_id) {
  http->script("PUT", audit_url(), answer(201));
  auto outcome = deliver(fhir_write::audit_event);
  EXPECT_EQ(outcome.verdict, delivery_verdict::delivered);
  EXPECT_EQ(outcome.detail, "PUT AuditEvent/" + audit_event_id(item) + ": HTTP 201");
  const auto writes = http->fhir_requests();
  ASSERT_EQ(writes.size(), 1U);
  const auto& put = writes[0];
  EXPECT_EQ(put.url,
            "https://ehr.example.org/fhir/AuditEvent/vd-e1d0ce0746895275079bc609967a00991bec6dbc");
  EXPECT_EQ(put.trust, "ehr-ca");
  EXPECT_EQ(header_of(put, "Accept"), "application/fhir+json");
  EXPECT_EQ(header_of(put, "Content-Type"), "application/fhir+json");
  EXPECT_EQ(header_of(put, "If-None-Exist"), "<absent>");
  EXPECT_EQ(header_of(put, "If-Match"), "<absent>");
  EXPECT_EQ(put.body, audit_event_json(item, {}, "https://visitd.example.org", true));
}

TEST_F(write_back_client_test, conditional_create_posts_with_if_none_exist) {
  plan.audit_events = audit_event_strategy::conditional_create;
  http->script("POST", url("AuditEvent"), answer(201));
  http->script("POST", url("AuditEvent"), answer(200));  // the retry finds the first one
  for (int status : {201, 200}) {
    auto outcome = deliver(fhir_write::audit_event);
    EXPECT_EQ(outcome.verdict, delivery_verdict::delivered);
    EXPECT_EQ(outcome.http_status, status);
    EXPECT_EQ(outcome.detail, "POST AuditEvent: HTTP " + std::to_string(status));
  }
  const auto writes = http->fhir_requests();
  ASSERT_EQ(writes.size(), 2U);
  EXPECT_EQ(writes[0].url, "https://ehr.example.org/fhir/AuditEvent");
  EXPECT_EQ(header_of(writes[0], "If-None-Exist"), "_tag=urn:visitd:event-key%7Ct1%2Fv1%2F7");
  EXPECT_EQ(writes[0].body, audit_event_json(item, {}, "https://visitd.example.org", false));
  EXPECT_EQ(http->token_requests().size(), 1U);

  // Several matches (412): the event's AuditEvent is there already.
  http->script("POST", url("AuditEvent"), answer(412));
  auto duplicate = deliver(fhir_write::audit_event);
  EXPECT_EQ(duplicate.verdict, delivery_verdict::delivered);
  EXPECT_EQ(duplicate.http_status, 412);
}

TEST_F(write_back_client_test, transient_failures_are_retried) {
  http->script("PUT", audit_url(), answer(500, R"({"resourceType":"OperationOutcome",
                 "issue":[{"severity":"error","code":"exception"}]})"));
  auto failed = deliver(fhir_write::audit_event);
  EXPECT_EQ(failed.verdict, delivery_verdict::retry);
  EXPECT_EQ(failed.http_status, 500);
  EXPECT_EQ(failed.detail, "PUT AuditEvent/" + audit_event_id(item) + ": HTTP 500");
  EXPECT_FALSE(failed.retry_after);

  http->script("PUT", audit_url(), answer(429, "", {{"Retry-After", "120"}}));
  auto limited = deliver(fhir_write::audit_event);
  EXPECT_EQ(limited.verdict, delivery_verdict::retry);
  EXPECT_EQ(limited.http_status, 429);
  EXPECT_EQ(limited.retry_after, domain::duration{120s});

  http->script("PUT", audit_url(),
               answer(503, "", {{"retry-after", "Wed, 25 Nov 2026 18:55:00 GMT"}}));
  auto unavailable = deliver(fhir_write::audit_event);
  EXPECT_EQ(unavailable.verdict, delivery_verdict::retry);
  EXPECT_EQ(unavailable.retry_after, domain::duration{5min});

  http->script("PUT", audit_url(),
               domain::make_error(domain::errc::unavailable,
                                  "connect to ehr.example.org:443: connection refused"));
  auto network = deliver(fhir_write::audit_event);
  EXPECT_EQ(network.verdict, delivery_verdict::retry);
  EXPECT_EQ(network.http_status, 0);
  EXPECT_EQ(network.detail, "PUT AuditEvent/" + audit_event_id(item) +
                              ": connect to ehr.example.org:443: connection refused");
}

TEST_F(write_back_client_test, a_refusal_is_permanent_and_quotes_the_diagnostics) {
  const std::string long_text(400, 'x');
  http->script("PUT", audit_url(), answer(400, R"({"resourceType":"OperationOutcome","issue":[
                 {"severity":"error","code":"invalid","details":{"text":"ignored"}},
                 {"severity":"error","code":"invalid","diagnostics":"AuditEvent.agent: bad"}]})"));
  auto refused = deliver(fhir_write::audit_event);
  EXPECT_EQ(refused.verdict, delivery_verdict::permanent);
  EXPECT_EQ(refused.http_status, 400);
  EXPECT_EQ(refused.detail,
            "PUT AuditEvent/" + audit_event_id(item) + ": HTTP 400: AuditEvent.agent: bad");

  http->script("PUT", audit_url(),
               answer(422, R"({"resourceType":"OperationOutcome","issue":[{"diagnostics":")" +
                             long_text + "\"}]}"));
  auto capped = deliver(fhir_write::audit_event);
  EXPECT_EQ(capped.verdict, delivery_verdict::permanent);
  EXPECT_EQ(capped.detail, "PUT AuditEvent/" + audit_event_id(item) +
                             ": HTTP 422: " + std::string(300, 'x') + "…");

  http->script("PUT", audit_url(), answer(403, "<html>Forbidden</html>"));
  auto forbidden = deliver(fhir_write::audit_event);
  EXPECT_EQ(forbidden.verdict, delivery_verdict::permanent);
  EXPECT_EQ(forbidden.detail, "PUT AuditEvent/" + audit_event_id(item) + ": HTTP 403");
}

TEST_F(write_back_client_test, unauthorized_drops_the_token) {
  http->script("PUT", audit_url(), answer(401));
  auto outcome = deliver(fhir_write::audit_event);
  EXPECT_EQ(outcome.verdict, delivery_verdict::retry);
  EXPECT_EQ(outcome.http_status, 401);
  EXPECT_EQ(http->token_requests().size(), 1U);

  http->script("PUT", audit_url(), answer(201));
  EXPECT_EQ(deliver(fhir_write::audit_event).verdict, delivery_verdict::delivered);
  EXPECT_EQ(http->token_requests().size(), 2U);
  EXPECT_EQ(header_of(http->fhir_requests().back(), "Authorization"), "Bearer tok-2");
}

TEST_F(write_back_client_test, forget_drops_the_endpoint_tokens) {
  http->script("PUT", audit_url(), answer(201));
  http->script("PUT", audit_url(), answer(201));
  EXPECT_EQ(deliver(fhir_write::audit_event).verdict, delivery_verdict::delivered);
  client->forget(endpoint);
  EXPECT_EQ(deliver(fhir_write::audit_event).verdict, delivery_verdict::delivered);
  EXPECT_EQ(http->token_requests().size(), 2U);
}

// -- Encounter and Appointment -----------------------------------------------------------------

TEST_F(write_back_client_test, encounter_is_read_merged_and_put_with_if_match) {
  item.kind = write_back_kind::visit_started;
  item.participant.reset();
  http->script("GET", url("Encounter/42"),
               answer(200, std::string{encounter_v3}, {{"ETag", R"(W/"3")"}}));
  http->script("PUT", url("Encounter/42"), answer(200));
  auto outcome = deliver(fhir_write::encounter);
  EXPECT_EQ(outcome.verdict, delivery_verdict::delivered) << outcome.detail;
  EXPECT_EQ(outcome.detail, "PUT Encounter/42: HTTP 200");
  const auto writes = http->fhir_requests();
  ASSERT_EQ(writes.size(), 2U);
  EXPECT_EQ(writes[0].method, "GET");
  EXPECT_EQ(header_of(writes[0], "Accept"), "application/fhir+json");
  EXPECT_EQ(header_of(writes[0], "Authorization"), "Bearer tok-1");
  EXPECT_EQ(writes[1].method, "PUT");
  EXPECT_EQ(header_of(writes[1], "If-Match"), R"(W/"3")");
  EXPECT_EQ(header_of(writes[1], "Content-Type"), "application/fhir+json");
  EXPECT_EQ(writes[1].body, **merge_encounter(encounter_v3, item));
}

TEST_F(write_back_client_test, precondition_failed_reads_and_merges_again) {
  item.kind = write_back_kind::visit_started;
  constexpr std::string_view encounter_v4 = R"({"resourceType":"Encounter","id":"42",
    "meta":{"versionId":"4"},"status":"arrived","class":{"code":"AMB"},
    "extension":[{"url":"urn:ehr:edited","valueBoolean":true}]})";
  http->script("GET", url("Encounter/42"),
               answer(200, std::string{encounter_v3}, {{"ETag", R"(W/"3")"}}));
  http->script("PUT", url("Encounter/42"), answer(412));
  http->script("GET", url("Encounter/42"),
               answer(200, std::string{encounter_v4}, {{"ETag", R"(W/"4")"}}));
  http->script("PUT", url("Encounter/42"), answer(200));
  auto outcome = deliver(fhir_write::encounter);
  EXPECT_EQ(outcome.verdict, delivery_verdict::delivered) << outcome.detail;
  const auto writes = http->fhir_requests();
  ASSERT_EQ(writes.size(), 4U);
  EXPECT_EQ(header_of(writes[3], "If-Match"), R"(W/"4")");
  auto body = boost::json::parse(writes[3].body);
  EXPECT_EQ(body.at("status"), "in-progress");
  EXPECT_EQ(body.at("extension"), boost::json::parse(R"([{"url":"urn:ehr:edited",
                                                         "valueBoolean":true}])"));
}

TEST_F(write_back_client_test, precondition_failed_too_often_is_retried_later) {
  item.kind = write_back_kind::visit_started;
  for (int i = 0; i < 3; ++i) {
    http->script("GET", url("Encounter/42"),
                 answer(200, std::string{encounter_v3}, {{"ETag", R"(W/"3")"}}));
    http->script("PUT", url("Encounter/42"), answer(412));
  }
  auto outcome = deliver(fhir_write::encounter);
  EXPECT_EQ(outcome.verdict, delivery_verdict::retry);
  EXPECT_EQ(outcome.http_status, 412);
  EXPECT_EQ(outcome.detail, "PUT Encounter/42: HTTP 412 (after 3 read-merge-update rounds)");
  EXPECT_EQ(http->fhir_requests().size(), 6U);
}

TEST_F(write_back_client_test, a_merge_that_changes_nothing_writes_nothing) {
  item.kind = write_back_kind::visit_started;
  http->script("GET", url("Encounter/42"),
               answer(200, R"({"resourceType":"Encounter","status":"finished",
                 "class":{"code":"VR"},"period":{"start":"2026-11-25T18:00:00Z"}})",
                      {{"ETag", R"(W/"9")"}}));
  auto outcome = deliver(fhir_write::encounter);
  EXPECT_EQ(outcome.verdict, delivery_verdict::delivered);
  EXPECT_EQ(outcome.http_status, 200);
  EXPECT_EQ(outcome.detail, "GET Encounter/42: HTTP 200: nothing to change");
  ASSERT_EQ(http->fhir_requests().size(), 1U);
}

TEST_F(write_back_client_test, a_missing_or_wrong_resource_is_permanent) {
  item.kind = write_back_kind::visit_started;
  http->script("GET", url("Encounter/42"),
               answer(404, R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",
                 "code":"not-found","diagnostics":"Resource Encounter/42 is not known"}]})"));
  auto missing = deliver(fhir_write::encounter);
  EXPECT_EQ(missing.verdict, delivery_verdict::permanent);
  EXPECT_EQ(missing.http_status, 404);
  EXPECT_EQ(missing.detail, "GET Encounter/42: HTTP 404: Resource Encounter/42 is not known");

  http->script("GET", url("Encounter/42"), answer(200, R"({"resourceType":"Patient"})"));
  auto wrong = deliver(fhir_write::encounter);
  EXPECT_EQ(wrong.verdict, delivery_verdict::permanent);
  EXPECT_EQ(wrong.detail, "GET Encounter/42: HTTP 200: the resource read is not an Encounter");

  http->script("GET", url("Encounter/42"), answer(503));
  EXPECT_EQ(deliver(fhir_write::encounter).verdict, delivery_verdict::retry);
  EXPECT_EQ(http->fhir_requests().size(), 3U);  // no PUT
}

TEST_F(write_back_client_test, appointment_update_without_etag_has_no_if_match) {
  item.kind = write_back_kind::lobby_entered;
  item.participant->role = domain::participant_role::patient;
  item.participant->identity = id<domain::join_id>("j-77");
  http->script("GET", url("Appointment/9"),
               answer(200, R"({"resourceType":"Appointment","id":"9","status":"booked"})"));
  http->script("PUT", url("Appointment/9"), answer(200));
  auto outcome = deliver(fhir_write::appointment);
  EXPECT_EQ(outcome.verdict, delivery_verdict::delivered) << outcome.detail;
  const auto writes = http->fhir_requests();
  ASSERT_EQ(writes.size(), 2U);
  EXPECT_EQ(header_of(writes[1], "If-Match"), "<absent>");
  EXPECT_EQ(boost::json::parse(writes[1].body),
            boost::json::parse(R"({"resourceType":"Appointment","id":"9","status":"arrived"})"));

  // A 401 on the read drops the token too.
  http->script("GET", url("Appointment/9"), answer(401));
  EXPECT_EQ(deliver(fhir_write::appointment).verdict, delivery_verdict::retry);
  http->script("GET", url("Appointment/9"),
               answer(200, R"({"resourceType":"Appointment","id":"9","status":"arrived"})"));
  EXPECT_EQ(deliver(fhir_write::appointment).verdict, delivery_verdict::delivered);
  EXPECT_EQ(http->token_requests().size(), 2U);
}

// -- CapabilityStatement -----------------------------------------------------------------------

TEST_F(write_back_client_test, check_reads_the_capability_statement) {
  http->script("GET", url("metadata"),
               answer(200, R"({"resourceType":"CapabilityStatement","fhirVersion":"4.0.1",
                 "rest":[{"mode":"server","resource":[{"type":"AuditEvent",
                   "interaction":[{"code":"update"}],"updateCreate":true}]}]})"));
  std::optional<domain::result<write_back_support>> got;
  client->check(endpoint, [&](domain::result<write_back_support> r) { got = std::move(r); });
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(got->value().fhir_version, "4.0.1");
  EXPECT_TRUE(got->value().audit_event.update_create);
  EXPECT_EQ(http->requests.at(0).trust, "ehr-ca");
  EXPECT_EQ(header_of(http->requests.at(0), "Authorization"), "<absent>");

  http->script("GET", url("metadata"), answer(500));
  client->check(endpoint, [&](domain::result<write_back_support> r) { got = std::move(r); });
  ASSERT_TRUE(got && !got->has_value());
  EXPECT_EQ(got->err().code, domain::errc::unavailable);

  http->script("GET", url("metadata"),
               domain::make_error(domain::errc::timeout, "connect timed out"));
  client->check(endpoint, [&](domain::result<write_back_support> r) { got = std::move(r); });
  ASSERT_TRUE(got && !got->has_value());
  EXPECT_EQ(got->err().code, domain::errc::unavailable);
  EXPECT_NE(got->err().message.find("connect timed out"), std::string::npos);

  http->script("GET", url("metadata"), answer(200, "{}"));
  client->check(endpoint, [&](domain::result<write_back_support> r) { got = std::move(r); });
  ASSERT_TRUE(got && !got->has_value());
  EXPECT_EQ(got->err().code, domain::errc::invalid_argument);
}

}  // namespace
}  // namespace visitd::fhir
