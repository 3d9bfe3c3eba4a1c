#include "http/server.hpp"

#include "http/errors.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace visitd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using domain::errc;
using domain::make_error;

namespace {

/// What every session shares with the server: configuration, routes and the in-flight count
/// that graceful shutdown waits on.
/// A token bucket per client address: `rate` tokens a second up to `burst`. Shared by the io
/// threads (a mutex; one short critical section per request). Addresses idle long enough to
/// have a full bucket are forgotten, so the table stays as small as the active clients.
class request_rate_limiter {
public:
  request_rate_limiter(std::size_t rate, std::size_t burst)
    : rate_(static_cast<double>(rate)), burst_(static_cast<double>(std::max(burst, rate))) {}

  /// Takes a token for `address`; false when it has none left.
  bool allow(const std::string& address) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock{mutex_};
    if (++calls_ % 4096 == 0) forget_idle(now);
    auto [it, fresh] = buckets_.try_emplace(address, bucket{burst_, now});
    auto& b = it->second;
    if (!fresh) {
      b.tokens = std::min(burst_, b.tokens + rate_ * seconds(now - b.updated));
      b.updated = now;
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

private:
  struct bucket {
    double tokens;
    std::chrono::steady_clock::time_point updated;
  };
  static double seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
  }
  void forget_idle(std::chrono::steady_clock::time_point now) {
    std::erase_if(buckets_, [&](const auto& entry) {
      return entry.second.tokens + rate_ * seconds(now - entry.second.updated) >= burst_;
    });
  }

  double rate_;
  double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
  std::uint64_t calls_ = 0;
};

struct shared_state {
  shared_state(const router& r, const server_options& o)
    : routes(r),
      options(o),
      rate(o.request_limits.requests_per_second, o.request_limits.request_burst) {}

  const router& routes;
  server_options options;
  ssl::context tls{ssl::context::tls_server};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
  request_rate_limiter rate;

  // Open WebSockets, so a stop can close them properly: each listener then hears of its close
  // (a participant's leave is written, a live view's subscription ends) before the actors stop.
  std::mutex sockets_mutex;
  std::vector<std::weak_ptr<socket_channel>> sockets;
  std::atomic<std::size_t> open_sockets{0};

  void add_socket(std::weak_ptr<socket_channel> channel) {
    std::lock_guard lock{sockets_mutex};
    std::erase_if(sockets, [](const auto& w) { return w.expired(); });
    sockets.push_back(std::move(channel));
  }
};

/// Counts one open connection for as long as it lives (the sessions hold one each).
class connection_slot {
public:
  explicit connection_slot(shared_state& state) : state_(&state) { state_->connections++; }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
  connection_slot(connection_slot&& other) noexcept
    : state_(std::exchange(other.state_, nullptr)) {}
  connection_slot& operator=(connection_slot&&) = delete;
  ~connection_slot() {
    if (state_ != nullptr) state_->connections--;
  }

private:
  shared_state* state_;
};

// -- failure reporting ----------------------------------------------------------

// Errors that are normal on the Internet and not worth a log line: the peer went away, timed
// out, or (ssl short read) closed the TCP connection without a TLS close_notify, which many
// clients do. Everything else is logged at debug level; a single bad connection is never more
// than that.
void fail(beast::error_code ec, const char* what) {
  if (ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated ||
      ec == beast::error::timeout || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == bhttp::error::end_of_stream)
    return;
  spdlog::debug("connection error during {}: {}", what, ec.message());
}

// -- converting between Beast and our plain messages -------------------------------

request to_request(bhttp::request<bhttp::string_body>&& in, const std::string& remote) {
  request out;
  out.method = std::string{in.method_string()};
  std::string_view target = in.target();
  auto q = target.find('?');
  out.path = std::string{target.substr(0, q)};
  if (q != std::string_view::npos) out.query = std::string{target.substr(q + 1)};
  for (const auto& field : in) out.headers.emplace_back(field.name_string(), field.value());
  out.body = std::move(in.body());
  out.remote_address = remote;
  return out;
}

bhttp::response<bhttp::string_body> to_beast(response&& in, unsigned version, bool keep_alive,
                                             bool head_only) {
  bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(in.status), version};
  out.set(bhttp::field::server, "visitd");
  if (!in.content_type.empty()) out.set(bhttp::field::content_type, in.content_type);
  out.set(bhttp::field::cache_control, "no-store");
  out.set("X-Content-Type-Options", "nosniff");
  out.set(bhttp::field::strict_transport_security, "max-age=31536000");
  // insert, not set: a handler may send a header more than once (two Set-Cookie lines).
  for (auto& [name, value] : in.headers) out.insert(name, value);
  out.keep_alive(keep_alive);
  out.body() = std::move(in.body);
  out.prepare_payload();
  if (head_only) out.body().clear();
  return out;
}

