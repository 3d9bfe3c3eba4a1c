#include "fhir/https_client.hpp"

// The one Beast translation unit of the fhir module (Beast + SSL costs tens of seconds to
// compile): everything that touches Asio, Beast or OpenSSL for outbound HTTP lives here.
//
// Shape (after Beast's client examples): `client_impl` owns the policy, the trust contexts and
// the idle-connection pool behind one mutex; each send() makes an `exchange`, one request's
// state machine (do_x / on_x), which runs on the strand of the connection it uses and keeps
// itself and the client alive with shared_ptrs captured by its handlers.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace visitd::fhir {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using domain::errc;
using domain::error;
using domain::make_error;
using domain::result;

using strand_type = asio::strand<asio::io_context::executor_type>;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using clock_type = std::chrono::steady_clock;

// -- text helpers --------------------------------------------------------------

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// RFC 9110 token characters: what a method and a field name may contain.
bool is_token(std::string_view s) noexcept {
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           extra.find(c) != std::string_view::npos;
  });
}

// A field value must not be able to end the field (header injection).
bool is_safe_value(std::string_view s) noexcept {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  std::size_t n = 0;
  for (auto p : parts) n += p.size();
  out.reserve(n);
  for (auto p : parts) out.append(p);
  return out;
}

// -- where a request goes ------------------------------------------------------

struct endpoint {
  bool tls = true;
  bool is_ip = false;      // verify with set1_ip_asc and send no SNI
  std::string host;        // lower-case name or IP literal (IPv6 without brackets)
  std::string port;        // decimal
  std::string authority;   // host:port as shown in messages ("[::1]:443")
  std::string host_field;  // the Host header: port only when not the scheme's default
  std::string target;      // path + query
  std::string trust;       // name of the extra anchors ("" = system store only)
  std::string pool_key;    // scheme, authority and trust name
};

result<endpoint> parse_endpoint(const std::string& url, const std::string& trust,
                                const https_client_options& options) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return make_error(errc::invalid_argument,
                      concat({"url is not an absolute URL: ", parsed.error().message()}));
  }
  const boost::urls::url_view& u = *parsed;
  endpoint ep;
  std::string_view default_port = "443";
  if (u.scheme_id() == boost::urls::scheme::https) {
    ep.tls = true;
  } else if (u.scheme_id() == boost::urls::scheme::http) {
    if (!options.allow_plain_http) {
      return make_error(errc::invalid_argument,
                        "url: plain http:// is refused (use https://), got " + url);
    }
    ep.tls = false;
    default_port = "80";
  } else {
    return make_error(errc::invalid_argument, "url scheme must be https, got " + url);
  }
  if (u.has_userinfo()) {
    return make_error(errc::invalid_argument, "url must not carry user info (credentials)");
  }

  std::string bracketed;
  switch (u.host_type()) {
    case boost::urls::host_type::name: {
      ep.host = u.host_name();
      std::transform(ep.host.begin(), ep.host.end(), ep.host.begin(), ascii_lower);
      const bool ok = !ep.host.empty() && std::all_of(ep.host.begin(), ep.host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
      });
      if (!ok) return make_error(errc::invalid_argument, "url host is not a valid name: " + url);
      bracketed = ep.host;
      break;
    }
    case boost::urls::host_type::ipv4:
      ep.is_ip = true;
      ep.host = u.host_ipv4_address().to_string();
      bracketed = ep.host;
      break;
    case boost::urls::host_type::ipv6:
      ep.is_ip = true;
      ep.host = u.host_ipv6_address().to_string();
      bracketed = concat({"[", ep.host, "]"});
      break;
    default: return make_error(errc::invalid_argument, "url has no usable host: " + url);
  }

  ep.port = std::string(default_port);
  bool explicit_port = false;
  if (u.has_port() && !u.port().empty()) {
    const std::string_view text = u.port();
    unsigned long value = 0;
    const bool digits = text.size() <= 5 && std::all_of(text.begin(), text.end(), [](char c) {
                          return c >= '0' && c <= '9';
                        });
    if (digits) value = std::stoul(std::string(text));
    if (!digits || value == 0 || value > 65535) {
      return make_error(errc::invalid_argument, "url port is out of range: " + url);
    }
    ep.port = std::to_string(value);
    explicit_port = ep.port != default_port;
  }
  ep.authority = concat({bracketed, ":", ep.port});
  ep.host_field = explicit_port ? ep.authority : bracketed;

  ep.target = std::string(u.encoded_path());
  if (ep.target.empty()) ep.target = "/";
  if (u.has_query()) {
    ep.target.push_back('?');
    ep.target.append(u.encoded_query());
  }
  ep.trust = trust;
  ep.pool_key = concat({ep.tls ? "https " : "http ", ep.authority, " ", trust});
  return ep;
}

