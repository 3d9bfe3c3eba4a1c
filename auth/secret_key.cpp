#include "auth/secret_key.hpp"

#include "auth/sodium.hpp"
#include "storage/durable_file.hpp"

#include <sodium.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace visitd::auth {

using domain::errc;
using domain::make_error;
namespace fs = std::filesystem;

secret_key secret_key::generate() {
  ensure_sodium();
  secret_key key;
  randombytes_buf(key.bytes_.data(), key.bytes_.size());
  return key;
}

secret_key secret_key::from_bytes(const std::array<unsigned char, size>& bytes) {
  secret_key key;
  key.bytes_ = bytes;
  return key;
}

secret_key::secret_key(const secret_key& other) : bytes_(other.bytes_) {}

secret_key& secret_key::operator=(const secret_key& other) {
  bytes_ = other.bytes_;
  return *this;
}

secret_key::~secret_key() {
  sodium_memzero(bytes_.data(), bytes_.size());
}

domain::result<secret_key> load_or_create_key(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (ec) return make_error(errc::storage_failure, "cannot check " + path.string());
    auto key = secret_key::generate();
    std::string_view bytes{reinterpret_cast<const char*>(key.data()), secret_key::size};
    if (auto ok = storage::write_file_atomically(path, bytes, 0600); !ok)
      return std::move(ok).err();
    return key;
  }
  // A key file is tiny; the cap only keeps a wrong file from being read whole.
  auto content = storage::read_private_file(path, 4096);
  if (!content) return std::move(content).err();
  if (content->size() != secret_key::size) {
    sodium_memzero(content->data(), content->size());
    return make_error(errc::storage_failure, path.string() + " is not a " +
                                               std::to_string(secret_key::size) + "-byte key");
  }
  std::array<unsigned char, secret_key::size> bytes{};
  std::copy(content->begin(), content->end(), bytes.begin());
  sodium_memzero(content->data(), content->size());
  auto key = secret_key::from_bytes(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

}  // namespace visitd::auth
