#include "domain/record_codec.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain {
namespace {

using testing::rev;
using testing::t0;

using namespace std::chrono_literals;
using testing::aid;
using testing::did;
using testing::euid;
using testing::jid;
using testing::make_id;
using testing::must;
using testing::pid;

// -- realistic records, made through the domain's own constructors and transitions -----------

tenant acme(ehr_kind ehr) {
  return must(make_tenant(make_id<tenant_id>("acme-health"), "Acme Health Clinics", "eu-west",
                          {aid("admin-1"), aid("admin-2")}, aid("analyst"), ehr));
}

std::vector<tenant> tenant_samples() {
  std::vector<tenant> out;
  out.push_back(must(
    make_tenant(make_id<tenant_id>("t"), "T", "a", {aid("a")}, aid("a"), ehr_kind::generic_smart)));
  out.push_back(acme(ehr_kind::epic));
  // A tenant's own write-back policy: some writes off, its EHR's codes (UTF-8, longest fields).
  tenant own_policy = acme(ehr_kind::generic_smart);
  write_back_policy policy;
  policy.writes = {true, false, false};
  policy.codes.type = {"urn:oid:2.16.840.1.113883.5.4", std::string(64, 'c'),
                       "Visita virtual \xc3\xa9"};
  policy.codes.connected = {"http://" + std::string(249, 's'), "IN", std::string(200, 'd')};
  policy.codes.device_test = {"urn:x", "a b", ""};
  must(set_write_back_policy(own_policy, aid("admin-1"), policy));
  out.push_back(own_policy);
  tenant suspended = acme(ehr_kind::oracle_health);
  must(set_approver(suspended, aid("admin-1"), aid("admin-2")));
  must(suspend(suspended));
  out.push_back(suspended);
  // Longest fields, UTF-8 in the display name, many admins.
  std::vector<account_id> admins;
  for (int i = 0; i < 40; ++i) admins.push_back(aid("admin." + std::to_string(i)));
  out.push_back(
    must(make_tenant(make_id<tenant_id>(std::string(64, 'x')),
                     "Cl\xc3\xadnica S\xc3\xa3o Jos\xc3\xa9 " + std::string(180, 'y'),
                     std::string(32, '-'), admins, aid(std::string(64, 'z')), ehr_kind::epic)));
  return out;
}

endpoint_settings settings(std::string_view url, std::string_view client,
                           fhir_environment env = fhir_environment::production,
                           client_type type = client_type::confidential_private_key_jwt) {
  return must(make_endpoint_settings(url, env, client, type, /*allow_http=*/true));
}

std::vector<fhir_endpoint> endpoint_samples() {
  std::vector<fhir_endpoint> out;
  const tenant epic = acme(ehr_kind::epic);
  const auto admin = aid("admin-1");
  const auto analyst = aid("analyst");
  const auto as = euid("Practitioner/analyst-9");
  fhir_endpoint e =
    must(create_endpoint(epic, admin, make_id<endpoint_id>("ep-1"),
                         settings("HTTPS://FHIR.Example.org:443/api/FHIR/R4/", "client-abc"), t0));
  out.push_back(e);
  e = must(submit(e, epic, admin, rev(1), t0 + 1min));
  out.push_back(e);
  e = must(record_validation(e, epic, analyst, rev(1), as, t0 + 2min));
  out.push_back(e);
  e = must(approve(e, epic, analyst, rev(1), t0 + 3min));
  out.push_back(e);
  // A change leaves revision 1 in force and adds revision 2 as a draft.
  e = must(propose_change(e, epic, aid("admin-2"),
                          settings("https://fhir.example.org/api/FHIR/R4", "client-def"), t0 + 1h));
  out.push_back(e);
  e = must(submit(e, epic, admin, rev(2), t0 + 2h));
  e = must(record_validation(e, epic, analyst, rev(2), as, t0 + 3h));
  out.push_back(e);
  // A newer proposal supersedes the validated revision 2.
  e = must(propose_change(e, epic, admin,
                          settings("https://fhir2.example.org:8443/r4", "client-def",
                                   fhir_environment::production, client_type::public_client),
                          t0 + 4h));
  e = must(submit(e, epic, admin, rev(3), t0 + 5h));
  e = must(record_validation(e, epic, analyst, rev(3), as, t0 + 6h));
  e = must(approve(e, epic, analyst, rev(3), t0 + 7h));
  out.push_back(e);
  e = must(revoke(e, epic, admin, t0 + 8h));
  out.push_back(e);
  e = must(propose_change(e, epic, admin,
                          settings("https://fhir2.example.org:8443/r4", "client-def",
                                   fhir_environment::production, client_type::public_client),
                          t0 + 9h));
  e = must(submit(e, epic, admin, rev(4), t0 + 10h));
  e = must(reject(e, epic, analyst, rev(4), t0 + 11h));
  out.push_back(e);

  // oracle_health: approved by an admin without validation; a test EHR over http.
  const tenant oracle = acme(ehr_kind::oracle_health);
  fhir_endpoint o = must(create_endpoint(
    oracle, admin, make_id<endpoint_id>("oracle.ep_2"),
    settings("http://localhost:8080/fhir", "c", fhir_environment::test, client_type::public_client),
    timestamp{duration{-1}}));
  o = must(submit(o, oracle, admin, rev(1), t0));
  o = must(approve(o, oracle, aid("admin-2"), rev(1), t0));
  out.push_back(o);
  return out;
}

std::vector<visit_info> visit_info_samples() {
  const auto id = make_id<visit_id>("v-1");
  const auto ten = make_id<tenant_id>("acme-health");
  const auto ep = make_id<endpoint_id>("ep-1");
  const auto appointment = make_id<fhir_reference>("Appointment/abc-123");
  const auto encounter = make_id<fhir_reference>("Encounter/42");
  return {
    must(make_visit_info(id, ten, ep, appointment, encounter, make_id<department_id>("cardiology"),
                         t0 + 90min)),
    must(make_visit_info(id, ten, ep, appointment, std::nullopt, std::nullopt, t0)),
    must(make_visit_info(id, ten, ep, std::nullopt, encounter, std::nullopt,
                         timestamp{duration{std::numeric_limits<std::int64_t>::min()}})),
    must(make_visit_info(make_id<visit_id>(std::string(64, '9')), ten, ep, std::nullopt,
                         make_id<fhir_reference>("Encounter/" + std::string(246, 'e')),
                         make_id<department_id>("d"),
                         timestamp{duration{std::numeric_limits<std::int64_t>::max()}})),
  };
}

/// Runs commands through `decide`/`apply` and keeps the journal, as the visit actor does.
class visit_driver {
public:
  visit_driver() {
    state_ = initial_state(visit_info_samples().front());
    policy_.auto_admit_on_provider_join = false;
  }