// Methods that may be re-sent after a connection dies mid-exchange: RFC 9110 §9.2.2 allows
// retrying idempotent requests; we limit it to the safe ones a FHIR client actually sends.
bool is_resendable(http::verb method) noexcept {
  return method == http::verb::get || method == http::verb::head;
}

// Errors meaning "the peer closed or reset the connection", the signature of a pooled connection
// that the server had already given up on.
bool is_peer_closed(const error_code& ec) noexcept {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

// -- trust -----------------------------------------------------------------------

struct x509_deleter {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

struct bio_deleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

// Every CERTIFICATE block of `pem` (other blocks, such as keys, are skipped by OpenSSL).
std::vector<x509_ptr> parse_certificates(std::string_view pem) {
  std::vector<x509_ptr> certs;
  if (pem.empty() || pem.size() > static_cast<std::size_t>(INT_MAX)) return certs;
  std::unique_ptr<BIO, bio_deleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the loop ends with a "no start line" error on the queue; not a failure
  return certs;
}

// One client context per trust name: verification on, TLS 1.2 or later, the system store when
// enabled, plus `anchors`. Throws (std::bad_alloc, boost::system::system_error) only when
// OpenSSL cannot allocate; callers catch.
std::shared_ptr<ssl::context> make_context(bool system_store,
                                           const std::vector<x509_ptr>& anchors) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw std::runtime_error("cannot require TLS 1.2");
  }
  ctx->set_verify_mode(ssl::verify_peer);
  if (system_store) {
    error_code ignored;  // a machine without a CA bundle only has fewer anchors
    ctx->set_default_verify_paths(ignored);
  }
  if (!anchors.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    for (const auto& cert : anchors) {
      if (X509_STORE_add_cert(store, cert.get()) != 1) {
        throw std::runtime_error("cannot add a certificate to the trust store");
      }
    }
    // A registered certificate is an anchor even when it is an intermediate: that is what the
    // caller asked for by registering it (an EHR behind a private intermediate CA).
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  }
  return ctx;
}

// -- one connection ----------------------------------------------------------------

// A TCP (or TLS over TCP) connection bound to one strand for its whole life; every exchange that
// uses it runs on that strand. While pooled it has no operation pending and only the pool
// (under the client's mutex) touches it.
struct connection {
  connection(strand_type exec, std::shared_ptr<ssl::context> tls_context, std::string trust_name)
    : strand(std::move(exec)), context(std::move(tls_context)), trust(std::move(trust_name)) {
    if (context) {
      tls.emplace(strand, *context);
    } else {
      plain.emplace(strand);
    }
  }

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  void close() noexcept { lowest().close(); }

