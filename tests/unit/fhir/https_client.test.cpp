#include "fhir/https_client.hpp"

// The client against a real TLS server on 127.0.0.1 (blocking OpenSSL, a thread per connection),
// with a throwaway CA minted here: no network, no files, nothing to trust from the system.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace visitd::fhir {
namespace {

using namespace std::chrono_literals;
using domain::errc;
using domain::result;

// -- a throwaway PKI -------------------------------------------------------------

struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

struct identity {
  pkey_ptr key;
  x509_ptr cert;
  std::string pem;  // the certificate
};

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(what);
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

std::string to_pem(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// A certificate for `san` ("IP:127.0.0.1,DNS:localhost"), signed by `issuer` or self-signed.
identity make_identity(const char* common_name, const char* san, const identity* issuer,
                       bool is_ca) {
  static std::atomic<long> serial{1};
  identity id;
  id.key.reset(EVP_EC_gen("P-256"));
  check(id.key != nullptr, "EVP_EC_gen");
  id.cert.reset(X509_new());
  X509* cert = id.cert.get();
  check(X509_set_version(cert, X509_VERSION_3) == 1, "X509_set_version");
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24L * 3600);
  check(X509_set_pubkey(cert, id.key.get()) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert.get() : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  add_extension(cert, issuer_cert, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE");
  add_extension(cert, issuer_cert, NID_key_usage,
                is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (!is_ca) add_extension(cert, issuer_cert, NID_ext_key_usage, "serverAuth");
  if (san != nullptr) add_extension(cert, issuer_cert, NID_subject_alt_name, san);
  check(X509_sign(cert, issuer ? issuer->key.get() : id.key.get(), EVP_sha256()) > 0, "X509_sign");
  id.pem = to_pem(cert);
  return id;
}

struct pki {
  identity ca = make_identity("visitd test CA", nullptr, nullptr, true);
  identity good = make_identity("127.0.0.1", "IP:127.0.0.1,DNS:localhost", &ca, false);
  identity wrong = make_identity("wrong.example", "DNS:wrong.example", &ca, false);
  identity self_signed = make_identity("127.0.0.1", "IP:127.0.0.1", nullptr, false);
};

const pki& certs() {
  static const pki p;
  return p;
}

// -- a blocking test server ---------------------------------------------------------

struct seen_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  [[nodiscard]] std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
    }
    return {};
  }
};

struct reply {
  enum class action { respond, respond_then_close, hang, close_without_answer };
  action what = action::respond;
  std::string raw;  // the whole response
};

std::string http_response(int status, std::string_view reason, std::string_view body,
                          std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.1 ";
  out.append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  out.append(extra_headers);
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

reply respond(std::string raw) {
  return reply{reply::action::respond, std::move(raw)};
}

// `index` counts requests on the same connection from 0.
using handler_fn = std::function<reply(const seen_request&, int index)>;

class test_server {
public:
  /// `tls` null: plain HTTP. `accept_connections` false: listen but never accept (the kernel
  /// completes TCP handshakes; TLS handshakes are never answered).
  test_server(const identity* tls, handler_fn handler, bool accept_connections = true)
    : handler_(std::move(handler)) {
    std::signal(SIGPIPE, SIG_IGN);  // writes to a client that went away must not kill the test
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    check(listen_fd_ >= 0, "socket");
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    check(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "bind");
    check(::listen(listen_fd_, 64) == 0, "listen");
    socklen_t len = sizeof addr;
    check(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
    port_ = ntohs(addr.sin_port);
    if (tls != nullptr) {
      ctx_ = SSL_CTX_new(TLS_server_method());
      check(ctx_ != nullptr, "SSL_CTX_new");
      check(SSL_CTX_use_certificate(ctx_, tls->cert.get()) == 1, "use_certificate");
      check(SSL_CTX_use_PrivateKey(ctx_, tls->key.get()) == 1, "use_PrivateKey");
    }
    if (accept_connections) accept_thread_ = std::thread([this] { accept_loop(); });
  }

  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  ~test_server() {
    stop_ = true;
    if (accept_thread_.joinable()) accept_thread_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // unblocks reads
    }
    for (auto& t : connection_threads_) t.join();
    ::close(listen_fd_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string url(std::string_view path, std::string_view host = "127.0.0.1") const {
    std::string out = ctx_ != nullptr ? "https://" : "http://";
    out.append(host).append(":").append(std::to_string(port_)).append(path);
    return out;
  }
  [[nodiscard]] int connections() const { return connections_; }
  [[nodiscard]] int closed() const { return closed_; }
  [[nodiscard]] std::vector<seen_request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  [[nodiscard]] std::string last_sni() const {
    std::lock_guard lock(mutex_);
    return sni_;
  }

  /// Waits up to `limit` for `predicate`; true when it held.
  template <class Predicate>
  static bool wait_for(Predicate predicate, std::chrono::milliseconds limit = 2000ms) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!predicate()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard lock(mutex_);
      open_fds_.push_back(fd);
      connection_threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    SSL* ssl = nullptr;
    if (ctx_ != nullptr) {
      ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
          std::lock_guard lock(mutex_);
          sni_ = name;
        }
        converse(fd, ssl);
      }
    } else {
      converse(fd, nullptr);
    }
    if (ssl != nullptr) SSL_free(ssl);
    {
      std::lock_guard lock(mutex_);
      std::erase(open_fds_, fd);
      ::close(fd);
    }
    ++closed_;
  }

  static long read_some(int fd, SSL* ssl, char* data, std::size_t size) {
    if (ssl != nullptr) return SSL_read(ssl, data, static_cast<int>(size));
    return ::recv(fd, data, size, 0);
  }

  static bool write_all(int fd, SSL* ssl, std::string_view data) {
    while (!data.empty()) {
      const long n = ssl != nullptr ? SSL_write(ssl, data.data(), static_cast<int>(data.size()))
                                    : ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One request from `buffer` + the connection, or nullopt at EOF/error.
  static std::optional<seen_request> read_request(int fd, SSL* ssl, std::string& buffer) {
    char chunk[4096];
    std::size_t end = 0;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      const long n = read_some(fd, ssl, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    seen_request request;
    const std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string first = head.substr(0, line_end);
    const auto sp1 = first.find(' ');
    const auto sp2 = first.find(' ', sp1 + 1);
    request.method = first.substr(0, sp1);
    request.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      request.headers.emplace_back(line.substr(0, colon), value);
    }
    const std::string length = request.header("content-length");
    const std::size_t body_size = length.empty() ? 0 : std::stoul(length);
    while (buffer.size() < body_size) {
      const long n = read_some(fd, ssl, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    request.body = buffer.substr(0, body_size);
    buffer.erase(0, body_size);
    return request;
  }

  void converse(int fd, SSL* ssl) {
    std::string buffer;
    for (int index = 0; !stop_; ++index) {
      auto request = read_request(fd, ssl, buffer);
      if (!request) return;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(*request);
      }
      const reply r = handler_(*request, index);
      switch (r.what) {
        case reply::action::respond:
          if (!write_all(fd, ssl, r.raw)) return;
          break;
        case reply::action::respond_then_close:
          write_all(fd, ssl, r.raw);
          if (ssl != nullptr) SSL_shutdown(ssl);
          return;
        case reply::action::hang:
          while (!stop_) std::this_thread::sleep_for(5ms);
          return;
        case reply::action::close_without_answer: return;
      }
    }
  }

  handler_fn handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  SSL_CTX* ctx_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> closed_{0};
  mutable std::mutex mutex_;
  std::vector<int> open_fds_;
  std::vector<std::thread> connection_threads_;
  std::vector<seen_request> requests_;
  std::string sni_;
  std::thread accept_thread_;
};

handler_fn echo() {
  return [](const seen_request& request, int) {
    std::string body = request.method;
    body.append(" ").append(request.target).append(" ").append(request.body);
    return respond(http_response(200, "OK", body, "X-Echo-Method: " + request.method + "\r\n"));
  };
}

// -- the client under test ---------------------------------------------------------

class https_client_test : public ::testing::Test {
protected:
  void start(https_client_options options = {}, int threads = 2) {
    client_ = make_https_client(io_, std::move(options));
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  void TearDown() override {
    if (client_) client_->shutdown();
    client_.reset();
    work_.reset();  // run() returns once the shutdown completions have run: nothing may linger
    for (auto& t : threads_) t.join();
  }

  /// Sends and waits (bounded) for the completion.
  result<outbound_response> call(outbound_request request) {
    auto promise = std::make_shared<std::promise<result<outbound_response>>>();
    auto future = promise->get_future();
    client_->send(std::move(request),
                  [promise](result<outbound_response> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "no completion within 5 s";
      return domain::make_error(errc::internal, "test: no completion");
    }
    return future.get();
  }

  result<outbound_response> get(const std::string& url, std::string trust = {}) {
    outbound_request request;
    request.url = url;
    request.trust = std::move(trust);
    return call(std::move(request));
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
    io_.get_executor()};
  std::vector<std::thread> threads_;
  std::shared_ptr<https_client> client_;
};

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// -- round trips ----------------------------------------------------------------------

TEST_F(https_client_test, get_round_trip_sends_host_user_agent_and_headers) {
  test_server server(&certs().good, echo());
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  outbound_request request;
  request.url = server.url("/fhir/Patient?name=x%20y#frag");
  request.trust = "ehr";
  request.headers = {{"Accept", "application/fhir+json"}, {"X-Trace", "abc"}};
  auto response = call(std::move(request));
  ASSERT_TRUE(response) << response.err().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /fhir/Patient?name=x%20y ");
  EXPECT_EQ(response->header("x-echo-method"), "GET");
  EXPECT_EQ(response->header("CONTENT-LENGTH"), std::to_string(response->body.size()));
  EXPECT_EQ(response->header("x-missing"), "");

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].header("user-agent"), "visitd");
  EXPECT_EQ(seen[0].header("accept"), "application/fhir+json");
  EXPECT_EQ(seen[0].header("x-trace"), "abc");
}

TEST_F(https_client_test, post_round_trip_sends_body_with_content_length) {
  test_server server(&certs().good, [](const seen_request& request, int) {
    return respond(
      http_response(201, "Created", "got " + request.body, "Location: /fhir/Encounter/7\r\n"));
  });
  https_client_options options;
  options.user_agent = "visitd-test/1";
  start(options);
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  outbound_request request;
  request.method = "POST";
  request.url = server.url("/token");
  request.trust = "ehr";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.body = "grant_type=authorization_code&code=abc";
  auto response = call(std::move(request));
  ASSERT_TRUE(response) << response.err().message;
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "got grant_type=authorization_code&code=abc");
  EXPECT_EQ(response->header("location"), "/fhir/Encounter/7");

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].header("content-length"), "38");
  EXPECT_EQ(seen[0].header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(seen[0].header("user-agent"), "visitd-test/1");
  EXPECT_EQ(seen[0].body, "grant_type=authorization_code&code=abc");
}

TEST_F(https_client_test, redirect_is_returned_not_followed) {
  test_server server(&certs().good, [](const seen_request&, int) {
    return respond(http_response(302, "Found", "", "Location: https://elsewhere.example/\r\n"));
  });
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  auto response = get(server.url("/authorize"), "ehr");
  ASSERT_TRUE(response) << response.err().message;
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(response->header("location"), "https://elsewhere.example/");
  EXPECT_EQ(server.requests().size(), 1u);
}

// -- verification ------------------------------------------------------------------------

TEST_F(https_client_test, self_signed_certificate_is_refused_with_the_verify_reason) {
  test_server server(&certs().self_signed, echo());
  start();
  auto response = get(server.url("/"));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.err().code, errc::unavailable);
  EXPECT_TRUE(
    contains(response.err().message, "certificate verify failed: self-signed certificate"))
    << response.err().message;
  EXPECT_TRUE(contains(response.err().message, "127.0.0.1:" + std::to_string(server.port())))
    << response.err().message;
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(https_client_test, private_ca_is_trusted_only_by_requests_naming_it) {
  test_server server(&certs().good, echo());
  start();
  auto before = get(server.url("/"));
  ASSERT_FALSE(before);
  EXPECT_EQ(before.err().code, errc::unavailable);
  EXPECT_TRUE(contains(before.err().message, "unable to get local issuer certificate"))
    << before.err().message;

  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  auto trusted = get(server.url("/"), "ehr");
  ASSERT_TRUE(trusted) << trusted.err().message;
  EXPECT_EQ(trusted->status, 200);

  auto system_only = get(server.url("/"));  // trust "" still means the system store alone
  ASSERT_FALSE(system_only);
  EXPECT_TRUE(contains(system_only.err().message, "certificate verify failed"));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(https_client_test, host_mismatch_is_refused_even_when_the_ca_is_trusted) {
  test_server server(&certs().wrong, echo());
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  auto by_ip = get(server.url("/"), "ehr");
  ASSERT_FALSE(by_ip);
  EXPECT_EQ(by_ip.err().code, errc::unavailable);
  EXPECT_TRUE(contains(by_ip.err().message, "IP address mismatch")) << by_ip.err().message;

  auto by_name = get(server.url("/", "localhost"), "ehr");
  ASSERT_FALSE(by_name);
  EXPECT_EQ(by_name.err().code, errc::unavailable);
  EXPECT_TRUE(contains(by_name.err().message, "hostname mismatch")) << by_name.err().message;
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(https_client_test, host_name_is_sent_as_sni_and_verified) {
  test_server server(&certs().good, echo());
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  auto response = get(server.url("/x", "LocalHost"), "ehr");
  ASSERT_TRUE(response) << response.err().message;
  EXPECT_EQ(server.last_sni(), "localhost");
  EXPECT_EQ(server.requests().at(0).header("host"), "localhost:" + std::to_string(server.port()));
}

TEST_F(https_client_test, unknown_trust_name_and_empty_pem_are_invalid_arguments) {
  start();
  auto response = get("https://127.0.0.1:1/", "nope");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.err().code, errc::invalid_argument);
  EXPECT_TRUE(contains(response.err().message, "nope")) << response.err().message;

  for (std::string_view pem : {std::string_view{}, std::string_view{"not a pem"},
                               std::string_view{"-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                                "-----END PRIVATE KEY-----\n"}}) {
    auto added = client_->add_trust("x", pem);
    ASSERT_FALSE(added) << pem;
    EXPECT_EQ(added.err().code, errc::invalid_argument);
  }
  auto unnamed = client_->add_trust("", certs().ca.pem);
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.err().code, errc::invalid_argument);
}

// -- limits and failures ------------------------------------------------------------------

TEST_F(https_client_test, response_over_the_cap_fails_and_drops_the_connection) {
  test_server server(&certs().good, [](const seen_request& request, int) {
    if (request.target.starts_with("/chunked/")) {  // 100-byte chunks, no declared length
      const std::size_t size = std::stoul(request.target.substr(9));
      std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (std::size_t sent = 0; sent < size; sent += 100)
        raw.append("64\r\n").append(100, 'c').append("\r\n");
      raw.append("0\r\n\r\n");
      return respond(std::move(raw));
    }
    const std::size_t size = std::stoul(request.target.substr(1));
    return respond(http_response(200, "OK", std::string(size, 'x')));
  });
  https_client_options options;
  options.max_response_bytes = 1024;
  start(options);
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));

  auto small = get(server.url("/500"), "ehr");
  ASSERT_TRUE(small) << small.err().message;
  EXPECT_EQ(small->body.size(), 500u);

  auto big = get(server.url("/4096"), "ehr");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.err().code, errc::unavailable);
  EXPECT_TRUE(contains(big.err().message, "exceeds 1024 bytes")) << big.err().message;

  // The header counts too: a 1000-byte body fits alone but not with its ~40-byte header.
  auto with_header = get(server.url("/1000"), "ehr");
  ASSERT_FALSE(with_header);
  EXPECT_TRUE(contains(with_header.err().message, "exceeds 1024 bytes"));

  auto after = get(server.url("/10"), "ehr");
  ASSERT_TRUE(after) << after.err().message;
  // Connection 1 served /500 and /4096 (dropped), 2 served /1000 (dropped), 3 serves /10.
  EXPECT_EQ(server.connections(), 3);

  // Without a declared length the body is counted as it arrives.
  auto chunked = get(server.url("/chunked/500"), "ehr");
  ASSERT_TRUE(chunked) << chunked.err().message;
  EXPECT_EQ(chunked->body, std::string(500, 'c'));
  auto chunked_big = get(server.url("/chunked/2000"), "ehr");
  ASSERT_FALSE(chunked_big);
  EXPECT_EQ(chunked_big.err().code, errc::unavailable);
  EXPECT_TRUE(contains(chunked_big.err().message, "exceeds 1024 bytes"))
    << chunked_big.err().message;
}

TEST_F(https_client_test, silent_server_times_out_in_the_response_phase) {
  test_server server(&certs().good, [](const seen_request&, int) {
    return reply{reply::action::hang, {}};
  });
  https_client_options options;
  options.request_timeout = 300ms;
  start(options);
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  const auto began = std::chrono::steady_clock::now();
  auto response = get(server.url("/"), "ehr");
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.err().code, errc::timeout);
  EXPECT_TRUE(contains(response.err().message, "response timeout")) << response.err().message;
  EXPECT_TRUE(contains(response.err().message, "127.0.0.1:" + std::to_string(server.port())));
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
}