// A parse error becomes an answer (and then the connection closes): limits before parsing.
response parse_error_response(beast::error_code ec, const limits& l) {
  if (ec == bhttp::error::body_limit)
    return error_response(413, "body_too_large",
                          "request body exceeds " + std::to_string(l.body_bytes) + " bytes");
  if (ec == bhttp::error::header_limit)
    return error_response(431, "headers_too_large",
                          "request headers exceed " + std::to_string(l.header_bytes) + " bytes");
  return error_response(400, "bad_request", "malformed HTTP request: " + ec.message());
}

bool answerable_parse_error(beast::error_code ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

// -- WebSocket session ---------------------------------------------------------------

/// One accepted WebSocket (TLS, same port). Reads text messages for its listener, sends what the
/// route queues (bounded: a client that cannot keep up is closed with close_too_slow), and pings
/// an idle client, closing it when it does not answer. Every member is touched on the
/// connection's executor only; send() and close() hop onto it.
class ws_session : public socket_channel, public std::enable_shared_from_this<ws_session> {
public:
  ws_session(beast::ssl_stream<beast::tcp_stream>&& stream, shared_state& state,
             std::shared_ptr<socket_listener> listener, connection_slot&& slot)
    : ws_(std::move(stream)),
      state_(state),
      listener_(std::move(listener)),
      slot_(std::move(slot)) {}

  void run(bhttp::request<bhttp::string_body> upgrade) {
    const auto& l = state_.options.request_limits;
    beast::get_lowest_layer(ws_).expires_never();  // the websocket stream's own timers rule now
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = l.handshake_timeout;
    timeouts.idle_timeout = l.websocket_idle_timeout;
    timeouts.keep_alive_pings = true;  // a ping at half the idle time; no pong: closed
    ws_.set_option(timeouts);
    ws_.read_message_max(l.websocket_message_bytes);
    ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(bhttp::field::server, "visitd"); }));
    ws_.async_accept(upgrade,
                     beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
  }

  void send(std::string text) override {
    asio::dispatch(
      ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
        if (self->closing_) return;
        if (self->queue_.size() >= self->state_.options.request_limits.websocket_send_queue) {
          self->do_close(close_too_slow, "send queue full: the client reads too slowly");
          return;
        }
        self->queue_.push_back(std::move(text));
        if (!self->writing_) self->do_write();
      });
  }

  void close(std::uint16_t code, std::string reason) override {
    asio::dispatch(ws_.get_executor(),
                   [self = shared_from_this(), code, reason = std::move(reason)] {
                     self->do_close(code, reason);
                   });
  }

private:
  void on_accept(beast::error_code ec) {
    if (ec) return finish(ec, "websocket accept");
    opened_ = true;
    state_.open_sockets++;
    state_.add_socket(weak_from_this());
    listener_->on_open(shared_from_this());
    do_read();
  }

  void do_read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return finish(ec, "websocket read");
    if (ws_.got_text() && listener_) {
      auto data = buffer_.data();
      listener_->on_text(std::string_view{static_cast<const char*>(data.data()), data.size()});
    }
    buffer_.consume(buffer_.size());
    do_read();
  }

  void do_write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_.front()),
                    beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return finish(ec, "websocket write");
    queue_.pop_front();
    if (closing_) return close_now();
    if (!queue_.empty()) do_write();
  }

  void do_close(std::uint16_t code, const std::string& reason) {
    if (closing_) return;
    closing_ = true;
    // The server has given up on this socket: its listener learns now, not once the client has
    // answered the close (a stop waits for every listener, and a client may never answer).
    // Posted, never inline: do_close may run inside the listener's own send() or on_text().
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->tell_listener_closed(); });
    close_reason_.code = code;
    close_reason_.reason = reason.substr(0, 123);
    // The message being written stays until its write completes (the write reads from it).
    queue_.erase(writing_ ? std::next(queue_.begin()) : queue_.begin(), queue_.end());
    if (!writing_) close_now();  // else after the write in progress (one write at a time)
  }

  void close_now() {
    ws_.async_close(close_reason_,
                    [self = shared_from_this()](beast::error_code) { self->finish({}, nullptr); });
  }

  void finish(beast::error_code ec, const char* what) {
    if (finished_) return;
    finished_ = true;
    if (ec && what != nullptr) fail(ec, what);
    tell_listener_closed();
  }

  /// Once: the listener's on_close. Released after it: a listener holding its channel must not
  /// keep both alive. A listener that was never opened (the handshake failed) is not told.
  void tell_listener_closed() {
    auto listener = std::move(listener_);
    if (opened_ && listener) {
      listener->on_close();
      state_.open_sockets--;
    }
  }

  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
  shared_state& state_;
  std::shared_ptr<socket_listener> listener_;
  connection_slot slot_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  websocket::close_reason close_reason_;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool opened_ = false;
};

