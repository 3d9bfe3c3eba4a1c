// visitd-test-ehr: a SMART App Launch 2.x authorization server and FHIR R4 endpoint for
// integration tests only (see README.md). Usage: visitd-test-ehr --port 0 --dir <dir>

#include "fixture.hpp"
#include "jose.hpp"
#include "pki.hpp"
#include "server.hpp"

#include <csignal>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace {

int usage() {
  std::cerr << "usage: visitd-test-ehr --port <port, 0 = ephemeral> --dir <dir for ca.pem>\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace visitd::test_ehr;
  std::string port_text = "0";
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return usage();
    if (arg == "--port")
      port_text = argv[++i];
    else if (arg == "--dir")
      dir = argv[++i];
    else
      return usage();
  }
  if (dir.empty()) return usage();
  // The jwks_url fetch writes to sockets with plain SSL_write: a peer that hung up must not
  // kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    unsigned long port = std::stoul(port_text);
    if (port > 65535) return usage();
    auto tls = make_tls_material();
    std::filesystem::create_directories(dir);
    {
      std::ofstream out{std::filesystem::path{dir} / "ca.pem", std::ios::binary | std::ios::trunc};
      out << tls.ca_pem;
      if (!out.flush()) throw std::runtime_error("cannot write ca.pem in " + dir);
    }
    auto key = signing_key::generate();
    server_options options{static_cast<std::uint16_t>(port), tls.cert_pem, tls.key_pem};
    return serve(options, [&key](const std::string& origin, post_fn post, after_fn after) {
      return make_fixture(origin, *key, std::move(post), std::move(after));
    });
  } catch (const std::exception& e) {
    std::cerr << "visitd-test-ehr: " << e.what() << "\n";
    return 1;
  }
}
