#include "ws_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <optional>

namespace visitd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace ssl = boost::asio::ssl;

struct ws_client::impl {
  asio::io_context io;
  ssl::context tls{ssl::context::tls_client};
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws;
};

ws_client::ws_client(const tls_client_options& options, const std::string& target,
                     const std::vector<std::pair<std::string, std::string>>& headers)
  : impl_(std::make_unique<impl>()) {
  impl_->tls.add_certificate_authority(asio::buffer(options.pinned_certificate_pem));
  impl_->tls.set_verify_mode(ssl::verify_peer);
  impl_->ws.emplace(impl_->io, impl_->tls);
  auto& ws = *impl_->ws;
  beast::get_lowest_layer(ws).connect(
    asio::ip::tcp::endpoint{asio::ip::make_address(options.host), options.port});
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  websocket::response_type res;
  beast::error_code ec;
  ws.handshake(res, options.host, target, ec);
  if (ec == websocket::error::upgrade_declined)
    throw upgrade_refused(std::to_string(res.result_int()) + " " + res.body());
  if (ec) throw std::runtime_error("websocket handshake: " + ec.message());
}

ws_client::~ws_client() = default;

void ws_client::send(const std::string& text) {
  impl_->ws->text(true);
  impl_->ws->write(asio::buffer(text));
}

std::string ws_client::read(std::chrono::milliseconds timeout) {
  beast::flat_buffer buffer;
  std::optional<beast::error_code> result;
  impl_->ws->async_read(buffer, [&](beast::error_code ec, std::size_t) { result = ec; });
  impl_->io.restart();
  impl_->io.run_for(timeout);
  if (!result) {
    beast::get_lowest_layer(*impl_->ws).cancel();
    impl_->io.restart();
    impl_->io.run();
    throw std::runtime_error("no message within the timeout");
  }
  // The server's close frame was read: its code, even when our reply to it then failed (a
  // server that closes on a message too big may reset the connection under the rest of it).
  if (*result == websocket::error::closed ||
      impl_->ws->reason().code != websocket::close_code::none)
    throw socket_closed(impl_->ws->reason().code, std::string{impl_->ws->reason().reason.data(),
                                                              impl_->ws->reason().reason.size()});
  if (*result) throw std::runtime_error("websocket read: " + result->message());
  return beast::buffers_to_string(buffer.data());
}

void ws_client::close() {
  beast::error_code ignored;
  impl_->ws->close(websocket::close_code::normal, ignored);
}

}  // namespace visitd::test