  visit_driver& run(const command& c, timestamp now) {
    for (auto& e : must(decide(state_, c, now, policy_))) {
      apply(state_, e);
      journal_.push_back(std::move(e));
    }
    return *this;
  }

  [[nodiscard]] visit_report report() const { return make_report(journal_); }

private:
  visit_state state_;
  visit_policy policy_;
  std::vector<event_envelope> journal_;
};

std::vector<visit_report> report_samples() {
  const auto doc = pid("doc");
  const auto pat = pid("pat");
  const auto guest = pid("guest");
  std::vector<visit_report> out;

  // Completed: the patient waits, is admitted, a guest waits and is never admitted.
  visit_driver completed;
  completed.run(cmd::join{pat, did("phone"), participant_role::patient, jid("join-1")}, t0)
    .run(cmd::join{doc, did("laptop"), participant_role::provider, euid("Practitioner/123")},
         t0 + 4min)
    .run(cmd::join{guest, did("tablet"), participant_role::guest, jid("join-2")}, t0 + 5min)
    .run(cmd::admit{doc, pat}, t0 + 6min);
  out.push_back(completed.report());  // not_ended, started, still present
  completed.run(cmd::leave{guest, did("tablet")}, t0 + 10min)
    .run(cmd::leave{pat, did("phone")}, t0 + 20min)
    .run(cmd::leave{doc, did("laptop")}, t0 + 21min);
  out.push_back(completed.report());

  // No-show: the provider ends a visit nobody else joined.
  visit_driver no_show;
  no_show
    .run(cmd::join{doc, did("laptop"), participant_role::provider, euid("Practitioner/123")}, t0)
    .run(cmd::end{doc}, t0 + 15min);
  out.push_back(no_show.report());

  // Abandoned: the patient waits and leaves; the visit expires.
  visit_driver abandoned;
  abandoned.run(cmd::join{pat, did("phone"), participant_role::patient, euid("Patient/7")}, t0)
    .run(cmd::leave{pat, did("phone")}, t0 + 9min)
    .run(cmd::expire{}, t0 + 24h);
  out.push_back(abandoned.report());

  // Cancelled: nobody joined before expiry.
  visit_driver cancelled;
  cancelled.run(cmd::expire{}, t0 + 24h);
  out.push_back(cancelled.report());

  out.push_back(visit_report{});  // before any event
  // Extremes the format must carry exactly.
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  out.push_back(visit_report{report_status::completed,
                             timestamp{duration{lo}},
                             duration{hi},
                             std::numeric_limits<std::size_t>::max(),
                             {lobby_wait{pid("a"), timestamp{duration{hi}}, duration{lo}},
                              lobby_wait{pid("b"), timestamp{duration{-1}}, std::nullopt}}});
  return out;
}

std::vector<audit_entry> audit_entry_samples() {
  std::vector<audit_entry> out;
  // The smallest entry: empty target and snapshots, at the epoch.
  out.push_back(
    must(make_audit_entry(make_id<tenant_id>("t"), aid("a"), "x", "", timestamp{}, "", "")));
  out.push_back(
    must(make_audit_entry(make_id<tenant_id>("acme-health"), aid("analyst"), "endpoint.approve",
                          "ep-1", t0 + 3min, R"({"id":"ep-1","revision":1,"state":"validated"})",
                          R"({"id":"ep-1","revision":1,"state":"approved"})")));
  // An operator action on the box, recorded under the reserved tenant.
  out.push_back(
    must(make_audit_entry(box_tenant(), aid("operator"), "tenant.suspend", "acme-health", t0 + 1h,
                          R"({"status":"active"})", R"({"status":"suspended"})")));
  // Longest id, action and target, UTF-8, the latest time, a removal (no `after`).
  std::string before{R"({"display_name":"Cl\u00ednica","notes":")"};
  before.append("Cl\xc3\xadnica S\xc3\xa3o Jos\xc3\xa9 ").append(900, 'n').append("\"}");
  out.push_back(must(
    make_audit_entry(make_id<tenant_id>(std::string(64, 'x')), aid(std::string(64, 'z')),
                     std::string(64, '.'), "Cl\xc3\xadnica/" + std::string(246, 't'),
                     timestamp{duration{std::numeric_limits<std::int64_t>::max()}}, before, "")));
  return out;
}

// -- one description per record type, so every test below runs for each -----------------------

template <class T>
struct codec;

template <>
struct codec<tenant> {
  static constexpr std::string_view name = "tenant";
  static constexpr std::uint8_t version = tenant_format_version;
  static result<tenant> decode(std::string_view b) { return decode_tenant(b); }
  static std::vector<tenant> samples() { return tenant_samples(); }
};

template <>
struct codec<fhir_endpoint> {
  static constexpr std::string_view name = "fhir_endpoint";
  static constexpr std::uint8_t version = fhir_endpoint_format_version;
  static result<fhir_endpoint> decode(std::string_view b) { return decode_fhir_endpoint(b); }
  static std::vector<fhir_endpoint> samples() { return endpoint_samples(); }
};

template <>
struct codec<visit_info> {
  static constexpr std::string_view name = "visit_info";
  static constexpr std::uint8_t version = visit_info_format_version;
  static result<visit_info> decode(std::string_view b) { return decode_visit_info(b); }
  static std::vector<visit_info> samples() { return visit_info_samples(); }
};

template <>
struct codec<visit_report> {
  static constexpr std::string_view name = "visit_report";
  static constexpr std::uint8_t version = visit_report_format_version;
  static result<visit_report> decode(std::string_view b) { return decode_visit_report(b); }
  static std::vector<visit_report> samples() { return report_samples(); }
};

std::vector<account> account_samples() {
  std::vector<account> out;
  out.push_back(must(make_account(aid("a"), "abc", "", false, timestamp{})));
  out.push_back(must(make_account(aid("op-1"), "ops@hospital.example",
                                  "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA", true, t0)));
  auto provider = must(make_account(aid("dr-7"), "e12345", "", false, t0 + 1h));
  must(link_ehr_user(provider, make_id<tenant_id>("acme"), euid("Practitioner/123")));
  must(link_ehr_user(provider, make_id<tenant_id>("other"), euid("Practitioner/9")));
  out.push_back(provider);
  auto disabled = must(make_account(aid(std::string(64, 'z')), std::string(64, 'x'), "h", false,
                                    timestamp{duration{std::numeric_limits<std::int64_t>::max()}}));
  disabled.status = account_status::disabled;
  out.push_back(disabled);
  return out;
}

std::vector<session> session_samples() {
  return {
    session{"d", aid("a"), "c", timestamp{}, timestamp{}},
    session{std::string(64, 'f'), aid("op-1"), std::string(64, '0'), t0, t0 + 12h},
    session{"0e5751c026e543b2", aid("dr-7"), "aa", t0 + 1min, t0 + 8h},
    session{"x", aid(std::string(64, 'z')), "y", t0,
            timestamp{duration{std::numeric_limits<std::int64_t>::max()}}},
  };
}

template <>
struct codec<account> {
  static constexpr std::string_view name = "account";
  static constexpr std::uint8_t version = account_format_version;
  static result<account> decode(std::string_view b) { return decode_account(b); }
  static std::vector<account> samples() { return account_samples(); }
};

template <>
struct codec<session> {
  static constexpr std::string_view name = "session";
  static constexpr std::uint8_t version = session_format_version;
  static result<session> decode(std::string_view b) { return decode_session(b); }
  static std::vector<session> samples() { return session_samples(); }
};

std::vector<api_token> api_token_samples() {
  return {
    must(
      make_api_token("tok-AAAAAAAAAAAA", "d", make_id<tenant_id>("t"), aid("a"), "x", timestamp{})),
    must(make_api_token("tok-Zz09_-Zz09_-", std::string(64, 'f'), make_id<tenant_id>("acme"),
                        aid("admin-1"), "nightly report export", t0)),
    must(make_api_token("tok-abcdefghijkl", "0e5751c026e543b2",
                        make_id<tenant_id>(std::string(64, 'q')), aid(std::string(64, 'z')),
                        std::string(100, 'L'), t0 + 8h)),
    must(make_api_token("tok-------------", "x", make_id<tenant_id>("acme"), aid("a"),
                        "caf\xc3\xa9 \xe2\x9c\x93 export", t0 - 24h)),
  };
}

template <>
struct codec<api_token> {
  static constexpr std::string_view name = "api_token";
  static constexpr std::uint8_t version = api_token_format_version;
  static result<api_token> decode(std::string_view b) { return decode_api_token(b); }
  static std::vector<api_token> samples() { return api_token_samples(); }
};

template <>
struct codec<audit_entry> {
  static constexpr std::string_view name = "audit_entry";
  static constexpr std::uint8_t version = audit_entry_format_version;
  static result<audit_entry> decode(std::string_view b) { return decode_audit_entry(b); }
  static std::vector<audit_entry> samples() { return audit_entry_samples(); }
};

/// The error of decoding `bytes` as a `T`; fails the test when it is accepted.
template <class T>
error decode_error(std::string_view bytes) {
  auto r = codec<T>::decode(bytes);
  EXPECT_FALSE(r.has_value()) << codec<T>::name << " accepted bad input";
  if (r) return error{errc::internal, "accepted"};
  EXPECT_EQ(r.err().code, errc::invalid_argument) << r.err().message;
  // Every message says which record it is about.
  std::string prefix{codec<T>::name};
  prefix.append(": ");
  EXPECT_EQ(r.err().message.rfind(prefix, 0), 0U) << r.err().message;
  return r.err();
}

bool mentions(const error& e, std::string_view text) {
  return e.message.find(text) != std::string::npos;
}

template <class T>
class record_codec : public ::testing::Test {};

using record_types = ::testing::Types<tenant, fhir_endpoint, visit_info, visit_report, audit_entry,
                                      account, session, api_token>;

class record_type_names {
public:
  template <class T>
  static std::string GetName(int) {
    return std::string{codec<T>::name};
  }
};

TYPED_TEST_SUITE(record_codec, record_types, record_type_names);

TYPED_TEST(record_codec, round_trips_realistic_values) {
  using T = TypeParam;
  const auto samples = codec<T>::samples();
  ASSERT_GE(samples.size(), 4U);
  std::vector<std::string> encodings;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const std::string bytes = encode_record(samples[i]);
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(static_cast<std::uint8_t>(bytes[0]), codec<T>::version);
    auto back = codec<T>::decode(bytes);
    ASSERT_TRUE(back.has_value()) << "sample " << i << ": " << back.err().message;
    EXPECT_TRUE(*back == samples[i]) << "sample " << i << " changed in the round trip";
    EXPECT_EQ(encode_record(*back), bytes) << "sample " << i;
    encodings.push_back(bytes);
  }
  // Distinct samples must not collapse onto one encoding.
  for (std::size_t i = 0; i < samples.size(); ++i)
    for (std::size_t j = i + 1; j < samples.size(); ++j)
      if (!(samples[i] == samples[j])) {
        EXPECT_NE(encodings[i], encodings[j]) << "samples " << i << " and " << j;
      }
}