  // Whether an idle connection can take a request: nothing may be readable on it. EOF means the
  // peer closed it; bytes mean a TLS close_notify or junk. Either way it is not reusable. A
  // close racing with this check is caught later by the retry rule in `exchange`.
  bool looks_alive() {
    auto& socket = lowest().socket();
    if (!socket.is_open()) return false;
    char byte = 0;
    const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  strand_type strand;
  std::shared_ptr<ssl::context> context;  // kept alive with the SSL object made from it
  std::string trust;
  std::optional<tls_stream> tls;
  std::optional<beast::tcp_stream> plain;
  clock_type::time_point idle_since{};
};

class exchange;

// -- the client ----------------------------------------------------------------------

class client_impl final : public https_client, public std::enable_shared_from_this<client_impl> {
public:
  client_impl(asio::io_context& io, https_client_options options)
    : io_(io), options_(std::move(options)), sweep_(io) {}

  void send(outbound_request request, completion done) override;
  result<void> add_trust(const std::string& name, std::string_view pem) override;
  void shutdown() override;

  [[nodiscard]] const https_client_options& options() const noexcept { return options_; }

  /// Called by an exchange (on its strand) when it has finished.
  void forget(std::uint64_t id);
  /// Returns a connection whose response was read completely; it is pooled if there is room.
  void give_back(const std::string& key, std::shared_ptr<connection> conn);

private:
  void post_error(completion done, error err) noexcept;
  result<std::shared_ptr<exchange>> prepare(outbound_request& request, completion& done);
  result<std::shared_ptr<ssl::context>> context_locked(const std::string& trust);
  std::shared_ptr<connection> take_idle_locked(const std::string& key,
                                               std::vector<std::shared_ptr<connection>>& stale);
  void arm_sweep_locked();
  void on_sweep();

  asio::io_context& io_;
  const https_client_options options_;

  std::mutex mutex_;  // guards everything below
  bool shut_down_ = false;
  std::shared_ptr<ssl::context> system_context_;  // trust "": made on first use
  std::unordered_map<std::string, std::shared_ptr<ssl::context>> trust_;
  std::unordered_map<std::string, std::deque<std::shared_ptr<connection>>> idle_;  // newest last
  std::unordered_map<std::uint64_t, std::weak_ptr<exchange>> active_;
  std::uint64_t next_id_ = 0;
  asio::steady_timer sweep_;  // closes expired idle connections; armed while any are pooled
  bool sweep_armed_ = false;
};

// -- one request ---------------------------------------------------------------------

class exchange : public std::enable_shared_from_this<exchange> {
public:
  exchange(std::shared_ptr<client_impl> client, std::uint64_t id, endpoint ep,
           std::shared_ptr<ssl::context> context, http::request<http::string_body> request,
           strand_type strand, std::shared_ptr<connection> pooled)
    : client_(std::move(client)),
      id_(id),
      ep_(std::move(ep)),
      context_(std::move(context)),
      request_(std::move(request)),
      strand_(std::move(strand)),
      resolver_(strand_),
      deadline_(strand_),
      conn_(std::move(pooled)),
      resendable_(is_resendable(request_.method())) {}

  /// Takes over the completion; cannot throw, so `done` is never lost half-way.
  void hand_over(https_client::completion& done) noexcept { done_ = std::move(done); }

  /// Posts the start to the exchange's strand.
  void launch() {
    asio::post(strand_, [self = shared_from_this()] { self->guarded([&] { self->start(); }); });
  }

  /// Posts a failure (shutdown) to the exchange's strand; a no-op once it has finished.
  void abort(error err) {
    asio::post(strand_, [self = shared_from_this(), err = std::move(err)]() mutable {
      self->fail(std::move(err));
    });
  }

private:
  enum class phase { connect, handshake, response };

  // Runs a step; anything thrown (allocation, SSL_new failing) fails the request instead of
  // escaping from io_context::run(). An exception from the caller's completion lands here too,
  // after `finished_` is set, and is dropped: it must not take an io thread down.
  template <class F>
  void guarded(F&& step) noexcept {
    try {
      step();
    } catch (const std::exception& e) {
      fail_noexcept(errc::internal, e.what());
    } catch (...) {
      fail_noexcept(errc::internal, "unknown exception");
    }
  }

