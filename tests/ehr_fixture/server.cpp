#include "server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <csignal>
#include <iostream>

namespace visitd::test_ehr {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// Limits, set where connections are made.
constexpr std::size_t body_limit = 1024UL * 1024;  // control PUTs of FHIR resources, JWKS
constexpr std::size_t header_limit = 32UL * 1024;  // long authorize URLs
constexpr auto handshake_timeout = std::chrono::seconds{10};
constexpr auto idle_timeout = std::chrono::seconds{30};

/// One TLS connection: handshake, then request/response pairs until close.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, ssl::context& ctx, http_handler& handler)
    : stream_(std::move(socket), ctx), handler_(handler) {}

  void run() {
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout);
    stream_.async_handshake(
      ssl::stream_base::server,
      [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

private:
  void on_handshake(beast::error_code ec) {
    if (ec) return;  // a client that gave up, or is not speaking TLS: nothing to answer
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(body_limit);
    parser_->header_limit(header_limit);
    beast::get_lowest_layer(stream_).expires_after(idle_timeout);
    http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec) {
      // A malformed or oversized request gets a 400 and the connection is closed; transport
      // errors (reset, timeout) just end the session.
      if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        http_response r;
        r.status = 400;
        r.headers.emplace_back("Content-Type", "application/json");
        r.body = R"({"error":"bad HTTP request"})";
        keep_alive_ = false;
        return write(std::move(r));
      }
      return;
    }
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    http_request request;
    request.method = std::string{req.method_string()};
    request.target = std::string{req.target()};
    for (const auto& field : req) {
      std::string name{field.name_string()};
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto& slot = request.headers[name];
      if (!slot.empty()) slot.append(", ");
      slot.append(field.value());
    }
    request.body = std::move(req.body());
    beast::get_lowest_layer(stream_).expires_never();  // the handler may answer later
    try {
      handler_.handle(std::move(request),
                      [self = shared_from_this()](http_response r) { self->write(std::move(r)); });
    } catch (const std::exception&) {
      http_response r;
      r.status = 500;
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = R"({"error":"server_error"})";
      write(std::move(r));
    }
  }

  void write(http_response r) {
    if (r.drop_connection) return drop();
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(r.status));
    response_.set(http::field::server, "visitd-test-ehr");
    for (auto& [name, value] : r.headers) response_.set(name, value);
    response_.body() = std::move(r.body);
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(idle_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (!self->keep_alive_) return self->do_close();
                        self->do_read();
                      });
  }

  /// Closes the TCP connection without an answer and without TLS close_notify: the client sees
  /// its request go unanswered (an outage, not an HTTP error). Nothing is pending on the socket
  /// here (the request was read, no write started), so the session ends with this call.
  void drop() {
    beast::error_code ignored;  // the peer may be gone already: nothing left to do either way
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  void do_close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds{5});
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  http_handler& handler_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool keep_alive_ = true;
};

class listener : public std::enable_shared_from_this<listener> {
public:
  listener(asio::io_context& ioc, ssl::context& ctx, tcp::acceptor& acceptor, http_handler& handler)
    : ioc_(ioc), ctx_(ctx), acceptor_(acceptor), handler_(handler) {}

  void accept() {
    acceptor_.async_accept(
      ioc_,  // one io thread: no strands needed
      [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) std::make_shared<session>(std::move(socket), self->ctx_, self->handler_)->run();
        self->accept();  // e.g. EMFILE: keep accepting
      });
  }

private:
  asio::io_context& ioc_;
  ssl::context& ctx_;
  tcp::acceptor& acceptor_;
  http_handler& handler_;
};

}  // namespace

int serve(const server_options& options, const handler_factory& make_handler) {
  ssl::context ctx{ssl::context::tls_server};  // outlives the io_context and its sessions
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.use_certificate_chain(asio::buffer(options.cert_pem));
  ctx.use_private_key(asio::buffer(options.key_pem), ssl::context::pem);

  asio::io_context ioc{1};

  tcp::acceptor acceptor{ioc};
  tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), options.port};
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  auto port = acceptor.local_endpoint().port();
  std::string origin = "https://127.0.0.1:";
  origin.append(std::to_string(port));

  // A pending timer is destroyed unrun with the io_context: nothing fires after shutdown began
  // (`handler`, which delayed functions reach into, is gone by then).
  auto after = [&ioc](std::chrono::milliseconds delay, std::function<void()> f) {
    auto timer = std::make_shared<asio::steady_timer>(ioc, delay);
    timer->async_wait([timer, f = std::move(f)](beast::error_code ec) {
      if (!ec) f();
    });
  };
  // Declared after `ioc`: destroyed first, so its worker threads are joined while they can still
  // post to a live io_context.
  auto handler = make_handler(
    origin, [&ioc](std::function<void()> f) { asio::post(ioc, std::move(f)); }, after);

  asio::signal_set signals{ioc, SIGTERM, SIGINT};
  signals.async_wait([&](beast::error_code, int) {
    acceptor.close();
    ioc.stop();
  });

  std::make_shared<listener>(ioc, ctx, acceptor, *handler)->accept();
  std::cout << "test-ehr listening on " << origin << std::endl;  // endl: the parent waits for it
  ioc.run();
  return 0;
}

}  // namespace visitd::test_ehr
