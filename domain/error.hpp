#pragma once

// Errors without surprises: every module returns `result<T>` (a value or an `error`), and exactly
// one function in http/ maps an `errc` to an HTTP status. No exception crosses a module boundary.

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace visitd::domain {

/// What went wrong, in terms a caller can act on. Stable: the names appear in JSON error bodies.
enum class errc {
  invalid_argument,  ///< The input is malformed or violates a rule; the message names the field.
  not_found,         ///< No such entity (or not visible to the caller).
  conflict,          ///< The entity's current state does not allow the operation.
  unauthenticated,   ///< The caller is not signed in.
  forbidden,         ///< The caller is signed in but may not do this.
  unavailable,       ///< A dependency (store, actor, remote EHR) cannot serve right now.
  timeout,           ///< A dependency did not answer in time.
  storage_failure,   ///< The durable store failed; nothing was acknowledged.
  internal,          ///< A bug: an invariant did not hold.
  rate_limited,      ///< Too many attempts from this caller or at this account; retry later.
};

/// The last enumerator (codes are dense from 0 to it).
inline constexpr errc last_errc = errc::rate_limited;

/// The snake_case name of `code`, as used in JSON error bodies and logs.
[[nodiscard]] std::string_view to_string(errc code) noexcept;

/// An error code plus a human-readable message saying what was wrong.
struct error {
  errc code;
  std::string message;

  friend bool operator==(const error&, const error&) = default;
};

[[nodiscard]] inline error make_error(errc code, std::string message) {
  return error{code, std::move(message)};
}

/// A value of type `T` or an `error`. Marked [[nodiscard]] so a failure cannot be dropped silently.
template <class T>
class [[nodiscard]] result {
public:
  result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  result(error err) : storage_(std::in_place_index<1>, std::move(err)) {}

  [[nodiscard]] bool has_value() const noexcept { return storage_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// Precondition: has_value().
  [[nodiscard]] T& value() & { return std::get<0>(storage_); }
  [[nodiscard]] const T& value() const& { return std::get<0>(storage_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(storage_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  /// Precondition: !has_value().
  [[nodiscard]] const error& err() const& { return std::get<1>(storage_); }
  [[nodiscard]] error&& err() && { return std::get<1>(std::move(storage_)); }

private:
  std::variant<T, error> storage_;
};

/// The result of an operation that yields no value.
template <>
class [[nodiscard]] result<void> {
public:
  result() = default;
  result(error err) : err_(std::move(err)), ok_(false) {}

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }

  /// Precondition: !has_value().
  [[nodiscard]] const error& err() const& { return err_; }
  [[nodiscard]] error&& err() && { return std::move(err_); }

private:
  error err_{errc::internal, {}};
  bool ok_ = true;
};

}  // namespace visitd::domain