  template <class F>
  void with_stream(F&& f) {
    if (conn_->tls) {
      f(*conn_->tls);
    } else {
      f(*conn_->plain);
    }
  }

  void start() {
    if (finished_) return;  // shut down before it began
    if (conn_) {
      reused_ = true;
      do_write();
    } else {
      do_resolve();
    }
  }

  // -- deadline: one budget for connect+handshake, one for the exchange ----------
  void arm_deadline(std::chrono::milliseconds budget) {
    budget_ = budget;
    const auto generation = ++deadline_generation_;
    deadline_.expires_after(budget);
    deadline_.async_wait([self = shared_from_this(), generation](const error_code& ec) {
      if (ec || generation != self->deadline_generation_ || self->finished_) return;
      self->guarded([&] { self->on_deadline(); });
    });
  }

  void disarm_deadline() {
    ++deadline_generation_;  // a handler already queued with success is now stale
    deadline_.cancel();
  }

  void on_deadline() {
    const std::string ms = std::to_string(budget_.count());
    switch (phase_) {
      case phase::connect:
        fail(make_error(errc::timeout, concat({"connect timeout: ", ep_.authority,
                                               " not reached within ", ms, " ms"})));
        break;
      case phase::handshake:
        fail(make_error(errc::timeout, concat({"handshake timeout: TLS handshake with ",
                                               ep_.authority, " not done within ", ms, " ms"})));
        break;
      case phase::response:
        fail(make_error(errc::timeout, concat({"response timeout: ", ep_.authority,
                                               " did not answer within ", ms, " ms"})));
        break;
    }
  }

  // -- connect ----------------------------------------------------------------------
  void do_resolve() {
    phase_ = phase::connect;
    arm_deadline(client_->options().connect_timeout);
    auto flags = tcp::resolver::numeric_service;
    if (ep_.is_ip) flags |= tcp::resolver::numeric_host;
    resolver_.async_resolve(
      ep_.host, ep_.port, flags,
      [self = shared_from_this()](const error_code& ec, const tcp::resolver::results_type& found) {
        self->guarded([&] { self->on_resolve(ec, found); });
      });
  }

  void on_resolve(const error_code& ec, const tcp::resolver::results_type& found) {
    if (finished_) return;
    if (ec) {
      fail(
        make_error(errc::unavailable, concat({"cannot resolve ", ep_.host, ": ", ec.message()})));
      return;
    }
    conn_ = std::make_shared<connection>(strand_, context_, ep_.trust);
    conn_->lowest().async_connect(
      found, [self = shared_from_this()](const error_code& connect_ec, const tcp::endpoint&) {
        self->guarded([&] { self->on_connect(connect_ec); });
      });
  }

  void on_connect(const error_code& ec) {
    if (finished_) return;
    if (ec) {
      fail(make_error(errc::unavailable,
                      concat({"cannot connect to ", ep_.authority, ": ", ec.message()})));
      return;
    }
    if (conn_->tls) {
      do_handshake();
    } else {
      disarm_deadline();
      do_write();
    }
  }

  void do_handshake() {
    phase_ = phase::handshake;
    SSL* native = conn_->tls->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(native);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    bool ok = false;
    if (ep_.is_ip) {
      // No SNI for addresses (RFC 6066 §3); the certificate must name the IP in its SAN.
      ok = X509_VERIFY_PARAM_set1_ip_asc(param, ep_.host.c_str()) == 1;
    } else {
      ok = SSL_set_tlsext_host_name(native, ep_.host.c_str()) == 1 &&
           SSL_set1_host(native, ep_.host.c_str()) == 1;
    }
    if (!ok) {
      fail(make_error(errc::internal, "cannot set up host verification for " + ep_.authority));
      return;
    }
    conn_->tls->set_verify_mode(ssl::verify_peer);
    conn_->tls->async_handshake(ssl::stream_base::client,
                                [self = shared_from_this()](const error_code& ec) {
                                  self->guarded([&] { self->on_handshake(ec); });
                                });
  }

