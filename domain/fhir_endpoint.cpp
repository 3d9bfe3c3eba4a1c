#include "domain/fhir_endpoint.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <charconv>

namespace visitd::domain {

namespace {

using endpoint_result = result<fhir_endpoint>;

error bad_url(std::string_view field, std::string_view why) {
  return make_error(errc::invalid_argument, std::string{field} + " " + std::string{why});
}

std::string revision_name(revision_number n) {
  return "revision " + std::to_string(n.value());
}

result<void> check_tenant(const fhir_endpoint& endpoint, const tenant& t) {
  if (endpoint.tenant != t.id)
    return make_error(errc::invalid_argument, "endpoint '" + endpoint.id.str() +
                                                "' does not belong to tenant '" + t.id.str() + "'");
  return {};
}

result<void> require_admin(const tenant& t, const account_id& actor, std::string_view what) {
  if (!t.is_admin(actor))
    return make_error(errc::forbidden, "account '" + actor.str() + "' is not an admin of tenant '" +
                                         t.id.str() + "' and may not " + std::string{what});
  return {};
}

result<void> require_approver(const tenant& t, const account_id& actor, std::string_view what) {
  if (!t.is_approver(actor))
    return make_error(errc::forbidden, "account '" + actor.str() +
                                         "' is not the approver of tenant '" + t.id.str() +
                                         "' and may not " + std::string{what});
  return {};
}

/// The checks every transition on an existing endpoint starts with.
result<void> check_common(const fhir_endpoint& endpoint, const tenant& t) {
  if (auto ok = check_tenant(endpoint, t); !ok) return ok;
  return require_active(t);
}

endpoint_revision* find_mut(fhir_endpoint& endpoint, revision_number number) {
  for (auto& r : endpoint.revisions)
    if (r.number == number) return &r;
  return nullptr;
}

result<endpoint_revision*> revision_in(fhir_endpoint& endpoint, revision_number number,
                                       std::initializer_list<revision_state> allowed,
                                       std::string_view what) {
  auto* r = find_mut(endpoint, number);
  if (!r)
    return make_error(errc::not_found,
                      "endpoint '" + endpoint.id.str() + "' has no " + revision_name(number));
  if (std::find(allowed.begin(), allowed.end(), r->state) == allowed.end())
    return make_error(errc::conflict, "cannot " + std::string{what} + " " + revision_name(number) +
                                        ": it is " + std::string{to_string(r->state)});
  return r;
}

bool pending(revision_state s) {
  return s == revision_state::awaiting_validation || s == revision_state::validated;
}

}  // namespace

// -- URL and settings --------------------------------------------------------------------------

result<std::string> normalize_fhir_base_url(std::string_view text, bool allow_http) {
  return normalize_base_url(text, "base_url", allow_http);
}

result<std::string> normalize_base_url(std::string_view text, std::string_view field,
                                       bool allow_http) {
  if (text.empty()) return bad_url(field, "must not be empty");
  if (text.size() > max_base_url_bytes)
    return bad_url(field, "is longer than " + std::to_string(max_base_url_bytes) + " bytes");
  auto parsed = boost::urls::parse_uri(boost::core::string_view{text.data(), text.size()});
  if (!parsed) return bad_url(field, "is not an absolute URL");
  boost::urls::url u{*parsed};
  const auto scheme = u.scheme_id();
  if (scheme == boost::urls::scheme::http && !allow_http) return bad_url(field, "must use https");
  if (scheme != boost::urls::scheme::https && scheme != boost::urls::scheme::http)
    return bad_url(field, "must use https");
  if (u.host_type() == boost::urls::host_type::none || u.encoded_host().empty())
    return bad_url(field, "must have a host");
  if (u.host_type() == boost::urls::host_type::ipvfuture)
    return bad_url(field, "has an unsupported IP literal");
  if (u.has_userinfo()) return bad_url(field, "must not contain user info");
  if (u.has_query()) return bad_url(field, "must not have a query");
  if (u.has_fragment()) return bad_url(field, "must not have a fragment");
  // Boost.URL 1.81 accepts `https://h:44x/r4` as port 44 with the relative path `x/r4`, which
  // RFC 3986 forbids after an authority; refuse it rather than build a different URL.
  if (const auto p = u.encoded_path(); !p.empty() && p.front() != '/')
    return bad_url(field, "has an invalid port or path");
  u.normalize();
  if (u.has_port()) {
    const auto port_text = u.port();
    unsigned long port = 0;
    const auto* first = port_text.data();
    const auto* last = port_text.data() + port_text.size();
    const auto [end, ec] = std::from_chars(first, last, port);
    if (!port_text.empty() && (ec != std::errc{} || end != last || port == 0 || port > 65535))
      return bad_url(field, "has an invalid port");
    const unsigned long default_port = scheme == boost::urls::scheme::https ? 443 : 80;
    if (port_text.empty() || port == default_port) u.remove_port();
  }
  std::string path{u.encoded_path()};
  while (!path.empty() && path.back() == '/') path.pop_back();
  u.set_encoded_path(path);
  std::string out{u.buffer()};
  return out;
}

result<endpoint_settings> make_endpoint_settings(std::string_view base_url,
                                                 fhir_environment environment,
                                                 std::string_view client_id, client_type type,
                                                 bool allow_http) {
  auto url = normalize_fhir_base_url(base_url, allow_http);
  if (!url) return std::move(url).err();
  if (client_id.empty() || client_id.size() > max_client_id_bytes)
    return make_error(errc::invalid_argument,
                      "client_id must be 1.." + std::to_string(max_client_id_bytes) + " bytes");
  if (!std::all_of(client_id.begin(), client_id.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
    return make_error(errc::invalid_argument, "client_id must be visible ASCII without spaces");
  return endpoint_settings{std::move(url).value(), environment, std::string{client_id}, type};
}

// -- queries -----------------------------------------------------------------------------------

const endpoint_revision* in_force(const fhir_endpoint& endpoint) noexcept {
  for (const auto& r : endpoint.revisions)
    if (r.state == revision_state::approved) return &r;
  return nullptr;
}

const endpoint_revision* latest(const fhir_endpoint& endpoint) noexcept {
  return endpoint.revisions.empty() ? nullptr : &endpoint.revisions.back();
}

const fhir_endpoint* find_endpoint(const std::vector<fhir_endpoint>& endpoints,
                                   const endpoint_id& id) noexcept {
  for (const auto& e : endpoints)
    if (e.id == id) return &e;
  return nullptr;
}

const endpoint_revision* find_revision(const fhir_endpoint& endpoint,
                                       revision_number number) noexcept {
  for (const auto& r : endpoint.revisions)
    if (r.number == number) return &r;
  return nullptr;
}

// -- transitions -------------------------------------------------------------------------------

endpoint_result create_endpoint(const tenant& t, const account_id& actor, endpoint_id id,
                                endpoint_settings settings, timestamp now) {
  if (auto ok = require_active(t); !ok) return std::move(ok).err();
  if (auto ok = require_admin(t, actor, "register endpoints"); !ok) return std::move(ok).err();
  if (id.empty()) return make_error(errc::invalid_argument, "endpoint_id is required");
  endpoint_revision first;
  first.settings = std::move(settings);
  first.created_by = actor;
  first.created_at = now;
  return fhir_endpoint{std::move(id), t.id, {std::move(first)}};
}

endpoint_result propose_change(const fhir_endpoint& endpoint, const tenant& t,
                               const account_id& actor, endpoint_settings settings, timestamp now) {
  if (auto ok = check_common(endpoint, t); !ok) return std::move(ok).err();
  if (auto ok = require_admin(t, actor, "change endpoints"); !ok) return std::move(ok).err();
  fhir_endpoint next = endpoint;
  if (next.revisions.empty())
    return make_error(errc::internal, "endpoint '" + endpoint.id.str() + "' has no revisions");
  auto& last = next.revisions.back();
  const bool terminal =
    last.state == revision_state::rejected || last.state == revision_state::revoked;
  if (last.settings == settings && !terminal)
    return make_error(errc::conflict,
                      "the settings equal " + revision_name(last.number) + "; nothing to change");
  if (last.state == revision_state::draft) {
    last.settings = std::move(settings);
    last.created_by = actor;
    last.created_at = now;
    return next;
  }
  for (auto& r : next.revisions)
    if (pending(r.state)) {
      r.state = revision_state::superseded;
      r.decided_by = actor;
      r.decided_at = now;
    }
  endpoint_revision draft;
  draft.number = last.number.next();
  draft.settings = std::move(settings);
  draft.created_by = actor;
  draft.created_at = now;
  next.revisions.push_back(std::move(draft));
  return next;
}

endpoint_result submit(const fhir_endpoint& endpoint, const tenant& t, const account_id& actor,
                       revision_number number, timestamp /*now*/) {
  if (auto ok = check_common(endpoint, t); !ok) return std::move(ok).err();
  if (auto ok = require_admin(t, actor, "submit endpoints"); !ok) return std::move(ok).err();
  fhir_endpoint next = endpoint;
  auto r = revision_in(next, number, {revision_state::draft}, "submit");
  if (!r) return std::move(r).err();
  (*r)->state = revision_state::awaiting_validation;
  return next;
}

endpoint_result record_validation(const fhir_endpoint& endpoint, const tenant& t,
                                  const account_id& actor, revision_number number,
                                  ehr_user_id ehr_user, timestamp now) {
  if (auto ok = check_common(endpoint, t); !ok) return std::move(ok).err();
  if (t.ehr == ehr_kind::oracle_health)
    return make_error(errc::conflict,
                      "oracle_health endpoints have no validation step; an admin "
                      "approves them directly");
  if (auto ok = require_approver(t, actor, "validate endpoints"); !ok) return std::move(ok).err();
  if (ehr_user.empty()) return make_error(errc::invalid_argument, "ehr_user_id is required");
  fhir_endpoint next = endpoint;
  auto r = revision_in(next, number, {revision_state::awaiting_validation}, "validate");
  if (!r) return std::move(r).err();
  (*r)->state = revision_state::validated;
  (*r)->validated_by = actor;
  (*r)->validated_as = std::move(ehr_user);
  (*r)->validated_at = now;
  return next;
}

endpoint_result approve(const fhir_endpoint& endpoint, const tenant& t, const account_id& actor,
                        revision_number number, timestamp now) {
  if (auto ok = check_common(endpoint, t); !ok) return std::move(ok).err();
  fhir_endpoint next = endpoint;
  endpoint_revision* target = nullptr;
  if (t.ehr == ehr_kind::oracle_health) {
    if (auto ok = require_admin(t, actor, "approve endpoints"); !ok) return std::move(ok).err();
    auto r = revision_in(next, number, {revision_state::awaiting_validation}, "approve");
    if (!r) return std::move(r).err();
    target = *r;
  } else {
    if (auto ok = require_approver(t, actor, "approve endpoints"); !ok) return std::move(ok).err();
    auto r = revision_in(next, number, {revision_state::validated}, "approve");
    if (!r) {
      if (r.err().code == errc::conflict)
        return make_error(errc::conflict, r.err().message + "; it must be validated first");
      return std::move(r).err();
    }
    target = *r;
    // The approver must have proved access to this exact revision themselves: a validation by
    // a previous approver does not count.
    if (target->validated_by != actor)
      return make_error(errc::forbidden, revision_name(number) +
                                           " was validated by another account; account '" +
                                           actor.str() + "' must validate it before approving");
  }
  for (auto& r : next.revisions)
    if (r.state == revision_state::approved) {
      r.state = revision_state::superseded;
      r.decided_by = actor;
      r.decided_at = now;
    }
  target->state = revision_state::approved;
  target->decided_by = actor;
  target->decided_at = now;
  return next;
}

endpoint_result reject(const fhir_endpoint& endpoint, const tenant& t, const account_id& actor,
                       revision_number number, timestamp now) {
  if (auto ok = check_common(endpoint, t); !ok) return std::move(ok).err();
  auto allowed = t.ehr == ehr_kind::oracle_health ? require_admin(t, actor, "reject endpoints")
                                                  : require_approver(t, actor, "reject endpoints");
  if (!allowed) return std::move(allowed).err();
  fhir_endpoint next = endpoint;
  auto r = revision_in(next, number,
                       {revision_state::awaiting_validation, revision_state::validated}, "reject");
  if (!r) return std::move(r).err();
  (*r)->state = revision_state::rejected;
  (*r)->decided_by = actor;
  (*r)->decided_at = now;
  return next;
}

endpoint_result revoke(const fhir_endpoint& endpoint, const tenant& t, const account_id& actor,
                       timestamp now) {
  if (auto ok = check_tenant(endpoint, t); !ok) return std::move(ok).err();
  if (!t.is_admin(actor) && !t.is_approver(actor))
    return make_error(errc::forbidden, "account '" + actor.str() +
                                         "' is neither an admin nor the approver of tenant '" +
                                         t.id.str() + "' and may not revoke endpoints");
  fhir_endpoint next = endpoint;
  for (auto& r : next.revisions)
    if (r.state == revision_state::approved) {
      r.state = revision_state::revoked;
      r.decided_by = actor;
      r.decided_at = now;
      return next;
    }
  return make_error(errc::conflict,
                    "endpoint '" + endpoint.id.str() + "' has no approved revision to revoke");
}

result<void> check_launch_environment(fhir_environment endpoint_environment,
                                      fhir_environment target_environment) {
  if (endpoint_environment == target_environment) return {};
  return make_error(errc::invalid_argument,
                    "the launch came from a " + std::string{to_string(endpoint_environment)} +
                      " FHIR endpoint but targets a " + std::string{to_string(target_environment)} +
                      " visit; test and production never mix");
}

std::string_view to_string(revision_state state) noexcept {
  switch (state) {
    case revision_state::draft: return "draft";
    case revision_state::awaiting_validation: return "awaiting_validation";
    case revision_state::validated: return "validated";
    case revision_state::approved: return "approved";
    case revision_state::rejected: return "rejected";
    case revision_state::revoked: return "revoked";
    case revision_state::superseded: return "superseded";
  }
  return "unknown";
}

std::string_view to_string(fhir_environment environment) noexcept {
  switch (environment) {
    case fhir_environment::test: return "test";
    case fhir_environment::production: return "production";
  }
  return "unknown";
}

std::string_view to_string(client_type type) noexcept {
  switch (type) {
    case client_type::public_client: return "public";
    case client_type::confidential_private_key_jwt: return "confidential_private_key_jwt";
  }
  return "unknown";
}

}  // namespace visitd::domain