TYPED_TEST(record_codec, rejects_truncation_at_every_length) {
  using T = TypeParam;
  for (const auto& sample : codec<T>::samples()) {
    const std::string bytes = encode_record(sample);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      const auto e = decode_error<T>(std::string_view{bytes}.substr(0, n));
      EXPECT_TRUE(mentions(e, n == 0 ? "empty input" : "truncated"))
        << "cut at " << n << " of " << bytes.size() << ": " << e.message;
    }
  }
}

TYPED_TEST(record_codec, rejects_unknown_versions) {
  using T = TypeParam;
  for (const auto& sample : codec<T>::samples()) {
    std::string bytes = encode_record(sample);
    for (int v : {0, 3, 0x81, 255}) {  // every record is at version 1 or 2
      bytes[0] = static_cast<char>(v);
      const auto e = decode_error<T>(bytes);
      EXPECT_TRUE(mentions(e, "unknown format version " + std::to_string(v))) << e.message;
    }
  }
}

TYPED_TEST(record_codec, rejects_trailing_bytes) {
  using T = TypeParam;
  for (const auto& sample : codec<T>::samples()) {
    const std::string bytes = encode_record(sample);
    for (std::string_view extra : {std::string_view{"\0", 1}, std::string_view{"\x01"},
                                   std::string_view{"trailing garbage"}}) {
      std::string longer = bytes;
      longer.append(extra);
      const auto e = decode_error<T>(longer);
      EXPECT_TRUE(mentions(e, "trailing bytes")) << e.message;
    }
  }
}

