#pragma once

// The stored form of the records the store keeps besides events: compact, versioned binary with
// the same primitives as `event_codec.hpp` (see `binary.hpp`): string = varint byte length +
// bytes; optional = u8 0/1 + value; enum and bool = u8; timestamp and duration = i64
// microseconds, little-endian; list = varint count + elements. Fields appear in declaration
// order. Each record has its own format version (the first byte), so each can evolve alone.
//
//   tenant (version 2; version 1, without the write-back policy, is still read and gets the
//   default policy):
//     u8 version | id | display_name | region | u8 status | varint n, n x admin id | approver |
//     u8 ehr | bool audit_events | bool encounters | bool appointments |
//     4 x coding (type, connected, disconnected, device_test), where coding =
//       system | code | display
//   fhir_endpoint (version 1):
//     u8 version | id | tenant | varint n, n x revision, where revision =
//       varint number | base_url | u8 environment | client_id | u8 client type | u8 state |
//       created_by | i64 created_at | opt validated_by | opt validated_as | opt validated_at |
//       opt decided_by | opt decided_at
//   visit_info (version 1):
//     u8 version | id | tenant | endpoint | opt appointment | opt encounter | opt department |
//     i64 scheduled_start
//   visit_report (version 1):
//     u8 version | u8 status | opt started_at | i64 length | varint max_attendees |
//     varint n, n x (participant | i64 entered_at | opt i64 wait)
//   audit_entry (version 1):
//     u8 version | tenant | actor | action | target | i64 at | before | after
//   account (version 1):
//     u8 version | id | login | password_hash | bool is_operator | u8 status |
//     varint n, n x (tenant | ehr user) | i64 created_at
//   session (version 1):
//     u8 version | token_digest | account | csrf_digest | i64 created_at | i64 expires_at
//   api_token (version 1):
//     u8 version | id | token_digest | tenant | owner | label | i64 created_at
//
// Decoding validates everything it reads with the domain's own rules, so a decoded record is as
// valid as one the domain builds: ids are parsed; a tenant goes through `make_tenant`; endpoint
// settings through `make_endpoint_settings` (http is accepted, as with `allow_http`, and the URL
// must already be in normalized form); a visit header through `make_visit_info`; an audit entry
// through `make_audit_entry`. On top of the
// field rules it checks the invariants the structs document (listed per function below). Every
// accepted input re-encodes to exactly the same bytes.

#include "domain/account.hpp"
#include "domain/audit.hpp"
#include "domain/error.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/report.hpp"
#include "domain/tenant.hpp"
#include "domain/visit.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace visitd::domain {

/// The format versions `encode_record` writes (the first byte of each encoding).
inline constexpr std::uint8_t tenant_format_version = 2;
inline constexpr std::uint8_t fhir_endpoint_format_version = 1;
inline constexpr std::uint8_t visit_info_format_version = 1;
inline constexpr std::uint8_t visit_report_format_version = 1;
inline constexpr std::uint8_t audit_entry_format_version = 1;
inline constexpr std::uint8_t account_format_version = 1;
inline constexpr std::uint8_t session_format_version = 1;
inline constexpr std::uint8_t api_token_format_version = 1;

/// Encodes an account. Precondition: valid as `make_account` and `link_ehr_user` keep it.
[[nodiscard]] std::string encode_record(const account& a);

/// Encodes a session.
[[nodiscard]] std::string encode_record(const session& s);
/// Encodes an API token record.
[[nodiscard]] std::string encode_record(const api_token& t);

/// Encodes a tenant. Precondition: it is valid (as `make_tenant` and the tenant transitions
/// keep it); otherwise the bytes are written but `decode_tenant` refuses them.
[[nodiscard]] std::string encode_record(const tenant& t);

/// Encodes an endpoint with all its revisions. Precondition: as produced by the endpoint
/// transitions (see `decode_fhir_endpoint`); otherwise `decode_fhir_endpoint` refuses the bytes.
[[nodiscard]] std::string encode_record(const fhir_endpoint& endpoint);

/// Encodes a visit header. Precondition: valid as `make_visit_info` returns it.
[[nodiscard]] std::string encode_record(const visit_info& info);

/// Encodes a visit report. Precondition: as `make_report` computes it.
[[nodiscard]] std::string encode_record(const visit_report& report);

/// Encodes an audit entry. Precondition: valid as `make_audit_entry` returns it.
[[nodiscard]] std::string encode_record(const audit_entry& entry);

// Every decoder reads exactly `bytes`, never reads out of bounds, never throws on arbitrary input
// (short of memory exhaustion) and returns `invalid_argument`, with a message starting with the
// record's name, for an unknown version, truncated input, trailing bytes, a non-canonical varint,
// an out-of-range enum or bool, or a value the domain's rules refuse.

/// Decodes a tenant; the fields are checked by `make_tenant` (at least one admin, no duplicate
/// admin, display name and region rules).
[[nodiscard]] result<tenant> decode_tenant(std::string_view bytes);

/// Decodes an endpoint. Besides the field rules it requires what the transitions guarantee: at
/// least one revision, numbered 1, 2, 3, ... in order, and at most one approved revision.
[[nodiscard]] result<fhir_endpoint> decode_fhir_endpoint(std::string_view bytes);

/// Decodes a visit header; the fields are checked by `make_visit_info`.
[[nodiscard]] result<visit_info> decode_visit_info(std::string_view bytes);

/// Decodes a visit report. Besides the field rules it requires what `make_report` guarantees: a
/// zero length when there is no start, `completed` exactly for an ended visit with a start, and
/// at most one lobby wait per participant.
[[nodiscard]] result<visit_report> decode_visit_report(std::string_view bytes);

/// Decodes an audit entry; the fields are checked by `make_audit_entry`.
[[nodiscard]] result<audit_entry> decode_audit_entry(std::string_view bytes);

/// Decodes an account; the fields are checked by `make_account`, and at most one EHR link per
/// tenant.
[[nodiscard]] result<account> decode_account(std::string_view bytes);

/// Decodes a session: non-empty digests, `expires_at` not before `created_at`.
[[nodiscard]] result<session> decode_session(std::string_view bytes);

/// Decodes an API token record, with `make_api_token`'s checks.
[[nodiscard]] result<api_token> decode_api_token(std::string_view bytes);

}  // namespace visitd::domain