  void on_handshake(const error_code& ec) {
    if (finished_) return;
    if (ec) {
      std::string why = ec.message();
      const long verify = SSL_get_verify_result(conn_->tls->native_handle());
      if (verify != X509_V_OK) {
        why = "certificate verify failed: ";
        why.append(X509_verify_cert_error_string(verify));
      }
      fail(make_error(errc::unavailable,
                      concat({"TLS handshake with ", ep_.authority, " failed: ", why})));
      return;
    }
    disarm_deadline();
    do_write();
  }

  // -- exchange ---------------------------------------------------------------------
  void do_write() {
    phase_ = phase::response;
    arm_deadline(client_->options().request_timeout);
    with_stream([&](auto& stream) {
      http::async_write(stream, request_,
                        [self = shared_from_this()](const error_code& ec, std::size_t written) {
                          self->guarded([&] { self->on_write(ec, written); });
                        });
    });
  }

  void on_write(const error_code& ec, std::size_t written) {
    if (finished_) return;
    if (ec) {
      // Nothing written: the server cannot have seen the request, so any method may go again.
      if (written == 0 && may_retry(true)) {
        retry();
        return;
      }
      fail(make_error(errc::unavailable,
                      concat({"cannot send the request to ", ep_.authority, ": ", ec.message()})));
      return;
    }
    const std::size_t limit = client_->options().max_response_bytes;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limit, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(limit);
    if (request_.method() == http::verb::head) parser_->skip(true);
    buffer_.clear();
    with_stream([&](auto& stream) {
      http::async_read_header(
        stream, buffer_, *parser_,
        [self = shared_from_this()](const error_code& read_ec, std::size_t consumed) {
          self->guarded([&] { self->on_header(read_ec, consumed); });
        });
    });
  }

  void on_header(const error_code& ec, std::size_t consumed) {
    if (finished_) return;
    if (ec) {
      // body_limit here: a Content-Length beyond the cap, refused before reading the body.
      if (ec == http::error::header_limit || ec == http::error::body_limit) {
        fail_too_large();
        return;
      }
      if (is_peer_closed(ec) && consumed == 0 && buffer_.size() == 0) {
        if (may_retry(false)) {
          retry();
          return;
        }
        std::string message =
          concat({"connection to ", ep_.authority, " closed before a response"});
        if (reused_ && !resendable_) {
          message.append("; not re-sent because ");
          message.append(request_.method_string());
          message.append(" may have been processed");
        }
        fail(make_error(errc::unavailable, std::move(message)));
        return;
      }
      fail(make_error(errc::unavailable, concat({"reading the response from ", ep_.authority,
                                                 " failed: ", ec.message()})));
      return;
    }
    // The cap covers header plus body: whatever the header used is gone from the body's share.
    // Beast checks a Content-Length against body_limit only while parsing the header (where the
    // whole cap applied), so a declared length is checked here; chunked and read-to-EOF bodies
    // are counted against the new body_limit as they arrive.
    const std::size_t limit = client_->options().max_response_bytes;
    const std::size_t body_share = limit - std::min(consumed, limit);
    if (const auto declared = parser_->content_length(); declared && *declared > body_share) {
      fail_too_large();
      return;
    }
    parser_->body_limit(body_share);
    if (parser_->is_done()) {
      on_complete();
      return;
    }
    with_stream([&](auto& stream) {
      http::async_read(stream, buffer_, *parser_,
                       [self = shared_from_this()](const error_code& read_ec, std::size_t) {
                         self->guarded([&] { self->on_body(read_ec); });
                       });
    });
  }

  void on_body(const error_code& ec) {
    if (finished_) return;
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow) {
      fail_too_large();
      return;
    }
    if (ec) {
      fail(make_error(errc::unavailable, concat({"reading the response from ", ep_.authority,
                                                 " failed: ", ec.message()})));
      return;
    }
    on_complete();
  }