/// Random bytes, and samples with flipped bits or bytes inserted, removed or overwritten: the
/// decoder must not crash (the sanitizer build checks memory), must refuse with
/// `invalid_argument`, or accept a value whose encoding is exactly the input.
TYPED_TEST(record_codec, random_bytes_and_mutations_never_crash_and_stay_canonical) {
  using T = TypeParam;
  const std::uint64_t seed = 0x5eed0000 + codec<T>::name.size();
  std::mt19937_64 rng{seed};
  std::vector<std::string> corpus;
  for (const auto& s : codec<T>::samples()) corpus.push_back(encode_record(s));
  std::size_t accepted = 0;
  std::size_t accepted_mutants = 0;
  constexpr int cases = 50000;
  for (int i = 0; i < cases; ++i) {
    const bool mutant = i % 4 != 0;
    const auto bytes = testing::fuzz_input(rng, corpus, codec<T>::version, 64, mutant);
    auto r = codec<T>::decode(bytes);
    if (r) {
      ++accepted;
      if (mutant) ++accepted_mutants;
      ASSERT_EQ(encode_record(*r), bytes) << "seed " << seed << " case " << i;
    } else {
      ASSERT_EQ(r.err().code, errc::invalid_argument) << "seed " << seed << " case " << i;
    }
  }
  // The mutations must reach past the first checks often enough for the canonical assertion to
  // mean something.
  EXPECT_GT(accepted_mutants, static_cast<std::size_t>(cases / 50)) << "accepted " << accepted;
}

