#include "tls_client.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace visitd::test {

namespace {

std::string openssl_reason(const std::string& what) {
  std::string out = what;
  while (auto code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    out += ": ";
    out += buffer;
  }
  return out;
}

int connect_tcp(const std::string& host, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    throw std::runtime_error("test client: not an IPv4 address: " + host);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  timeval tv{10, 0};  // a hung server fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to " + host + ":" + std::to_string(port) + " failed");
  }
  return fd;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

struct tls_connection::impl {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  int fd = -1;
  std::string pending;  // bytes read past the previous response

  ~impl() {
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    if (ctx) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }

  // Reads more bytes into `pending`; false on clean end of stream.
  bool fill() {
    char buffer[16384];
    int n = SSL_read(ssl, buffer, sizeof buffer);
    if (n > 0) {
      pending.append(buffer, static_cast<std::size_t>(n));
      return true;
    }
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_ZERO_RETURN) return false;
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return false;  // EOF without notify
    throw std::runtime_error(openssl_reason("test client: read failed"));
  }
};

tls_connection::tls_connection(const tls_client_options& options)
  : impl_(std::make_unique<impl>()) {
  impl_->ctx = SSL_CTX_new(TLS_client_method());
  if (options.max_tls_version) SSL_CTX_set_max_proto_version(impl_->ctx, options.max_tls_version);

  // Pinning: the server's own certificate is the only trust anchor.
  BIO* bio = BIO_new_mem_buf(options.pinned_certificate_pem.data(),
                             static_cast<int>(options.pinned_certificate_pem.size()));
  X509* pinned = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!pinned) throw std::runtime_error("test client: pinned certificate is not PEM");
  X509_STORE_add_cert(SSL_CTX_get_cert_store(impl_->ctx), pinned);
  X509_free(pinned);
  SSL_CTX_set_verify(impl_->ctx, SSL_VERIFY_PEER, nullptr);

  impl_->fd = connect_tcp(options.host, options.port);
  impl_->ssl = SSL_new(impl_->ctx);
  SSL_set_fd(impl_->ssl, impl_->fd);
  auto* param = SSL_get0_param(impl_->ssl);
  unsigned char ip[16];
  if (inet_pton(AF_INET, options.host.c_str(), ip) == 1)
    X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str());
  else
    X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), 0);
  if (SSL_connect(impl_->ssl) != 1)
    throw std::runtime_error(openssl_reason("test client: TLS handshake failed"));
}

tls_connection::~tls_connection() = default;

std::string tls_connection::protocol() const {
  return SSL_get_version(impl_->ssl);
}

void tls_connection::write_all(const std::string& bytes) {
  if (bytes.empty()) return;
  if (SSL_write(impl_->ssl, bytes.data(), static_cast<int>(bytes.size())) <= 0)
    throw std::runtime_error(openssl_reason("test client: write failed"));
}

http_reply tls_connection::request(
  const std::string& method, const std::string& path, const std::string& body,
  const std::vector<std::pair<std::string, std::string>>& headers) {
  std::ostringstream out;
  out << method << " " << path << " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) out << name << ": " << value << "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    out << "Content-Length: " << body.size() << "\r\n";
  out << "\r\n" << body;
  return raw(out.str());
}

http_reply tls_connection::raw(const std::string& bytes) {
  write_all(bytes);
  return read_reply();
}

bool tls_connection::send(const std::string& bytes) {
  if (bytes.empty()) return true;
  if (SSL_write(impl_->ssl, bytes.data(), static_cast<int>(bytes.size())) > 0) return true;
  ERR_clear_error();
  return false;
}

bool tls_connection::closed_within(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Non-blocking while we look: a blocking SSL_read would wait past the deadline for a record
  // (and TLS 1.3 session tickets make a readable socket without application data).
  const int flags = ::fcntl(impl_->fd, F_GETFL);
  ::fcntl(impl_->fd, F_SETFL, flags | O_NONBLOCK);
  bool closed = false;
  for (;;) {
    char buffer[16384];
    int n = SSL_read(impl_->ssl, buffer, sizeof buffer);
    if (n > 0) {
      impl_->pending.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    int err = SSL_get_error(impl_->ssl, n);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();  // a clean close, an EOF without close_notify or a reset: all closed
      closed = true;
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{impl_->fd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  ::fcntl(impl_->fd, F_SETFL, flags);
  return closed;
}

http_reply tls_connection::read_reply() {
  auto& p = impl_->pending;
  std::size_t header_end;
  while ((header_end = p.find("\r\n\r\n")) == std::string::npos)
    if (!impl_->fill())
      throw std::runtime_error("test client: connection closed before a response");

  http_reply reply;
  std::istringstream head{p.substr(0, header_end)};
  std::string line;
  std::getline(head, line);
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0)
    throw std::runtime_error("test client: bad status line: " + line);
  reply.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    // A repeated header (Set-Cookie) keeps every value, one per line.
    auto& slot = reply.headers[lower(line.substr(0, colon))];
    slot = slot.empty() ? value : slot + "\n" + value;
  }
  std::size_t length = 0;
  if (auto it = reply.headers.find("content-length"); it != reply.headers.end())
    length = std::stoul(it->second);
  std::size_t body_start = header_end + 4;
  while (p.size() < body_start + length)
    if (!impl_->fill()) throw std::runtime_error("test client: connection closed mid-body");
  reply.body = p.substr(body_start, length);
  p.erase(0, body_start + length);
  return reply;
}

http_reply https_get(const tls_client_options& options, const std::string& path) {
  tls_connection connection{options};
  return connection.request("GET", path);
}

std::string plain_tcp_exchange(const std::string& host, std::uint16_t port,
                               const std::string& bytes) {
  int fd = connect_tcp(host, port);
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string received;
  char buffer[4096];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0)
    received.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return received;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace visitd::test
