#pragma once

// Internal to storage/: reading every record under a key prefix of one column, decoding each
// with the domain's codec. Shared by recovery, the catalog and the accounts, so a corrupt record
// is reported the same way everywhere: "<what> record <key> is corrupt: <why>".

#include "domain/error.hpp"
#include "storage/store.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace visitd::storage {

/// Scans the entries of `c` under `prefix`, passing each decoded record to `sink`; the first
/// record `decode` refuses stops the scan with `storage_failure` naming its key.
template <class Decode, class Sink>
domain::result<void> scan_records(const store& source, column c, std::string_view prefix,
                                  std::string_view what, Decode decode, Sink sink) {
  std::optional<domain::error> failure;
  auto scanned = source.scan(c, prefix, [&](std::string_view key, std::string_view value) {
    auto record = decode(value);
    if (!record) {
      failure = domain::make_error(
        domain::errc::storage_failure,
        std::string{what} + " record " + std::string{key} + " is corrupt: " + record.err().message);
      return false;
    }
    sink(std::move(*record));
    return true;
  });
  if (!scanned) return scanned;
  if (failure) return std::move(*failure);
  return {};
}

}  // namespace visitd::storage