// -- exact layout and field checks -------------------------------------------------------------

TEST(record_codec_layout, api_token_refuses_bad_ids_and_labels) {
  auto good = api_token_samples()[1];
  for (const auto* id : {"tok-short", "tik-AAAAAAAAAAAA", "tok-AAAAAAAAAAA!", ""}) {
    auto bad = good;
    bad.id = id;
    EXPECT_TRUE(mentions(decode_error<api_token>(encode_record(bad)), "id:")) << id;
  }
  for (const auto& label : {std::string{}, std::string(101, 'x'), std::string{"a\nb"}}) {
    auto bad = good;
    bad.label = label;
    EXPECT_TRUE(mentions(decode_error<api_token>(encode_record(bad)), "label:")) << label;
  }
  auto no_digest = good;
  no_digest.token_digest.clear();
  EXPECT_TRUE(mentions(decode_error<api_token>(encode_record(no_digest)), "token_digest:"));
}

TEST(record_codec_layout, account_refuses_two_links_for_one_tenant_and_bad_logins) {
  auto a = account_samples()[2];
  a.ehr_links[1].tenant = a.ehr_links[0].tenant;  // what link_ehr_user never makes
  EXPECT_TRUE(mentions(decode_error<account>(encode_record(a)), "two links for tenant acme"));
  auto b = account_samples()[1];
  b.login = "Upper@Case";
  EXPECT_TRUE(mentions(decode_error<account>(encode_record(b)), "login:"));
}

