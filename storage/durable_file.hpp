#pragma once

// Small files the box keeps beside its store (TLS key and certificate, secret keys), written so
// that a crash leaves either the old file or the whole new one, never a torn one.

#include "domain/error.hpp"

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace visitd::storage {

/// Writes `content` to `path` through a temporary file created with `mode`: write, fsync,
/// rename, then fsync of the directory so the rename itself survives a power loss.
/// `storage_failure` naming the file on any I/O error.
[[nodiscard]] domain::result<void> write_file_atomically(const std::filesystem::path& path,
                                                         std::string_view content, mode_t mode);

/// The content of a secret file the box wrote (a key): refused with `storage_failure` naming the
/// file when group or others may access it ("chmod 600 it"), it is larger than `max_bytes`, or
/// it cannot be read. Anything looser is refused rather than trusted.
[[nodiscard]] domain::result<std::string> read_private_file(const std::filesystem::path& path,
                                                            std::size_t max_bytes);

}  // namespace visitd::storage