TEST_F(https_client_test, unanswered_handshake_times_out_in_the_handshake_phase) {
  test_server server(&certs().good, echo(), /*accept_connections=*/false);
  https_client_options options;
  options.connect_timeout = 300ms;
  start(options);
  const auto began = std::chrono::steady_clock::now();
  auto response = get(server.url("/"));
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.err().code, errc::timeout);
  EXPECT_TRUE(contains(response.err().message, "handshake timeout")) << response.err().message;
  EXPECT_LT(took, 2s);
}

TEST_F(https_client_test, refused_connection_is_unavailable) {
  std::uint16_t closed_port = 0;
  {
    test_server gone(&certs().good, echo(), false);
    closed_port = gone.port();
  }
  start();
  auto response = get("https://127.0.0.1:" + std::to_string(closed_port) + "/");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.err().code, errc::unavailable);
  EXPECT_TRUE(contains(response.err().message, "cannot connect to 127.0.0.1:"))
    << response.err().message;
}

TEST_F(https_client_test, malformed_requests_are_invalid_arguments) {
  start();
  const auto expect_invalid = [&](outbound_request request, std::string_view why) {
    auto response = call(std::move(request));
    ASSERT_FALSE(response) << why;
    EXPECT_EQ(response.err().code, errc::invalid_argument) << why << ": " << response.err().message;
  };
  for (const char* url :
       {"", "not a url", "ftp://127.0.0.1/", "http://127.0.0.1/", "https://user:pw@127.0.0.1/",
        "https://127.0.0.1:99999/", "https://127.0.0.1:0/", "https:///path"}) {
    outbound_request request;
    request.url = url;
    expect_invalid(std::move(request), url);
  }
  outbound_request injected;
  injected.url = "https://127.0.0.1:1/";
  injected.headers = {{"X-A", "ok\r\nX-Injected: 1"}};
  expect_invalid(injected, "CRLF in a value");
  injected.headers = {{"Host", "evil.example"}};
  expect_invalid(injected, "reserved Host");
  injected.headers = {{"Bad Name", "v"}};
  expect_invalid(injected, "space in a name");
  injected.headers = {};
  injected.method = "GE T";
  expect_invalid(injected, "method not a token");
}