/// A coding's bytes: three short strings.
std::string coding_bytes(const coding& c) {
  std::string out;
  for (const auto* s : {&c.system, &c.code, &c.display})
    out.append(1, static_cast<char>(s->size())).append(*s);
  return out;
}

TEST(record_codec_layout, tenant_bytes_are_as_documented) {
  auto sample = tenant_samples().front();
  sample.write_back.writes.encounters = false;
  sample.write_back.codes.connected = {"urn:x", "IN", ""};
  const std::string bytes = encode_record(sample);
  // version 2, id "t", display_name "T", region "a", active, 1 admin "a", approver "a", generic.
  std::string expected(
    "\x02\x01t\x01T\x01"
    "a\x00\x01\x01"
    "a\x01"
    "a\x00",
    14);
  // Then the write-back policy: audit events, no encounters, appointments; four codings.
  expected.append("\x01\x00\x01", 3);
  const audit_event_codes defaults;
  expected.append(coding_bytes(defaults.type))
    .append(coding_bytes({"urn:x", "IN", ""}))
    .append(coding_bytes(defaults.disconnected))
    .append(coding_bytes(defaults.device_test));
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(must(decode_tenant(bytes)), sample);
  // A non-canonical admins count (0x81 0x00 for 1) is refused.
  std::string overlong = bytes.substr(0, 8);
  overlong.append("\x81\x00", 2).append(bytes.substr(9));
  EXPECT_TRUE(mentions(decode_error<tenant>(overlong), "admins is not a canonical varint"));
}

TEST(record_codec_layout, a_version_1_tenant_still_loads_with_the_default_policy) {
  // As written before write-back policies: no policy bytes after the EHR kind.
  const std::string v1(
    "\x01\x01t\x01T\x01"
    "a\x00\x01\x01"
    "a\x01"
    "a\x00",
    14);
  const auto loaded = must(decode_tenant(v1));
  EXPECT_EQ(loaded.id.str(), "t");
  EXPECT_EQ(loaded.write_back, write_back_policy{});
  EXPECT_TRUE(mentions(decode_error<tenant>(v1 + std::string("\x01", 1)), "trailing bytes"));
}

TEST(record_codec_layout, a_stored_policy_with_a_bad_coding_is_refused) {
  auto sample = tenant_samples().front();
  sample.write_back.codes.type.system = "no scheme";  // as no domain rule would let through
  EXPECT_TRUE(
    mentions(decode_error<tenant>(encode_record(sample)), "audit_event_codes.type.system"))
    << decode_error<tenant>(encode_record(sample)).message;
}

TEST(record_codec_layout, visit_info_bytes_are_as_documented) {
  const visit_info info =
    must(make_visit_info(make_id<visit_id>("v"), make_id<tenant_id>("t"), make_id<endpoint_id>("e"),
                         make_id<fhir_reference>("Appointment/1"), std::nullopt, std::nullopt,
                         timestamp{duration{0x0102030405060708}}));
  // version, ids "v" "t" "e", appointment present, no encounter, no department, i64 LE.
  std::string expected{
    "\x01\x01v\x01t\x01"
    "e\x01\x0d"
    "Appointment/1"};
  expected.append("\x00\x00\x08\x07\x06\x05\x04\x03\x02\x01", 10);
  EXPECT_EQ(encode_record(info), expected);
}

