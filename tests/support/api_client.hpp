#pragma once

// Small helpers for integration tests of the portal API: the first operator made with the CLI,
// JSON requests, and a signed-in caller (its session cookie and CSRF token).

#include "child_process.hpp"
#include "running_server.hpp"
#include "tls_client.hpp"

#include <filesystem>
#include <regex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace visitd::test {

using header_list = std::vector<std::pair<std::string, std::string>>;

/// `visitd admin create-operator LOGIN` on `data_dir`, the password piped to its stdin. Throws
/// with the command's output if it fails.
inline void create_operator(const std::string& binary, const std::filesystem::path& data_dir,
                            const std::string& login, const std::string& password) {
  auto made = run_to_completion("/bin/sh", {"-c", "printf '%s\\n' '" + password + "' | '" + binary +
                                                    "' admin create-operator '" + login +
                                                    "' --data-dir '" + data_dir.string() + "'"});
  if (made.exit_code != 0) throw std::runtime_error("create-operator failed: " + made.output);
}

inline http_reply post_json(tls_connection& c, const std::string& path, const std::string& body,
                            header_list headers = {}) {
  headers.emplace_back("Content-Type", "application/json");
  return c.request("POST", path, body, headers);
}

/// "name=value" of the Set-Cookie line for `name` (the client joins repeated headers).
inline std::string cookie_pair(const std::string& set_cookie, const std::string& name) {
  std::smatch m;
  std::regex re{name + "=([A-Za-z0-9_-]*)"};
  if (!std::regex_search(set_cookie, m, re)) return {};
  return name + "=" + m[1].str();
}

/// A running server whose first operator (`login`, `password`) was made with the CLI before it
/// started (with `server_args` such as limits), and a connection to it. Its data dir is
/// `data_dir()`, to restart a server on the same store.
struct started_box {
  started_box(const std::string& binary, const std::string& login, const std::string& password,
              std::vector<std::string> server_args = {})
    : server{binary, with_operator(binary, dir.path() / "data", login, password),
             std::move(server_args)},
      connection{(server.wait_ready(), server.client())} {}

  [[nodiscard]] std::filesystem::path data_dir() const { return dir.path() / "data"; }

  temp_dir dir;
  running_server server;
  tls_connection connection;

private:
  static std::filesystem::path with_operator(const std::string& binary,
                                             const std::filesystem::path& data,
                                             const std::string& login,
                                             const std::string& password) {
    create_operator(binary, data, login, password);
    return data;
  }
};

/// A signed-in caller: send `headers()` with each request (cookie, and CSRF for changes).
struct signed_in_caller {
  std::string cookie;
  std::string csrf;
  [[nodiscard]] header_list headers() const { return {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}; }
};

/// Signs in; throws with the reply if it fails.
inline signed_in_caller sign_in(tls_connection& c, const std::string& login,
                                const std::string& password) {
  auto in = post_json(c, "/api/v1/session",
                      R"({"login":")" + login + R"(","password":")" + password + R"("})");
  if (in.status != 201)
    throw std::runtime_error("sign-in failed: " + std::to_string(in.status) + " " + in.body);
  std::smatch m;
  if (!std::regex_search(in.body, m, std::regex{R"re("csrf_token":"([^"]+)")re"}))
    throw std::runtime_error("no csrf_token in " + in.body);
  return {cookie_pair(in.headers["set-cookie"], "__Host-session"), m[1].str()};
}

/// The value of string field `field` in a flat JSON reply (tests only: no escapes in values).
inline std::string json_string_field(const std::string& body, const std::string& field) {
  std::smatch m;
  if (!std::regex_search(body, m, std::regex{"\"" + field + "\":\"([^\"]*)\""})) return {};
  return m[1].str();
}

}  // namespace visitd::test