TEST_F(https_client_test, plain_http_is_refused_by_default_and_works_when_allowed) {
  test_server server(nullptr, echo());
  start();
  auto refused = get(server.url("/"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, errc::invalid_argument);
  EXPECT_TRUE(contains(refused.err().message, "http://")) << refused.err().message;
  EXPECT_TRUE(server.requests().empty());

  https_client_options options;
  options.allow_plain_http = true;
  auto plain_client = make_https_client(io_, options);
  auto promise = std::make_shared<std::promise<result<outbound_response>>>();
  auto future = promise->get_future();
  outbound_request request;
  request.url = server.url("/plain");
  plain_client->send(request,
                     [promise](result<outbound_response> r) { promise->set_value(std::move(r)); });
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto allowed = future.get();
  ASSERT_TRUE(allowed) << allowed.err().message;
  EXPECT_EQ(allowed->body, "GET /plain ");
  plain_client->shutdown();
}

// -- connection reuse -----------------------------------------------------------------------

TEST_F(https_client_test, sequential_requests_reuse_one_connection) {
  test_server server(&certs().good, echo());
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  for (int i = 0; i < 5; ++i) {
    auto response = get(server.url("/n" + std::to_string(i)), "ehr");
    ASSERT_TRUE(response) << response.err().message;
    EXPECT_EQ(response->body, "GET /n" + std::to_string(i) + " ");
  }
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.requests().size(), 5u);
}