TEST(record_codec_layout, audit_entry_bytes_are_as_documented) {
  const audit_entry entry =
    must(make_audit_entry(make_id<tenant_id>("t"), aid("a"), "x.y", "e",
                          timestamp{duration{0x0102030405060708}}, "{}", ""));
  // version, tenant "t", actor "a", action "x.y", target "e", i64 LE at, before "{}", after "".
  std::string expected{
    "\x01\x01t\x01"
    "a\x03x.y\x01"
    "e"};
  expected.append("\x08\x07\x06\x05\x04\x03\x02\x01", 8);
  expected.append("\x02{}\x00", 4);
  EXPECT_EQ(encode_record(entry), expected);
}

TEST(record_codec_fields, audit_entry_rules_are_enforced) {
  const audit_entry good = audit_entry_samples().at(1);
  audit_entry a = good;
  a.tenant = tenant_id{};
  EXPECT_TRUE(mentions(decode_error<audit_entry>(encode_record(a)), "tenant: tenant_id"));
  a = good;
  a.actor = account_id{};
  EXPECT_TRUE(mentions(decode_error<audit_entry>(encode_record(a)), "actor: account_id"));
  a = good;
  a.action = "Endpoint.Approve";
  EXPECT_TRUE(mentions(decode_error<audit_entry>(encode_record(a)), "action must be"));
  a = good;
  a.target = "ep-1\r\nforged";
  EXPECT_TRUE(mentions(decode_error<audit_entry>(encode_record(a)), "target contains"));
  a = good;
  a.at = timestamp{duration{-1}};
  EXPECT_TRUE(mentions(decode_error<audit_entry>(encode_record(a)), "at must not be before"));
  a = good;
  a.after = std::string(max_audit_snapshot_bytes + 1, 'x');
  EXPECT_TRUE(mentions(decode_error<audit_entry>(encode_record(a)), "after is longer"));
  // A snapshot length the input cannot hold is refused without reading past the end.
  std::string bytes = encode_record(audit_entry_samples().at(3));
  ASSERT_EQ(bytes.back(), '\0');  // no `after`
  bytes.pop_back();
  bytes.append("\xff\xff\xff\xff\x0f", 5);
  EXPECT_TRUE(mentions(decode_error<audit_entry>(bytes), "truncated input reading after"));
}

TEST(record_codec_fields, tenant_rules_are_enforced) {
  const tenant good = acme(ehr_kind::epic);
  tenant t = good;
  t.status = static_cast<tenant_status>(2);
  EXPECT_TRUE(mentions(decode_error<tenant>(encode_record(t)), "status has unknown value 2"));
  t = good;
  t.ehr = static_cast<ehr_kind>(3);
  EXPECT_TRUE(mentions(decode_error<tenant>(encode_record(t)), "ehr has unknown value 3"));
  t = good;
  t.admins.push_back(t.admins.front());
  EXPECT_TRUE(mentions(decode_error<tenant>(encode_record(t)), "twice"));
  t = good;
  t.admins.clear();
  EXPECT_TRUE(mentions(decode_error<tenant>(encode_record(t)), "admins"));
  t = good;
  t.region = "EU";
  EXPECT_TRUE(mentions(decode_error<tenant>(encode_record(t)), "region"));
  t = good;
  t.display_name = "Acme\nHealth";
  EXPECT_TRUE(mentions(decode_error<tenant>(encode_record(t)), "display_name"));
  t = good;
  t.approver = account_id{};
  EXPECT_TRUE(mentions(decode_error<tenant>(encode_record(t)), "approver: account_id"));
}