  void on_complete() {
    disarm_deadline();
    // Reusable only when the message says so and nothing unread follows it (a stray byte would
    // be taken as the start of the next response).
    const bool reusable = parser_->keep_alive() && buffer_.size() == 0;
    auto message = parser_->release();
    parser_.reset();
    outbound_response response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    response.body = std::move(message.body());
    if (reusable) {
      client_->give_back(ep_.pool_key, std::move(conn_));
    } else {
      conn_->close();
    }
    conn_.reset();
    finish(std::move(response));
  }

  // -- retry and failure ---------------------------------------------------------------
  // A pooled connection may have been closed by the server between our liveness check and the
  // write. Going again on a fresh connection is safe when the server cannot have seen the
  // request (nothing written) or when the method is safe to repeat; never for a written POST.
  [[nodiscard]] bool may_retry(bool nothing_written) const noexcept {
    return reused_ && !retried_ && (nothing_written || resendable_);
  }

  // Called from a completion handler: no other operation is pending on the stream, so the
  // connection can be destroyed here.
  void retry() {
    retried_ = true;
    reused_ = false;
    disarm_deadline();
    conn_->close();
    conn_.reset();
    do_resolve();
  }

  void fail_too_large() {
    fail(make_error(errc::unavailable,
                    concat({"response from ", ep_.authority, " exceeds ",
                            std::to_string(client_->options().max_response_bytes), " bytes"})));
  }

  void fail(error err) {
    if (finished_) return;
    disarm_deadline();
    resolver_.cancel();
    if (conn_) {
      // Never pooled: its state is unknown. Closed, not destroyed: an operation may still be
      // pending on the stream, and it must outlive that operation (its handler holds `self`).
      conn_->close();
    }
    finish(std::move(err));
  }

  void fail_noexcept(errc code, std::string_view what) noexcept {
    try {
      fail(make_error(code, concat({"https client: ", what})));
    } catch (...) {  // out of memory while failing: nothing sensible is left to do
    }
  }

  void finish(result<outbound_response> outcome) {
    finished_ = true;
    client_->forget(id_);
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(outcome));
  }

  std::shared_ptr<client_impl> client_;
  std::uint64_t id_;
  endpoint ep_;
  std::shared_ptr<ssl::context> context_;  // null for plain http
  http::request<http::string_body> request_;
  https_client::completion done_;
  strand_type strand_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_;
  std::shared_ptr<connection> conn_;
  std::optional<http::response_parser<http::string_body>> parser_;
  beast::flat_buffer buffer_;
  std::chrono::milliseconds budget_{0};
  std::uint64_t deadline_generation_ = 0;
  phase phase_ = phase::connect;
  bool resendable_;
  bool reused_ = false;
  bool retried_ = false;
  bool finished_ = false;
};

// -- client_impl ---------------------------------------------------------------------

void client_impl::post_error(completion done, error err) noexcept {
  try {
    asio::post(io_, [done = std::move(done), err = std::move(err)]() mutable {
      try {
        done(std::move(err));
      } catch (...) {  // same as for completions from an exchange (see `guarded`)
      }
    });
  } catch (...) {  // out of memory: the completion cannot even be queued
  }
}

result<std::shared_ptr<ssl::context>> client_impl::context_locked(const std::string& trust) {
  if (trust.empty()) {
    if (!system_context_) system_context_ = make_context(options_.use_system_store, {});
    return system_context_;
  }
  auto it = trust_.find(trust);
  if (it == trust_.end()) {
    return make_error(errc::invalid_argument, concat({"unknown trust name \"", trust, "\""}));
  }
  return it->second;
}

