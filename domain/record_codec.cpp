#include "domain/record_codec.hpp"

#include "domain/binary.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace visitd::domain {

namespace {

using binary::reader;
using binary::writer;

// Smallest encodings of one list element, so `reader::count` can refuse a count the input cannot
// hold before anything is allocated: an id is at least 2 bytes (length + one character), a bool
// or enum 1, a timestamp 8.
constexpr std::size_t min_admin_bytes = 2;
constexpr std::size_t min_revision_bytes = 1 + 2 + 1 + 2 + 1 + 1 + 2 + 8 + 5;
constexpr std::size_t min_lobby_wait_bytes = 2 + 8 + 1;

std::string with_prefix(std::string_view prefix, std::string_view message) {
  std::string out{prefix};
  out.append(message);
  return out;
}

/// Decodes one record: checks the version byte, runs `read` (which reports problems through the
/// reader and returns a default value after a failure), then refuses trailing bytes. `record`
/// starts every error message.
template <class T, class Read>
result<T> decode_record(std::string_view record, std::uint8_t version, std::string_view bytes,
                        Read read) {
  const auto failure = [&](std::string_view why) {
    std::string message{record};
    message.append(": ").append(why);
    return make_error(errc::invalid_argument, std::move(message));
  };
  reader r{bytes};
  const auto found = r.u8("format version");
  if (r.failed()) return failure("empty input");
  if (found != version)
    return failure(with_prefix("unknown format version ", std::to_string(found)));
  T value = read(r);
  if (!r.failed() && !r.at_end()) r.fail("trailing bytes after the record");
  if (r.failed()) return failure(r.why());
  return value;
}

// -- tenant ------------------------------------------------------------------------------------

void write_tenant(writer& w, const tenant& t) {
  w.id(t.id);
  w.str(t.display_name);
  w.str(t.region);
  w.enumerated(t.status);
  w.varint(t.admins.size());
  for (const auto& admin : t.admins) w.id(admin);
  w.id(t.approver);
  w.enumerated(t.ehr);
  const auto& policy = t.write_back;
  w.boolean(policy.writes.audit_events);
  w.boolean(policy.writes.encounters);
  w.boolean(policy.writes.appointments);
  for (const auto* c : {&policy.codes.type, &policy.codes.connected, &policy.codes.disconnected,
                        &policy.codes.device_test}) {
    w.str(c->system);
    w.str(c->code);
    w.str(c->display);
  }
}

/// The write-back policy of a version 2 tenant (the domain's rules checked).
write_back_policy read_write_back_policy(reader& r) {
  write_back_policy policy;
  policy.writes.audit_events = r.boolean("write_back.audit_events");
  policy.writes.encounters = r.boolean("write_back.encounters");
  policy.writes.appointments = r.boolean("write_back.appointments");
  for (auto* c : {&policy.codes.type, &policy.codes.connected, &policy.codes.disconnected,
                  &policy.codes.device_test}) {
    c->system = r.str("write_back.coding.system");
    c->code = r.str("write_back.coding.code");
    c->display = r.str("write_back.coding.display");
  }
  if (r.failed()) return {};
  if (auto valid = validate_write_back_policy(policy); !valid) r.fail(valid.err().message);
  return policy;
}

tenant read_tenant(reader& r, std::uint8_t version) {
  auto id = r.named_id<tenant_id>("id");
  const auto display_name = r.str("display_name");
  const auto region = r.str("region");
  const auto status = r.enumerated("status", tenant_status::suspended);
  std::vector<account_id> admins;
  admins.resize(r.count("admins", min_admin_bytes));
  for (auto& admin : admins) admin = r.named_id<account_id>("admins");
  auto approver = r.named_id<account_id>("approver");
  const auto ehr = r.enumerated("ehr", ehr_kind::oracle_health);
  auto policy = version >= 2 ? read_write_back_policy(r) : write_back_policy{};
  if (r.failed()) return {};
  // The same rules as a tenant made through the API; `make_tenant` yields an active tenant.
  auto made =
    make_tenant(std::move(id), display_name, region, std::move(admins), std::move(approver), ehr);
  if (!made) {
    r.fail(made.err().message);
    return {};
  }
  made->status = status;
  made->write_back = std::move(policy);
  return std::move(made).value();
}

// -- fhir_endpoint -----------------------------------------------------------------------------

void write_revision(writer& w, const endpoint_revision& rev) {
  w.varint(rev.number.value());
  w.str(rev.settings.base_url);
  w.enumerated(rev.settings.environment);
  w.str(rev.settings.client_id);
  w.enumerated(rev.settings.type);
  w.enumerated(rev.state);
  w.id(rev.created_by);
  w.time(rev.created_at);
  w.opt_id(rev.validated_by);
  w.opt_id(rev.validated_as);
  w.opt_time(rev.validated_at);
  w.opt_id(rev.decided_by);
  w.opt_time(rev.decided_at);
}

void write_endpoint(writer& w, const fhir_endpoint& endpoint) {
  w.id(endpoint.id);
  w.id(endpoint.tenant);
  w.varint(endpoint.revisions.size());
  for (const auto& rev : endpoint.revisions) write_revision(w, rev);
}

/// Reads revision `index` (0-based); field names in messages read `revisions[<index>].<field>`.
endpoint_revision read_revision(reader& r, std::size_t index) {
  std::string prefix{"revisions["};
  prefix.append(std::to_string(index)).append("].");
  const auto field = [&](std::string_view name) { return with_prefix(prefix, name); };

  endpoint_revision rev;
  const auto number = r.varint(field("number"));
  if (!r.failed() && number != index + 1) {
    // Numbers are implied by position, but stored so a record that broke the rule is refused
    // rather than silently renumbered.
    std::string why = field("number");
    why.append(" must be ").append(std::to_string(index + 1));
    why.append(", not ").append(std::to_string(number));
    r.fail(std::move(why));
  }
  if (!r.failed()) {
    // Unreachable in practice (the count is bounded by the input size), but checked so the
    // narrowing below can never wrap.
    if (number > std::numeric_limits<std::uint32_t>::max())
      r.fail(field("number does not fit in 32 bits"));
    else if (auto made = revision_number::make(static_cast<std::uint32_t>(number)); made)
      rev.number = *made;
    else
      r.fail(with_prefix(prefix, made.err().message));
  }
  const auto base_url = r.str(field("base_url"));
  const auto environment = r.enumerated(field("environment"), fhir_environment::production);
  const auto client_id = r.str(field("client_id"));
  const auto type = r.enumerated(field("client_type"), client_type::confidential_private_key_jwt);
  if (!r.failed()) {
    // http is allowed as in test setups; the policy of refusing it belongs to where settings are
    // entered, not to reading back what was stored.
    auto settings =
      make_endpoint_settings(base_url, environment, client_id, type, /*allow_http=*/true);
    if (!settings) {
      r.fail(with_prefix(prefix, settings.err().message));
    } else if (settings->base_url != base_url) {
      // Stored URLs are normalized; comparing settings for "nothing changed" relies on it.
      r.fail(field("base_url is not in normalized form"));
    } else {
      rev.settings = std::move(settings).value();
    }
  }
  rev.state = r.enumerated(field("state"), revision_state::superseded);
  rev.created_by = r.named_id<account_id>(field("created_by"));
  rev.created_at = r.time(field("created_at"));
  rev.validated_by = r.opt_named_id<account_id>(field("validated_by"));
  rev.validated_as = r.opt_named_id<ehr_user_id>(field("validated_as"));
  rev.validated_at = r.opt_time(field("validated_at"));
  rev.decided_by = r.opt_named_id<account_id>(field("decided_by"));
  rev.decided_at = r.opt_time(field("decided_at"));
  return rev;
}

fhir_endpoint read_endpoint(reader& r) {
  fhir_endpoint endpoint;
  endpoint.id = r.named_id<endpoint_id>("id");
  endpoint.tenant = r.named_id<tenant_id>("tenant");
  const auto n = r.count("revisions", min_revision_bytes);
  if (!r.failed() && n == 0) r.fail("revisions must not be empty");
  // No reserve: memory grows with the revisions actually decoded, not with a claimed count.
  std::size_t approved = 0;
  for (std::size_t i = 0; i < n && !r.failed(); ++i) {
    endpoint.revisions.push_back(read_revision(r, i));
    if (endpoint.revisions.back().state == revision_state::approved) ++approved;
  }
  // `in_force` takes the first approved revision; a second would be ignored silently.
  if (!r.failed() && approved > 1) r.fail("more than one revision is approved");
  return r.failed() ? fhir_endpoint{} : endpoint;
}

// -- visit_info --------------------------------------------------------------------------------

void write_visit_info(writer& w, const visit_info& info) {
  w.id(info.id);
  w.id(info.tenant);
  w.id(info.endpoint);
  w.opt_id(info.appointment);
  w.opt_id(info.encounter);
  w.opt_id(info.department);
  w.time(info.scheduled_start);
}

visit_info read_visit_info(reader& r) {
  auto id = r.named_id<visit_id>("id");
  auto tenant = r.named_id<tenant_id>("tenant");
  auto endpoint = r.named_id<endpoint_id>("endpoint");
  auto appointment = r.opt_named_id<fhir_reference>("appointment");
  auto encounter = r.opt_named_id<fhir_reference>("encounter");
  auto department = r.opt_named_id<department_id>("department");
  const auto scheduled_start = r.time("scheduled_start");
  if (r.failed()) return {};
  auto made =
    make_visit_info(std::move(id), std::move(tenant), std::move(endpoint), std::move(appointment),
                    std::move(encounter), std::move(department), scheduled_start);
  if (!made) {
    r.fail(made.err().message);
    return {};
  }
  return std::move(made).value();
}

// -- visit_report ------------------------------------------------------------------------------

void write_report(writer& w, const visit_report& report) {
  w.enumerated(report.status);
  w.opt_time(report.started_at);
  w.span(report.length);
  w.varint(report.max_attendees);
  w.varint(report.lobby_waits.size());
  for (const auto& wait : report.lobby_waits) {
    w.id(wait.participant);
    w.time(wait.entered_at);
    w.opt_span(wait.wait);
  }
}

visit_report read_report(reader& r) {
  visit_report report;
  report.status = r.enumerated("status", report_status::abandoned);
  report.started_at = r.opt_time("started_at");
  report.length = r.span("length");
  const auto max_attendees = r.varint("max_attendees");
  if constexpr (sizeof(std::size_t) < sizeof(std::uint64_t)) {
    // Only where size_t is narrower: a value that would wrap could not re-encode the same.
    if (max_attendees > std::numeric_limits<std::size_t>::max())
      r.fail("max_attendees does not fit in size_t");
  }
  report.max_attendees = static_cast<std::size_t>(max_attendees);
  report.lobby_waits.resize(r.count("lobby_waits", min_lobby_wait_bytes));
  std::set<participant_id> seen;
  for (auto& wait : report.lobby_waits) {
    wait.participant = r.named_id<participant_id>("lobby_waits.participant");
    wait.entered_at = r.time("lobby_waits.entered_at");
    wait.wait = r.opt_span("lobby_waits.wait");
    if (r.failed()) break;
    if (!seen.insert(wait.participant).second) {
      std::string why{"lobby_waits lists participant '"};
      why.append(wait.participant.str()).append("' twice");
      r.fail(std::move(why));
    }
  }
  if (r.failed()) return {};
  // The rules of `make_report` (report.hpp): no start, no length; and an ended visit is
  // `completed` exactly when there was a start.
  if (!report.started_at && report.length != duration::zero())
    r.fail("length must be 0 when there is no started_at");
  else if (report.status == report_status::completed && !report.started_at)
    r.fail("a completed report needs started_at");
  else if (report.started_at && report.status != report_status::completed &&
           report.status != report_status::not_ended)
    r.fail(with_prefix("a report with started_at must be completed or not_ended, not ",
                       to_string(report.status)));
  return r.failed() ? visit_report{} : report;
}

// -- audit_entry -------------------------------------------------------------------------------

void write_audit_entry(writer& w, const audit_entry& entry) {
  w.id(entry.tenant);
  w.id(entry.actor);
  w.str(entry.action);
  w.str(entry.target);
  w.time(entry.at);
  w.str(entry.before);
  w.str(entry.after);
}

audit_entry read_audit_entry(reader& r) {
  auto tenant = r.named_id<tenant_id>("tenant");
  auto actor = r.named_id<account_id>("actor");
  const auto action = r.str("action");
  const auto target = r.str("target");
  const auto at = r.time("at");
  const auto before = r.str("before");
  const auto after = r.str("after");
  if (r.failed()) return {};
  auto made = make_audit_entry(std::move(tenant), std::move(actor), action, target, at,
                               std::string{before}, std::string{after});
  if (!made) {
    r.fail(made.err().message);
    return {};
  }
  return std::move(made).value();
}

// -- account and session -------------------------------------------------------------------------

void write_account(writer& w, const account& a) {
  w.id(a.id);
  w.str(a.login);
  w.str(a.password_hash);
  w.boolean(a.is_operator);
  w.enumerated(a.status);
  w.varint(a.ehr_links.size());
  for (const auto& l : a.ehr_links) {
    w.id(l.tenant);
    w.id(l.user);
  }
  w.time(a.created_at);
}

account read_account(reader& r) {
  auto id = r.named_id<account_id>("id");
  const auto login = r.str("login");
  const auto hash = r.str("password_hash");
  const bool is_operator = r.boolean("is_operator");
  const auto status = r.enumerated("status", account_status::disabled);
  std::vector<ehr_link> links(r.count("ehr_links", 2));
  for (auto& l : links) {
    l.tenant = r.named_id<tenant_id>("ehr_links.tenant");
    l.user = r.id<ehr_user_id>("ehr_links.user");
  }
  const auto created_at = r.time("created_at");
  if (r.failed()) return {};
  auto made = make_account(std::move(id), login, std::string{hash}, is_operator, created_at);
  if (!made) {
    r.fail(made.err().message);
    return {};
  }
  made->status = status;
  for (auto& l : links) {
    if (made->ehr_user_in(l.tenant)) {
      r.fail("ehr_links: two links for tenant " + l.tenant.str());
      return {};
    }
    made->ehr_links.push_back(std::move(l));
  }
  return std::move(made).value();
}

void write_session(writer& w, const session& s) {
  w.str(s.token_digest);
  w.id(s.account);
  w.str(s.csrf_digest);
  w.time(s.created_at);
  w.time(s.expires_at);
}

session read_session(reader& r) {
  session s;
  s.token_digest = std::string{r.str("token_digest")};
  s.account = r.named_id<account_id>("account");
  s.csrf_digest = std::string{r.str("csrf_digest")};
  s.created_at = r.time("created_at");
  s.expires_at = r.time("expires_at");
  if (r.failed()) return {};
  if (s.token_digest.empty() || s.csrf_digest.empty())
    r.fail("empty token digest");
  else if (s.expires_at < s.created_at)
    r.fail("expires_at before created_at");
  return s;
}

void write_api_token(writer& w, const api_token& t) {
  w.str(t.id);
  w.str(t.token_digest);
  w.id(t.tenant);
  w.id(t.owner);
  w.str(t.label);
  w.time(t.created_at);
}

api_token read_api_token(reader& r) {
  std::string id{r.str("id")};
  std::string digest{r.str("token_digest")};
  auto tenant = r.named_id<tenant_id>("tenant");
  auto owner = r.named_id<account_id>("owner");
  std::string label{r.str("label")};
  auto created_at = r.time("created_at");
  if (r.failed()) return {};
  auto made = make_api_token(std::move(id), std::move(digest), std::move(tenant), std::move(owner),
                             label, created_at);
  if (!made) {
    r.fail(made.err().message);
    return {};
  }
  return std::move(made).value();
}

}  // namespace