TEST_F(https_client_test, pool_is_keyed_by_trust_name) {
  test_server server(&certs().good, echo());
  start();
  ASSERT_TRUE(client_->add_trust("a", certs().ca.pem));
  ASSERT_TRUE(client_->add_trust("b", certs().ca.pem));
  ASSERT_TRUE(get(server.url("/"), "a"));
  ASSERT_TRUE(get(server.url("/"), "b"));  // verified under other anchors: not the same socket
  ASSERT_TRUE(get(server.url("/"), "a"));
  EXPECT_EQ(server.connections(), 2);
  // Replacing "a" closes its idle connection: the next "a" request connects anew.
  ASSERT_TRUE(client_->add_trust("a", certs().ca.pem));
  ASSERT_TRUE(get(server.url("/"), "a"));
  EXPECT_EQ(server.connections(), 3);
}

TEST_F(https_client_test, expired_idle_connections_are_closed_not_reused) {
  test_server server(&certs().good, echo());
  https_client_options options;
  options.idle_keep = 0s;  // every pooled connection is already expired
  start(options);
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(get(server.url("/"), "ehr"));
  EXPECT_EQ(server.connections(), 3);
  // The sweep timer closes them without any further request.
  EXPECT_TRUE(test_server::wait_for([&] { return server.closed() == 3; })) << server.closed();
}

