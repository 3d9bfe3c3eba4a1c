#pragma once

// Outbound HTTPS to EHRs (SMART discovery, token and FHIR endpoints): an asynchronous client on
// the caller's io_context. Verification is not optional: every TLS connection checks the
// certificate chain and the host name (or IP address) against the URL, so an EHR with a private
// CA is reached by registering that CA with add_trust, never by turning checks off.
//
// The header is Beast/Asio/OpenSSL-free on purpose: the implementation is one expensive
// translation unit, and users of the module only see this interface.

#include "domain/error.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace visitd::fhir {

/// One HTTP request to send. Host, Content-Length and User-Agent are set by the client.
struct outbound_request {
  /// An HTTP method token ("GET", "POST", ...). Only GET and HEAD are ever re-sent automatically.
  std::string method = "GET";
  /// An absolute https:// URL (http:// only with https_client_options::allow_plain_http). User
  /// info ("user:pass@") is refused: credentials go in headers. The fragment is not sent.
  std::string url;
  /// Extra header fields, sent in order (repeated names allowed). A "User-Agent" here replaces
  /// the configured one; Host, Content-Length, Transfer-Encoding and Connection are reserved
  /// (invalid_argument), as is any name or value that could split the header (CR, LF, NUL).
  std::vector<std::pair<std::string, std::string>> headers;
  /// The body, sent with a Content-Length.
  std::string body;
  /// Name of extra trust anchors registered with https_client::add_trust, used in addition to
  /// the system store (when enabled). "" = the system store only.
  std::string trust;
};

/// The response as received: any status, including 3xx (redirects are never followed) and 4xx/5xx.
struct outbound_response {
  int status = 0;
  /// Header fields in the order received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The value of the first field named `name` (ASCII case-insensitive), or "" when absent.
  /// The view points into `headers`.
  [[nodiscard]] std::string_view header(std::string_view name) const;
};

/// Limits and policy, fixed when the client is made.
struct https_client_options {
  /// Budget for resolve + TCP connect + TLS handshake of a new connection.
  std::chrono::milliseconds connect_timeout{5000};
  /// Budget for writing the request and reading the whole response, once connected.
  std::chrono::milliseconds request_timeout{15000};
  /// Cap on a response's header plus (decoded) body. Beyond it the request fails with
  /// `unavailable` and the connection is dropped: an EHR answer this big is a fault, not data.
  std::size_t max_response_bytes = std::size_t{1} << 20U;
  /// Idle keep-alive connections kept per (scheme, host, port, trust); 0 disables reuse.
  std::size_t max_idle_per_host = 4;
  /// An idle pooled connection is closed after this long (a timer sweeps the pool; 0 = never
  /// reused).
  std::chrono::seconds idle_keep{30};
  /// Trust OpenSSL's default verify paths (the system CA store).
  bool use_system_store = true;
  /// Accept http:// URLs (tests and local sidecars only; there is no TLS to verify).
  bool allow_plain_http = false;
  std::string user_agent = "visitd";
};

/// An asynchronous HTTPS client with a per-host connection pool.
///
/// Threads: every member function may be called from any thread, and the io_context may be run
/// by several threads. Lifetime: requests in flight keep the client's state alive, so the handle
/// may be dropped at any time; call shutdown() first when the io_context is about to stop, so
/// that pending completions run and pooled sockets close. While connections sit in the pool a
/// sweep timer is pending on the io_context (io_context::run() does not return for up to
/// idle_keep unless shutdown() is called).
class https_client {
public:
  virtual ~https_client() = default;

  /// Called exactly once per send() with the response or an error. Must not throw: an exception
  /// from it is caught and dropped so that it cannot stop an io thread.
  using completion = std::function<void(domain::result<outbound_response>)>;

  /// Sends `request` and calls `done`, exactly once, on a thread running the io_context (never
  /// inline from send(), even for errors found at once). Errors:
  /// - invalid_argument: bad URL or scheme, unknown trust name, malformed method or header;
  /// - timeout: a budget ran out; the message names the phase (connect, handshake, response)
  ///   and host:port;
  /// - unavailable: DNS failure, connection refused or reset, TLS failure (with OpenSSL's
  ///   verify reason), a response larger than max_response_bytes, or the client shut down.
  /// A pooled connection found closed by the peer is replaced once, transparently, only when
  /// the request had not been written yet or is a GET/HEAD: a POST whose bytes reached the wire
  /// is never re-sent (it fails with `unavailable`, and may have been processed).
  virtual void send(outbound_request request, completion done) = 0;

  /// Registers or replaces the extra trust anchors `name` (PEM, one or more certificates),
  /// used by requests whose `trust` is `name`. Replacing closes the idle connections that were
  /// verified with the old anchors; requests in flight finish with what they started with.
  /// Every registered certificate is an anchor, intermediates included (partial chains are
  /// accepted for these contexts), so an EHR's private intermediate CA can be pinned alone.
  /// invalid_argument when `name` is empty or the PEM holds no certificate.
  [[nodiscard]] virtual domain::result<void> add_trust(const std::string& name,
                                                       std::string_view pem) = 0;

  /// Closes pooled connections and fails queued and in-flight requests with `unavailable`;
  /// later sends fail the same way (completion posted, not inline). Idempotent. Completions
  /// still run on the io_context, so keep it running until they have.
  virtual void shutdown() = 0;
};

/// A client whose I/O runs on `io`, which must outlive every request (and the client's
/// pending completions). Never fails: problems surface per request.
[[nodiscard]] std::shared_ptr<https_client> make_https_client(boost::asio::io_context& io,
                                                              https_client_options options = {});

}  // namespace visitd::fhir