std::shared_ptr<connection> client_impl::take_idle_locked(
  const std::string& key, std::vector<std::shared_ptr<connection>>& stale) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  std::shared_ptr<connection> found;
  const auto now = clock_type::now();
  auto& queue = it->second;
  while (!queue.empty() && !found) {
    auto conn = std::move(queue.back());  // newest first: the most likely to be alive
    queue.pop_back();
    if (now - conn->idle_since < options_.idle_keep && conn->looks_alive()) {
      found = std::move(conn);
    } else {
      stale.push_back(std::move(conn));
    }
  }
  if (queue.empty()) idle_.erase(it);
  return found;
}

void client_impl::send(outbound_request request, completion done) {
  if (!done) done = [](const result<outbound_response>&) {};  // fire and forget
  std::shared_ptr<exchange> op;
  try {
    auto prepared = prepare(request, done);
    if (!prepared) {
      post_error(std::move(done), std::move(prepared).err());
      return;
    }
    op = std::move(*prepared);
  } catch (const std::exception& e) {
    // prepare() hands `done` over only in its last, non-throwing step: it is still ours here.
    post_error(std::move(done), make_error(errc::internal, concat({"https client: ", e.what()})));
    return;
  }
  op->launch();
}

result<std::shared_ptr<exchange>> client_impl::prepare(outbound_request& request,
                                                       completion& done) {
  auto ep = parse_endpoint(request.url, request.trust, options_);
  if (!ep) return std::move(ep).err();
  if (!is_token(request.method)) {
    return make_error(errc::invalid_argument, "method is not an HTTP token");
  }
  http::request<http::string_body> req;
  req.version(11);
  req.method_string(request.method);
  req.target(ep->target);
  req.set(http::field::host, ep->host_field);
  if (is_safe_value(options_.user_agent)) req.set(http::field::user_agent, options_.user_agent);
  bool user_agent_replaced = false;
  for (const auto& [name, value] : request.headers) {
    if (!is_token(name) || !is_safe_value(value)) {
      return make_error(errc::invalid_argument,
                        concat({"header \"", is_token(name) ? std::string_view(name) : "?",
                                "\" has a malformed name or value"}));
    }
    if (iequals(name, "host") || iequals(name, "content-length") ||
        iequals(name, "transfer-encoding") || iequals(name, "connection")) {
      return make_error(errc::invalid_argument,
                        concat({"header \"", name, "\" is set by the client"}));
    }
    if (iequals(name, "user-agent") && !user_agent_replaced) {
      req.erase(http::field::user_agent);
      user_agent_replaced = true;
    }
    req.insert(name, value);
  }
  req.body() = std::move(request.body);
  req.prepare_payload();
  if (options_.max_idle_per_host == 0) req.keep_alive(false);

  std::vector<std::shared_ptr<connection>> stale;  // closed after the lock is released
  std::lock_guard lock(mutex_);
  if (shut_down_) return make_error(errc::unavailable, "https client shut down");
  std::shared_ptr<ssl::context> context;
  if (ep->tls || !request.trust.empty()) {
    auto found = context_locked(request.trust);
    if (!found) return std::move(found).err();
    if (ep->tls) context = std::move(*found);
  }
  const auto id = ++next_id_;
  auto slot = active_.try_emplace(id).first;  // allocate before anything is handed over
  try {
    auto pooled = take_idle_locked(ep->pool_key, stale);
    // A pooled connection brings its strand: every operation on its stream must run there.
    strand_type strand = pooled ? pooled->strand : asio::make_strand(io_);
    auto op = std::make_shared<exchange>(shared_from_this(), id, std::move(*ep), std::move(context),
                                         std::move(req), std::move(strand), std::move(pooled));
    op->hand_over(done);
    slot->second = op;  // registered before launch, so shutdown() can reach it
    return op;
  } catch (...) {
    active_.erase(slot);
    throw;
  }
}