TEST_F(https_client_test, idle_connection_closed_by_the_peer_is_replaced) {
  test_server server(&certs().good, [](const seen_request&, int) {
    return reply{reply::action::respond_then_close, http_response(200, "OK", "bye")};
  });
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  ASSERT_TRUE(get(server.url("/1"), "ehr"));
  ASSERT_TRUE(test_server::wait_for([&] { return server.closed() == 1; }));
  auto second = get(server.url("/2"), "ehr");
  ASSERT_TRUE(second) << second.err().message;
  EXPECT_EQ(second->body, "bye");
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests().size(), 2u);  // the dead connection was never written to
}

// The server reads the second request on a connection, then drops it without answering: what a
// keep-alive timeout racing with our write looks like.
handler_fn drop_second_request_on_each_connection() {
  return [](const seen_request& request, int index) {
    if (index == 1) return reply{reply::action::close_without_answer, {}};
    return respond(http_response(200, "OK", request.method + " " + request.target));
  };
}

TEST_F(https_client_test, get_is_resent_once_when_a_pooled_connection_dies_after_the_write) {
  test_server server(&certs().good, drop_second_request_on_each_connection());
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  ASSERT_TRUE(get(server.url("/first"), "ehr"));
  auto second = get(server.url("/second"), "ehr");
  ASSERT_TRUE(second) << second.err().message;
  EXPECT_EQ(second->body, "GET /second");
  EXPECT_EQ(server.connections(), 2);
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);  // /first, /second (dropped), /second again on a fresh connection
  EXPECT_EQ(seen[1].target, "/second");
  EXPECT_EQ(seen[2].target, "/second");
}