// -- HTTPS session ------------------------------------------------------------------

class https_session : public std::enable_shared_from_this<https_session> {
public:
  https_session(beast::tcp_stream&& stream, beast::flat_buffer&& buffer, shared_state& state,
                std::string remote, connection_slot&& slot, bool over_capacity)
    : stream_(std::move(stream), state.tls),
      buffer_(std::move(buffer)),
      state_(state),
      remote_(std::move(remote)),
      slot_(std::move(slot)),
      over_capacity_(over_capacity) {}

  void run() {
    beast::get_lowest_layer(stream_).expires_after(state_.options.request_limits.handshake_timeout);
    stream_.async_handshake(
      ssl::stream_base::server, buffer_.data(),
      beast::bind_front_handler(&https_session::on_handshake, shared_from_this()));
  }

private:
  void on_handshake(beast::error_code ec, std::size_t bytes_used) {
    if (ec) return fail(ec, "tls handshake");
    buffer_.consume(bytes_used);
    do_read();
  }

  void do_read() {
    const auto& l = state_.options.request_limits;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(l.header_bytes));
    parser_->body_limit(l.body_bytes);
    beast::get_lowest_layer(stream_).expires_after(l.idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&https_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::end_of_stream) return do_close();
    if (ec) {
      if (!answerable_parse_error(ec)) return fail(ec, "read");
      started_ = std::chrono::steady_clock::now();
      method_ = "-";
      path_ = "-";
      keep_alive_ = false;
      state_.in_flight++;
      return write(parse_error_response(ec, state_.options.request_limits));
    }

    auto message = parser_->release();
    std::optional<bhttp::request<bhttp::string_body>> upgrade;
    if (websocket::is_upgrade(message)) upgrade = message;  // a copy for the handshake
    started_ = std::chrono::steady_clock::now();
    version_ = message.version();
    keep_alive_ = message.keep_alive() && !state_.stopping;
    head_only_ = message.method() == bhttp::verb::head;
    auto req = to_request(std::move(message), remote_);
    method_ = req.method;
    path_ = req.path;
    state_.in_flight++;

    // Limits before any route runs: a connection past max_connections is told so and closed;
    // a client past its request rate is told to slow down.
    if (over_capacity_) {
      keep_alive_ = false;
      auto res = error_response(503, "too_many_connections",
                                "the server has " +
                                  std::to_string(state_.options.request_limits.max_connections) +
                                  " connections open; retry shortly");
      res.headers.emplace_back("Retry-After", "1");
      return write(std::move(res));
    }
    if (!state_.rate.allow(remote_.substr(0, remote_.rfind(':')))) {
      auto res = error_response(
        429, "rate_limited",
        "more than " + std::to_string(state_.options.request_limits.requests_per_second) +
          " requests per second from this address");
      res.headers.emplace_back("Retry-After", "1");
      return write(std::move(res));
    }

    if (upgrade) return on_upgrade(req, std::move(*upgrade));

