#pragma once

// A deliberately simple, blocking HTTPS/1.1 client for tests (OpenSSL only, no Beast): it
// trusts exactly one pinned certificate and checks the host name or IP against it.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace visitd::test {

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< Lower-case names; repeats joined by \n.
  std::string body;
};

struct tls_client_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string pinned_certificate_pem;  ///< The only trust anchor.
  int max_tls_version = 0;             ///< E.g. TLS1_2_VERSION; 0 = library default.
};

/// One TLS connection, usable for several keep-alive requests.
class tls_connection {
public:
  /// Connects and handshakes; throws std::runtime_error with OpenSSL's reason on failure.
  explicit tls_connection(const tls_client_options& options);
  ~tls_connection();
  tls_connection(const tls_connection&) = delete;
  tls_connection& operator=(const tls_connection&) = delete;

  /// Sends one request and reads one response (Content-Length framed). Throws on I/O errors.
  http_reply request(const std::string& method, const std::string& path,
                     const std::string& body = {},
                     const std::vector<std::pair<std::string, std::string>>& headers = {});

  /// Sends raw bytes and reads one response (for malformed-request tests).
  http_reply raw(const std::string& bytes);

  /// Sends raw bytes without reading anything (slow-client tests). False when the write failed,
  /// i.e. the server has closed the connection.
  bool send(const std::string& bytes);

  /// True when the server closes the connection within `timeout` (anything it sent first is
  /// kept for the next read); false when the connection is still open after `timeout`.
  bool closed_within(std::chrono::milliseconds timeout);

  /// The negotiated protocol, e.g. "TLSv1.3".
  [[nodiscard]] std::string protocol() const;

private:
  http_reply read_reply();
  void write_all(const std::string& bytes);

  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Convenience: one request on a fresh connection.
http_reply https_get(const tls_client_options& options, const std::string& path);

/// Sends `bytes` over plain TCP and returns everything the server sent until it closed.
std::string plain_tcp_exchange(const std::string& host, std::uint16_t port,
                               const std::string& bytes);

/// Reads a whole file; throws if it cannot.
std::string read_file(const std::string& path);

}  // namespace visitd::test