TEST_F(https_client_test, written_post_is_never_resent) {
  test_server server(&certs().good, drop_second_request_on_each_connection());
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  ASSERT_TRUE(get(server.url("/first"), "ehr"));
  outbound_request post;
  post.method = "POST";
  post.url = server.url("/token");
  post.trust = "ehr";
  post.body = "code=once";
  auto response = call(std::move(post));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.err().code, errc::unavailable);
  EXPECT_TRUE(contains(response.err().message, "not re-sent")) << response.err().message;
  EXPECT_EQ(server.connections(), 1);
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].method, "POST");
}

TEST_F(https_client_test, concurrent_sends_from_several_threads) {
  test_server server(&certs().good, echo());
  start({}, 2);
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  std::atomic<int> ok{0};
  std::vector<std::thread> senders;
  senders.reserve(4);
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto response = get(server.url("/t" + std::to_string(t)), "ehr");
        if (response && response->body == "GET /t" + std::to_string(t) + " ") ++ok;
      }
    });
  }
  for (auto& s : senders) s.join();
  EXPECT_EQ(ok, 20);
  EXPECT_LE(server.connections(), 8);  // reuse happened (at most 4 in flight at a time)
  EXPECT_EQ(server.requests().size(), 20u);
}

// -- shutdown and completion rules ------------------------------------------------------------