    // The responder may run on any thread (e.g. a CAF worker): hop back onto this connection's
    // executor before touching the stream. It keeps the session alive until then.
    auto self = shared_from_this();
    state_.routes.dispatch(req, [self](response res) {
      auto executor = self->stream_.get_executor();
      asio::dispatch(executor,
                     [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
  }

  /// A WebSocket upgrade: its route decides, from any thread, to accept (the stream moves to a
  /// ws_session; this session ends) or reject (an HTTP answer, then the connection closes).
  void on_upgrade(request& req, bhttp::request<bhttp::string_body>&& upgrade) {
    keep_alive_ = false;
    const auto* route = state_.routes.find_socket(req);
    if (route == nullptr)
      return write(error_response(404, "not_found", "no WebSocket route at " + req.path));
    auto self = shared_from_this();
    auto shared_upgrade = std::make_shared<bhttp::request<bhttp::string_body>>(std::move(upgrade));
    socket_decision decision;
    decision.accept = [self, shared_upgrade](std::shared_ptr<socket_listener> listener) {
      asio::dispatch(self->stream_.get_executor(), [self, shared_upgrade, listener] {
        // Answered: the upgrade counts as one request, logged with status 101.
        self->status_ = 101;
        self->log_request();
        self->state_.in_flight--;
        std::make_shared<ws_session>(std::move(self->stream_), self->state_, listener,
                                     std::move(self->slot_))
          ->run(std::move(*shared_upgrade));
      });
    };
    decision.reject = [self](response res) {
      asio::dispatch(self->stream_.get_executor(),
                     [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    (*route)(req, std::move(decision));
  }

  void write(response&& res) {
    status_ = res.status;
    response_ = to_beast(std::move(res), version_, keep_alive_, head_only_);
    bhttp::async_write(stream_, *response_,
                       beast::bind_front_handler(&https_session::on_write, shared_from_this()));
  }

  void log_request() const {
    if (!state_.options.access_log) return;
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - started_)
                    .count();
    spdlog::info("http method={} path={} status={} latency_us={} peer={}", method_, path_, status_,
                 micros, remote_);
  }

  void on_write(beast::error_code ec, std::size_t) {
    state_.in_flight--;
    log_request();
    response_.reset();
    if (ec) return fail(ec, "write");
    if (!keep_alive_ || state_.stopping) return do_close();
    do_read();
  }

  void do_close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown(
      beast::bind_front_handler(&https_session::on_shutdown, shared_from_this()));
  }

  void on_shutdown(beast::error_code ec) {
    if (ec) fail(ec, "tls shutdown");
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  shared_state& state_;
  std::string remote_;
  connection_slot slot_;
  bool over_capacity_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::chrono::steady_clock::time_point started_;
  std::string method_;
  std::string path_;
  unsigned version_ = 11;
  int status_ = 0;
  bool keep_alive_ = false;
  bool head_only_ = false;
};

// -- plain HTTP on the TLS port: one clear answer, then close ------------------------

class plain_http_rejecter : public std::enable_shared_from_this<plain_http_rejecter> {
public:
  plain_http_rejecter(beast::tcp_stream&& stream, beast::flat_buffer&& buffer)
    : stream_(std::move(stream)), buffer_(std::move(buffer)) {}

  void run() {
    parser_.header_limit(8 * 1024);
    parser_.body_limit(64 * 1024);
    bhttp::async_read(stream_, buffer_, parser_,
                      beast::bind_front_handler(&plain_http_rejecter::on_read, shared_from_this()));
  }

private:
  void on_read(beast::error_code ec, std::size_t) {
    if (ec && !answerable_parse_error(ec)) return fail(ec, "plain http read");
    response_ =
      to_beast(error_response(400, "https_required", "this port speaks HTTPS only; use https://"),
               11, false, false);
    bhttp::async_write(
      stream_, response_,
      beast::bind_front_handler(&plain_http_rejecter::on_write, shared_from_this()));
  }

  void on_write(beast::error_code, std::size_t) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bhttp::request_parser<bhttp::empty_body> parser_;
  bhttp::response<bhttp::string_body> response_;
};

// -- protocol detection -------------------------------------------------------------

class detector : public std::enable_shared_from_this<detector> {
public:
  detector(tcp::socket&& socket, shared_state& state)
    : stream_(std::move(socket)), state_(state), slot_(state) {}

  void run() {
    // Past max_connections a connection still gets a TLS handshake and a 503 saying why; far
    // past it (a flood), it is closed at once so rejecting stays cheaper than serving.
    const auto max = state_.options.request_limits.max_connections;
    over_capacity_ = state_.connections > max;
    if (state_.connections > max + max / 4 + 16) {
      spdlog::warn("connection refused: {} open (max-connections {})", state_.connections.load(),
                   max);
      return;  // the socket closes with this detector
    }
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    stream_.expires_after(state_.options.request_limits.handshake_timeout);
    beast::async_detect_ssl(stream_, buffer_,
                            beast::bind_front_handler(&detector::on_detect, shared_from_this()));
  }

private:
  void on_detect(beast::error_code ec, bool is_tls) {
    if (ec) return fail(ec, "detect");
    if (is_tls) {
      std::make_shared<https_session>(std::move(stream_), std::move(buffer_), state_,
                                      std::move(remote_), std::move(slot_), over_capacity_)
        ->run();
    } else {
      std::make_shared<plain_http_rejecter>(std::move(stream_), std::move(buffer_))->run();
    }
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  shared_state& state_;
  std::string remote_;
  connection_slot slot_;
  bool over_capacity_ = false;
};

// -- the server: one io_context per thread, one acceptor --------------------------

class beast_server final : public server {
public:
  explicit beast_server(const server_options& options, const router& routes)
    : state_{routes, options}, acceptor_(contexts_init(options.io_threads)) {}

  ~beast_server() override { stop(); }

  domain::result<void> configure_tls(const tls_identity& identity) {
    auto& ctx = state_.tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::single_dh_use | ssl::context::no_compression);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    ctx.use_certificate_chain(asio::buffer(identity.certificate_pem), ec);
    if (!ec) ctx.use_private_key(asio::buffer(identity.private_key_pem), ssl::context::pem, ec);
    if (ec) return make_error(errc::invalid_argument, "TLS identity rejected: " + ec.message());
    return {};
  }

  domain::result<void> listen() {
    beast::error_code ec;
    auto address = asio::ip::make_address(state_.options.bind_address, ec);
    if (ec)
      return make_error(errc::invalid_argument, "bind address \"" + state_.options.bind_address +
                                                  "\" is not an IP address");
    tcp::endpoint endpoint{address, state_.options.port};
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return make_error(errc::unavailable, "cannot listen on " + state_.options.bind_address + ":" +
                                             std::to_string(state_.options.port) + ": " +
                                             ec.message());
    port_ = acceptor_.local_endpoint().port();
    do_accept();
    for (auto& ctx : contexts_) threads_.emplace_back([&ctx] { ctx->run(); });
    return {};
  }

  std::uint16_t port() const noexcept override { return port_; }

  void stop() override {
    if (stopped_.exchange(true)) return;
    state_.stopping = true;
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    // Bounded wait for requests already read to be answered; idle keep-alive connections are
    // simply dropped with the io threads.
    auto deadline = std::chrono::steady_clock::now() + state_.options.shutdown_grace;
    while (state_.in_flight > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (state_.in_flight > 0)
      spdlog::warn("shutdown grace expired with {} request(s) in flight", state_.in_flight.load());
    // WebSockets are closed with 1001 (going away), so their listeners run on_close while the
    // actors still serve them (the close handshake itself is not waited for).
    {
      std::lock_guard lock{state_.sockets_mutex};
      for (const auto& w : state_.sockets)
        if (auto channel = w.lock()) channel->close(1001, "server stopping");
    }
    deadline = std::chrono::steady_clock::now() + state_.options.shutdown_grace;
    while (state_.open_sockets > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (state_.open_sockets > 0)
      spdlog::warn("shutdown grace expired with {} WebSocket listener(s) not yet closed",
                   state_.open_sockets.load());
    for (auto& guard : work_guards_) guard.reset();
    for (auto& ctx : contexts_) ctx->stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

private:
  asio::io_context& contexts_init(std::size_t count) {
    count = std::max<std::size_t>(1, count);
    for (std::size_t i = 0; i < count; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      work_guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
    }
    return *contexts_.front();
  }

  asio::io_context& next_context() {
    auto& ctx = *contexts_[next_ % contexts_.size()];
    ++next_;
    return ctx;
  }

  void do_accept() {
    acceptor_.async_accept(next_context(), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        // E.g. EMFILE: log, and keep accepting rather than stop listening for good.
        spdlog::warn("accept failed: {}", ec.message());
      } else {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto executor = socket.get_executor();
        asio::dispatch(executor,
                       [s = std::make_shared<detector>(std::move(socket), state_)] { s->run(); });
      }
      do_accept();
    });
  }

  shared_state state_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::optional<asio::executor_work_guard<asio::io_context::executor_type>>>
    work_guards_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::size_t next_ = 0;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace

domain::result<std::unique_ptr<server>> start_server(const server_options& options,
                                                     const tls_identity& identity,
                                                     const router& routes) {
  auto srv = std::make_unique<beast_server>(options, routes);
  if (auto ok = srv->configure_tls(identity); !ok) return std::move(ok).err();
  if (auto ok = srv->listen(); !ok) return std::move(ok).err();
  return std::unique_ptr<server>{std::move(srv)};
}

}  // namespace visitd::http
