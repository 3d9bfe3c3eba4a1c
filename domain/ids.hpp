#pragma once

// Strong id types. Each id is text that was validated once, at the edge, by `parse`; afterwards a
// `tenant_id` can never be passed where a `visit_id` is expected. Ids are opaque and carry no
// personal data: people are identified only by EHR user ids or by join ids.

#include "domain/error.hpp"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace visitd::domain {

namespace detail {

/// Checks `text` against the id rules: length 1..`max_length`, characters `[A-Za-z0-9._-]`, plus
/// `/` between non-empty segments when `allow_slash`. The error message names `field`.
[[nodiscard]] result<void> validate_id(std::string_view text, std::string_view field,
                                       std::size_t max_length, bool allow_slash);

}  // namespace detail

/// A validated, URL-safe identifier. `Tag` supplies `name` (used in error messages),
/// `max_length` and `allow_slash`. A default-constructed id is empty: a placeholder that
/// `parse` would never produce, useful only as a member before assignment.
template <class Tag>
class basic_id {
public:
  basic_id() = default;

  /// Returns the id for `text`, or `invalid_argument` naming the id kind and the rule broken.
  [[nodiscard]] static result<basic_id> parse(std::string_view text) {
    if (auto ok = detail::validate_id(text, Tag::name, Tag::max_length, Tag::allow_slash); !ok)
      return std::move(ok).err();
    return basic_id{std::string{text}};
  }

  /// The id's text, exactly as parsed.
  [[nodiscard]] const std::string& str() const noexcept { return value_; }

  /// True only for a default-constructed id.
  [[nodiscard]] bool empty() const noexcept { return value_.empty(); }

  friend auto operator<=>(const basic_id&, const basic_id&) = default;
  friend bool operator==(const basic_id&, const basic_id&) = default;

private:
  explicit basic_id(std::string value) : value_(std::move(value)) {}

  std::string value_;
};

/// Rules shared by the opaque ids: 1..64 characters of `[A-Za-z0-9._-]`.
struct opaque_id_rules {
  static constexpr std::size_t max_length = 64;
  static constexpr bool allow_slash = false;
};

struct tenant_id_tag : opaque_id_rules {
  static constexpr std::string_view name = "tenant_id";
};
struct endpoint_id_tag : opaque_id_rules {
  static constexpr std::string_view name = "endpoint_id";
};
struct visit_id_tag : opaque_id_rules {
  static constexpr std::string_view name = "visit_id";
};
struct account_id_tag : opaque_id_rules {
  static constexpr std::string_view name = "account_id";
};
struct participant_id_tag : opaque_id_rules {
  static constexpr std::string_view name = "participant_id";
};
struct device_id_tag : opaque_id_rules {
  static constexpr std::string_view name = "device_id";
};
struct join_id_tag : opaque_id_rules {
  static constexpr std::string_view name = "join_id";
};
struct department_id_tag : opaque_id_rules {
  static constexpr std::string_view name = "department_id";
};

/// Rules for FHIR references such as `Practitioner/123`: up to 256 characters, `/` allowed
/// between non-empty segments.
struct fhir_reference_rules {
  static constexpr std::size_t max_length = 256;
  static constexpr bool allow_slash = true;
};

struct ehr_user_id_tag : fhir_reference_rules {
  static constexpr std::string_view name = "ehr_user_id";
};
struct fhir_ref_tag : fhir_reference_rules {
  static constexpr std::string_view name = "fhir_reference";
};

/// The organization that owns endpoints and visits.
using tenant_id = basic_id<tenant_id_tag>;
/// A registered FHIR endpoint of a tenant (its revisions share this id).
using endpoint_id = basic_id<endpoint_id_tag>;
/// One virtual visit.
using visit_id = basic_id<visit_id_tag>;
/// A portal account (tenant admin, approver, operator).
using account_id = basic_id<account_id_tag>;
/// A participant within one visit.
using participant_id = basic_id<participant_id_tag>;
/// One browser/device of a participant; a participant may use several.
using device_id = basic_id<device_id_tag>;
/// The opaque id of a signed join link (patients and guests without an EHR identity).
using join_id = basic_id<join_id_tag>;
/// An EHR department id (opaque).
using department_id = basic_id<department_id_tag>;
/// The EHR user as a FHIR reference (`fhirUser`), e.g. `Practitioner/123`. The only personal
/// identifier visitd stores.
using ehr_user_id = basic_id<ehr_user_id_tag>;
/// A FHIR resource reference such as `Appointment/abc` or `Encounter/42`.
using fhir_reference = basic_id<fhir_ref_tag>;

/// The number of an endpoint revision: 1 for the first, then consecutive.
class revision_number {
public:
  constexpr revision_number() = default;

  /// Returns the revision number `value`, or `invalid_argument` when it is 0.
  [[nodiscard]] static result<revision_number> make(std::uint32_t value);

  /// The revision after this one.
  [[nodiscard]] constexpr revision_number next() const noexcept {
    return revision_number{value_ + 1};
  }

  [[nodiscard]] constexpr std::uint32_t value() const noexcept { return value_; }

  friend constexpr auto operator<=>(revision_number, revision_number) = default;

private:
  constexpr explicit revision_number(std::uint32_t value) : value_(value) {}

  std::uint32_t value_ = 1;
};

}  // namespace visitd::domain

template <class Tag>
struct std::hash<visitd::domain::basic_id<Tag>> {
  std::size_t operator()(const visitd::domain::basic_id<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
