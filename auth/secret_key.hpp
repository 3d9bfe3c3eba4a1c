#pragma once

// The box's own secret keys (e.g. the one sealing join links), each kept in a file of the data
// directory: made on first start, read on every later one. The file must be the key's exact
// size and readable by its owner only; anything else is refused rather than trusted.

#include "domain/error.hpp"

#include <array>
#include <cstddef>
#include <filesystem>

namespace visitd::auth {

/// 32 secret bytes, wiped from memory when destroyed.
class secret_key {
public:
  static constexpr std::size_t size = 32;

  /// A fresh random key.
  [[nodiscard]] static secret_key generate();
  /// A key from exactly `size` bytes.
  [[nodiscard]] static secret_key from_bytes(const std::array<unsigned char, size>& bytes);

  secret_key(const secret_key&);
  secret_key& operator=(const secret_key&);
  ~secret_key();

  [[nodiscard]] const unsigned char* data() const noexcept { return bytes_.data(); }

private:
  secret_key() = default;
  std::array<unsigned char, size> bytes_{};
};

/// Reads the key at `path`, or creates it (mode 0600, written and synced before use) when the
/// file does not exist. `storage_failure` saying what is wrong for a file of the wrong size, one
/// that group or others may read, or an I/O error.
[[nodiscard]] domain::result<secret_key> load_or_create_key(const std::filesystem::path& path);

}  // namespace visitd::auth