std::string encode_record(const api_token& t) {
  writer w;
  w.u8(api_token_format_version);
  write_api_token(w, t);
  return std::move(w).take();
}

result<api_token> decode_api_token(std::string_view bytes) {
  return decode_record<api_token>("api_token", api_token_format_version, bytes, read_api_token);
}

std::string encode_record(const account& a) {
  writer w;
  w.u8(account_format_version);
  write_account(w, a);
  return std::move(w).take();
}

std::string encode_record(const session& s) {
  writer w;
  w.u8(session_format_version);
  write_session(w, s);
  return std::move(w).take();
}

result<account> decode_account(std::string_view bytes) {
  return decode_record<account>("account", account_format_version, bytes, read_account);
}

result<session> decode_session(std::string_view bytes) {
  return decode_record<session>("session", session_format_version, bytes, read_session);
}

std::string encode_record(const tenant& t) {
  writer w;
  w.u8(tenant_format_version);
  write_tenant(w, t);
  return std::move(w).take();
}

std::string encode_record(const fhir_endpoint& endpoint) {
  writer w;
  w.u8(fhir_endpoint_format_version);
  write_endpoint(w, endpoint);
  return std::move(w).take();
}

std::string encode_record(const visit_info& info) {
  writer w;
  w.u8(visit_info_format_version);
  write_visit_info(w, info);
  return std::move(w).take();
}

