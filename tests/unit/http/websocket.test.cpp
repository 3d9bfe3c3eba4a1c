// WebSockets on the real HTTPS server (TLS on loopback), with a test route: the handshake and
// text both ways, a route's refusal as plain HTTP, a slow reader closed with close_too_slow,
// and a client that stops answering pings disconnected after the idle timeout.

#include "http/server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace visitd::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace ssl = boost::asio::ssl;
using namespace std::chrono_literals;

/// What the test route's sockets saw.
struct socket_log {
  std::atomic<int> opened{0};
  std::atomic<int> closed{0};
};

/// Echoes "echo:<text>"; "flood" sends 100 messages at once (more than the send queue holds).
class echo_listener final : public socket_listener {
public:
  explicit echo_listener(std::shared_ptr<socket_log> log) : log_(std::move(log)) {}
  void on_open(std::shared_ptr<socket_channel> channel) override {
    channel_ = std::move(channel);
    log_->opened++;
  }
  void on_text(std::string_view text) override {
    if (text == "flood") {
      for (int i = 0; i < 100; ++i) channel_->send(std::string(1024, 'x'));
      return;
    }
    channel_->send("echo:" + std::string{text});
  }
  void on_close() override {
    log_->closed++;
    channel_.reset();
  }

private:
  std::shared_ptr<socket_log> log_;
  std::shared_ptr<socket_channel> channel_;
};

class websocket_test : public ::testing::Test {
protected:
  websocket_test() {
    auto id = make_self_signed_identity({"127.0.0.1"});
    EXPECT_TRUE(id) << id.err().message;
    identity_ = *id;
    routes_.add_socket("/sockets/{name}", [log = log_](request& req, socket_decision decide) {
      if (req.path_params["name"] == "nope")
        return decide.reject(response{404, "application/json", {}, R"({"error":{}})"});
      decide.accept(std::make_shared<echo_listener>(log));
    });
    server_options options;
    options.port = 0;
    options.access_log = false;
    options.request_limits.websocket_send_queue = 4;
    options.request_limits.websocket_idle_timeout = 2s;
    auto started = start_server(options, identity_, routes_);
    EXPECT_TRUE(started) << started.err().message;
    server_ = std::move(*started);
  }

  ~websocket_test() override { server_->stop(); }

  /// A pinned TLS WebSocket client, connected and upgraded to `path`.
  std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> connect(
    const std::string& path) {
    tls_.add_certificate_authority(asio::buffer(identity_.certificate_pem));
    tls_.set_verify_mode(ssl::verify_peer);
    auto ws = std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(io_, tls_);
    beast::get_lowest_layer(*ws).connect(
      asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), server_->port()});
    ws->next_layer().handshake(ssl::stream_base::client);
    ws->handshake("127.0.0.1", path);
    return ws;
  }

  std::string read(websocket::stream<beast::ssl_stream<beast::tcp_stream>>& ws) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }

  template <class Predicate>
  bool eventually(Predicate p, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (p()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return p();
  }

  tls_identity identity_;
  router routes_;
  std::shared_ptr<socket_log> log_ = std::make_shared<socket_log>();
  std::unique_ptr<server> server_;
  asio::io_context io_;
  ssl::context tls_{ssl::context::tls_client};
};

TEST_F(websocket_test, upgrades_and_carries_text_both_ways_then_closes_cleanly) {
  auto ws = connect("/sockets/a");
  ws->write(asio::buffer(std::string{"hello"}));
  EXPECT_EQ(read(*ws), "echo:hello");
  ws->write(asio::buffer(std::string{"again"}));
  EXPECT_EQ(read(*ws), "echo:again");
  EXPECT_EQ(log_->opened, 1);
  ws->close(websocket::close_code::normal);
  EXPECT_TRUE(eventually([&] { return log_->closed == 1; }));
}

TEST_F(websocket_test, a_route_refuses_with_plain_http_and_unknown_paths_get_404) {
  for (std::string path : {"/sockets/nope", "/not/a/socket"}) {
    try {
      connect(path);
      ADD_FAILURE() << path << " was upgraded";
    } catch (const beast::system_error& e) {
      EXPECT_EQ(e.code(), websocket::error::upgrade_declined) << path << ": " << e.what();
    }
  }
  EXPECT_EQ(log_->opened, 0);
}

TEST_F(websocket_test, a_client_that_falls_behind_is_closed_as_too_slow) {
  auto ws = connect("/sockets/a");
  ws->write(asio::buffer(std::string{"flood"}));
  int received = 0;
  try {
    for (;;) {
      read(*ws);
      ++received;
    }
  } catch (const beast::system_error& e) {
    EXPECT_EQ(e.code(), websocket::error::closed) << e.what();
  }
  EXPECT_LT(received, 100) << "the queue bound was not applied";
  EXPECT_EQ(ws->reason().code, close_too_slow);
  EXPECT_TRUE(eventually([&] { return log_->closed == 1; }));
}

TEST_F(websocket_test, a_client_that_stops_answering_pings_is_disconnected) {
  auto ws = connect("/sockets/a");
  // Never read again: the client's pongs are never sent, so the server's pings go unanswered.
  EXPECT_EQ(log_->closed, 0);
  EXPECT_TRUE(eventually([&] { return log_->closed == 1; }, 6s))
    << "the silent socket stayed open past the idle timeout";
}

}  // namespace
}  // namespace visitd::http