result<void> client_impl::add_trust(const std::string& name, std::string_view pem) {
  if (name.empty()) return make_error(errc::invalid_argument, "trust name must not be empty");
  try {
    const auto anchors = parse_certificates(pem);
    if (anchors.empty()) {
      return make_error(errc::invalid_argument,
                        concat({"trust \"", name, "\": the PEM holds no certificate"}));
    }
    auto context = make_context(options_.use_system_store, anchors);
    std::vector<std::shared_ptr<connection>> dropped;  // verified with the old anchors
    {
      std::lock_guard lock(mutex_);
      trust_[name] = std::move(context);
      for (auto it = idle_.begin(); it != idle_.end();) {
        auto& queue = it->second;
        for (auto c = queue.begin(); c != queue.end();) {
          if ((*c)->trust == name) {
            dropped.push_back(std::move(*c));
            c = queue.erase(c);
          } else {
            ++c;
          }
        }
        it = queue.empty() ? idle_.erase(it) : std::next(it);
      }
    }
    return {};
  } catch (const std::exception& e) {
    return make_error(errc::internal, concat({"trust \"", name, "\": ", e.what()}));
  }
}

void client_impl::shutdown() {
  std::vector<std::shared_ptr<exchange>> running;
  decltype(idle_) idle;  // closed when this goes out of scope, after the lock
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return;
    shut_down_ = true;
    idle.swap(idle_);
    for (auto& [id, weak] : active_) {
      if (auto op = weak.lock()) running.push_back(std::move(op));
    }
    sweep_.cancel();
    sweep_armed_ = false;
  }
  for (auto& op : running) {
    try {
      op->abort(make_error(errc::unavailable, "https client shut down"));
    } catch (...) {  // posting failed (out of memory): the request still ends on its deadline
    }
  }
}

void client_impl::forget(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  active_.erase(id);
}

void client_impl::give_back(const std::string& key, std::shared_ptr<connection> conn) {
  std::shared_ptr<connection> evicted;  // closed after the lock is released
  std::lock_guard lock(mutex_);
  // Anchors replaced while the request ran: the connection was verified with the old ones.
  const auto current = conn->trust.empty() ? system_context_ : [&] {
    auto it = trust_.find(conn->trust);
    return it == trust_.end() ? nullptr : it->second;
  }();
  if (shut_down_ || options_.max_idle_per_host == 0 || (conn->tls && current != conn->context)) {
    conn->close();
    return;
  }
  auto& queue = idle_[key];
  if (queue.size() >= options_.max_idle_per_host) {
    evicted = std::move(queue.front());  // keep the newest
    queue.pop_front();
  }
  conn->idle_since = clock_type::now();
  queue.push_back(std::move(conn));
  arm_sweep_locked();
}

void client_impl::arm_sweep_locked() {
  if (sweep_armed_ || idle_.empty()) return;
  auto oldest = clock_type::time_point::max();
  for (const auto& [key, queue] : idle_) {
    for (const auto& conn : queue) oldest = std::min(oldest, conn->idle_since);
  }
  sweep_armed_ = true;
  sweep_.expires_at(oldest + options_.idle_keep);
  // Weak: a pooled idle socket must not keep the client alive once every handle is gone.
  sweep_.async_wait([weak = weak_from_this()](const error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_sweep();
  });
}

void client_impl::on_sweep() {
  std::vector<std::shared_ptr<connection>> expired;
  std::lock_guard lock(mutex_);
  sweep_armed_ = false;
  if (shut_down_) return;
  const auto now = clock_type::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& queue = it->second;
    while (!queue.empty() && now - queue.front()->idle_since >= options_.idle_keep) {
      expired.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    it = queue.empty() ? idle_.erase(it) : std::next(it);
  }
  arm_sweep_locked();
}

}  // namespace

std::string_view outbound_response::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (iequals(field, name)) return value;
  }
  return {};
}

std::shared_ptr<https_client> make_https_client(boost::asio::io_context& io,
                                                https_client_options options) {
  return std::make_shared<client_impl>(io, std::move(options));
}

}  // namespace visitd::fhir