TEST_F(https_client_test, shutdown_fails_pending_requests_and_later_sends) {
  test_server server(&certs().good, [](const seen_request&, int) {
    return reply{reply::action::hang, {}};
  });
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  std::atomic<int> calls{0};
  std::vector<std::promise<result<outbound_response>>> promises(2);
  std::vector<std::future<result<outbound_response>>> futures;
  for (auto& p : promises) {
    futures.push_back(p.get_future());
    outbound_request request;
    request.url = server.url("/slow");
    request.trust = "ehr";
    client_->send(request, [&calls, &p](result<outbound_response> r) {
      if (++calls <= 2) p.set_value(std::move(r));
    });
  }
  ASSERT_TRUE(test_server::wait_for([&] { return server.requests().size() == 2; }));
  client_->shutdown();
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
    auto r = f.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::unavailable);
    EXPECT_TRUE(contains(r.err().message, "shut down")) << r.err().message;
  }
  auto later = get(server.url("/late"), "ehr");
  ASSERT_FALSE(later);
  EXPECT_EQ(later.err().code, errc::unavailable);
  client_->shutdown();  // idempotent
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls, 2);  // exactly once each
}

TEST_F(https_client_test, dropping_the_handle_after_shutdown_is_safe_with_handlers_queued) {
  test_server server(&certs().good, [](const seen_request&, int) {
    return reply{reply::action::hang, {}};
  });
  start();
  ASSERT_TRUE(client_->add_trust("ehr", certs().ca.pem));
  std::promise<result<outbound_response>> promise;
  auto future = promise.get_future();
  outbound_request request;
  request.url = server.url("/");
  request.trust = "ehr";
  client_->send(request,
                [&promise](result<outbound_response> r) { promise.set_value(std::move(r)); });
  ASSERT_TRUE(test_server::wait_for([&] { return server.requests().size() == 1; }));
  client_->shutdown();
  client_.reset();  // the abort is still queued on the io_context
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
  auto r = future.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable);
}

TEST(https_client, completion_is_never_called_inline) {
  boost::asio::io_context io;  // not running: nothing can complete until run()
  auto client = make_https_client(io);
  int calls = 0;
  std::optional<errc> code;
  outbound_request bad;
  bad.url = "not a url";
  client->send(bad, [&](const result<outbound_response>& r) {
    ++calls;
    if (!r) code = r.err().code;
  });
  outbound_request unknown_trust;
  unknown_trust.url = "https://127.0.0.1:1/";
  unknown_trust.trust = "missing";
  client->send(unknown_trust, [&](const result<outbound_response>&) { ++calls; });
  EXPECT_EQ(calls, 0);
  io.run();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(code, errc::invalid_argument);
}

}  // namespace
}  // namespace visitd::fhir