TEST(record_codec_fields, endpoint_rules_are_enforced) {
  const fhir_endpoint good = endpoint_samples().at(4);  // revision 1 approved, 2 in draft
  ASSERT_EQ(good.revisions.size(), 2U);
  fhir_endpoint e = good;
  e.revisions.clear();
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)), "must not be empty"));
  e = good;
  e.revisions[1].number = rev(3);
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)),
                       "revisions[1].number must be 2, not 3"));
  e = good;
  e.revisions[1].state = revision_state::approved;
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)), "more than one"));
  e = good;
  e.revisions[0].state = static_cast<revision_state>(7);
  EXPECT_TRUE(
    mentions(decode_error<fhir_endpoint>(encode_record(e)), "revisions[0].state has unknown"));
  e = good;
  e.revisions[1].settings.environment = static_cast<fhir_environment>(2);
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)), "revisions[1].environment"));
  e = good;
  e.revisions[1].settings.type = static_cast<client_type>(2);
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)), "revisions[1].client_type"));
  e = good;
  e.revisions[1].settings.base_url = "https://FHIR.example.org/r4/";
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)),
                       "revisions[1].base_url is not in normalized form"));
  e = good;
  e.revisions[1].settings.base_url = "ftp://fhir.example.org/r4";
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)), "revisions[1].base_url"));
  e = good;
  e.revisions[0].settings.client_id = "has space";
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)), "revisions[0].client_id"));
  e = good;
  e.revisions[0].validated_as = ehr_user_id{};
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)),
                       "revisions[0].validated_as: ehr_user_id"));
  e = good;
  e.tenant = tenant_id{};
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(encode_record(e)), "tenant: tenant_id"));
  // An optional's presence flag other than 0/1.
  std::string bytes = encode_record(good);
  ASSERT_EQ(bytes.back(), '\0');  // revision 2 has no decided_at
  bytes.back() = 2;
  EXPECT_TRUE(
    mentions(decode_error<fhir_endpoint>(bytes), "revisions[1].decided_at is not 0 or 1"));
  // A revision count the input cannot hold is refused before anything is allocated.
  fhir_endpoint one = good;
  one.revisions.resize(1);
  std::string huge = encode_record(one);
  const std::size_t count_at = 1 + 1 + good.id.str().size() + 1 + good.tenant.str().size();
  ASSERT_EQ(huge[count_at], '\x01');
  huge.replace(count_at, 1, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
  EXPECT_TRUE(mentions(decode_error<fhir_endpoint>(huge), "revisions count"));
}

TEST(record_codec_fields, visit_info_rules_are_enforced) {
  const visit_info good = visit_info_samples().front();
  visit_info v = good;
  v.appointment.reset();
  v.encounter.reset();
  EXPECT_TRUE(mentions(decode_error<visit_info>(encode_record(v)), "appointment or an encounter"));
  v = good;
  v.appointment = make_id<fhir_reference>("Encounter/1");
  EXPECT_TRUE(mentions(decode_error<visit_info>(encode_record(v)), "Appointment/"));
  v = good;
  v.endpoint = endpoint_id{};
  EXPECT_TRUE(mentions(decode_error<visit_info>(encode_record(v)), "endpoint: endpoint_id"));
  v = good;
  v.department = department_id{};
  EXPECT_TRUE(mentions(decode_error<visit_info>(encode_record(v)), "department: department_id"));
}

TEST(record_codec_fields, report_rules_are_enforced) {
  const auto samples = report_samples();
  const visit_report completed = samples.at(1);
  ASSERT_EQ(completed.status, report_status::completed);
  ASSERT_EQ(completed.lobby_waits.size(), 2U);
  EXPECT_FALSE(completed.lobby_waits[1].wait.has_value());  // the guest was never admitted
  visit_report r = completed;
  r.status = static_cast<report_status>(5);
  EXPECT_TRUE(mentions(decode_error<visit_report>(encode_record(r)), "status has unknown value"));
  r = completed;
  r.started_at.reset();
  EXPECT_TRUE(mentions(decode_error<visit_report>(encode_record(r)), "length must be 0"));
  r.length = duration::zero();
  EXPECT_TRUE(mentions(decode_error<visit_report>(encode_record(r)), "needs started_at"));
  r = completed;
  r.status = report_status::no_show;
  EXPECT_TRUE(mentions(decode_error<visit_report>(encode_record(r)), "not no_show"));
  r = completed;
  r.lobby_waits[1].participant = r.lobby_waits[0].participant;
  EXPECT_TRUE(mentions(decode_error<visit_report>(encode_record(r)), "twice"));
  r = completed;
  r.lobby_waits[0].participant = participant_id{};
  EXPECT_TRUE(mentions(decode_error<visit_report>(encode_record(r)),
                       "lobby_waits.participant: participant_id"));
}

TEST(record_codec_fields, report_samples_cover_every_status) {
  std::vector<bool> seen(5, false);
  for (const auto& r : report_samples()) seen.at(static_cast<std::size_t>(r.status)) = true;
  for (std::size_t s = 0; s < seen.size(); ++s)
    EXPECT_TRUE(seen[s]) << to_string(static_cast<report_status>(s));
}

}  // namespace
}  // namespace visitd::domain