std::string encode_record(const visit_report& report) {
  writer w;
  w.u8(visit_report_format_version);
  write_report(w, report);
  return std::move(w).take();
}

std::string encode_record(const audit_entry& entry) {
  writer w;
  w.u8(audit_entry_format_version);
  write_audit_entry(w, entry);
  return std::move(w).take();
}

result<tenant> decode_tenant(std::string_view bytes) {
  // Version 1 (before write-back policies) is still read: stores written by older builds load.
  const auto version = bytes.empty() ? tenant_format_version : static_cast<std::uint8_t>(bytes[0]);
  const auto read_version = version == 1 ? std::uint8_t{1} : tenant_format_version;
  return decode_record<tenant>("tenant", read_version, bytes,
                               [read_version](reader& r) { return read_tenant(r, read_version); });
}

result<fhir_endpoint> decode_fhir_endpoint(std::string_view bytes) {
  return decode_record<fhir_endpoint>("fhir_endpoint", fhir_endpoint_format_version, bytes,
                                      read_endpoint);
}

result<visit_info> decode_visit_info(std::string_view bytes) {
  return decode_record<visit_info>("visit_info", visit_info_format_version, bytes, read_visit_info);
}

result<visit_report> decode_visit_report(std::string_view bytes) {
  return decode_record<visit_report>("visit_report", visit_report_format_version, bytes,
                                     read_report);
}

result<audit_entry> decode_audit_entry(std::string_view bytes) {
  return decode_record<audit_entry>("audit_entry", audit_entry_format_version, bytes,
                                    read_audit_entry);
}

}  // namespace visitd::domain
