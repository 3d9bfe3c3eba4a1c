#include "storage/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

namespace visitd::storage {

using domain::errc;
using domain::make_error;
namespace fs = std::filesystem;

domain::result<void> write_file_atomically(const fs::path& path, std::string_view content,
                                           mode_t mode) {
  auto temp = path;
  temp += ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return make_error(errc::storage_failure, "cannot create " + temp.string());
  std::size_t written = 0;
  while (written < content.size()) {
    auto n = ::write(fd, content.data() + written, content.size() - written);
    if (n <= 0) {
      ::close(fd);
      return make_error(errc::storage_failure, "cannot write " + temp.string());
    }
    written += static_cast<std::size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return make_error(errc::storage_failure, "cannot fsync " + temp.string());
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) return make_error(errc::storage_failure, "cannot rename to " + path.string());
  auto dir = path.parent_path().empty() ? fs::path{"."} : path.parent_path();
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return make_error(errc::storage_failure, "cannot open " + dir.string());
  bool dir_synced = ::fsync(dir_fd) == 0;
  ::close(dir_fd);
  if (!dir_synced) return make_error(errc::storage_failure, "cannot fsync " + dir.string());
  return {};
}

domain::result<std::string> read_private_file(const fs::path& path, std::size_t max_bytes) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return make_error(errc::storage_failure, "cannot stat " + path.string());
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    return make_error(errc::storage_failure,
                      path.string() + " is readable by group or others; chmod 600 it");
  if (static_cast<std::size_t>(info.st_size) > max_bytes)
    return make_error(errc::storage_failure,
                      path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
  std::ifstream in{path, std::ios::binary};
  std::string content{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  if (in.bad() || !in.is_open())
    return make_error(errc::storage_failure, "cannot read " + path.string());
  return content;
}

}  // namespace visitd::storage
