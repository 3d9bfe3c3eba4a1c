#pragma once

// A tenant's write-back policy: which FHIR writes its EHR gets, and the codes its AuditEvents
// carry. EHRs differ in what an app may write (some take AuditEvents but no Encounter updates)
// and in the audit codes their reports expect, so both are the tenant's to choose; each write
// also needs the EHR's support (fhir/capability_statement.hpp) and the box's allowance (the
// operator's `write-back-writes`).

#include "domain/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace visitd::domain {

/// The writes an endpoint performs (or a tenant wants, or a box allows).
struct write_back_targets {
  bool audit_events = true;
  bool encounters = true;
  bool appointments = true;
  friend bool operator==(const write_back_targets&, const write_back_targets&) = default;
};

/// The writes both `a` and `b` allow.
[[nodiscard]] write_back_targets both(const write_back_targets& a,
                                      const write_back_targets& b) noexcept;

inline constexpr std::size_t max_coding_system_bytes = 256;
inline constexpr std::size_t max_coding_code_bytes = 64;
inline constexpr std::size_t max_coding_display_bytes = 200;

/// A FHIR Coding (system, code, display).
struct coding {
  std::string system;   ///< An absolute URI (`scheme:…`), 1..256 bytes, no whitespace.
  std::string code;     ///< FHIR `code`: 1..64 bytes, no control characters, no leading,
                        ///< trailing or doubled whitespace.
  std::string display;  ///< Optional: 0..200 bytes, no control characters.
  friend bool operator==(const coding&, const coding&) = default;
};

/// The codes an AuditEvent carries. The defaults are DICOM's (DCM 110114 User Authentication
/// with 110122 Login / 110123 Logout) and visitd's own for device tests.
struct audit_event_codes {
  coding type{"http://dicom.nema.org/resources/ontology/DCM", "110114", "User Authentication"};
  coding connected{"http://dicom.nema.org/resources/ontology/DCM", "110122", "Login"};
  coding disconnected{"http://dicom.nema.org/resources/ontology/DCM", "110123", "Logout"};
  coding device_test{"urn:visitd:audit-subtype", "device-test", "Device test"};
  friend bool operator==(const audit_event_codes&, const audit_event_codes&) = default;
};

/// What a tenant has written back. The default writes everything with the default codes.
struct write_back_policy {
  write_back_targets writes{};
  audit_event_codes codes{};
  friend bool operator==(const write_back_policy&, const write_back_policy&) = default;
};

/// OK when `c` is a valid coding; `invalid_argument` naming `field` (`field.system`, …) and
/// the rule broken otherwise.
[[nodiscard]] result<void> validate_coding(const coding& c, std::string_view field);

/// OK when every coding of `policy` is valid; the error names the coding
/// (`audit_event_codes.connected.code`, …).
[[nodiscard]] result<void> validate_write_back_policy(const write_back_policy& policy);

}  // namespace visitd::domain
