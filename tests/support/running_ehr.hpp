#pragma once

// The test EHR (tests/ehr_fixture: a SMART authorization server and FHIR endpoint) started for a
// test on 127.0.0.1, and a browser's part of a sign-in: following its redirects by hand.

#include "api_client.hpp"
#include "child_process.hpp"
#include "running_server.hpp"
#include "tls_client.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>

namespace visitd::test {

/// A running test EHR: every `/ehr/{name}/` is an independent EHR (issuer).
class running_ehr {
public:
  running_ehr(const std::string& binary, const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    auto log = (dir / "ehr.log").string();
    process_ = std::make_unique<child_process>(
      binary, std::vector<std::string>{"--port", "0", "--dir", dir.string()}, log);
    auto line = process_->wait_for_line("test-ehr listening on https://", std::chrono::seconds{30});
    if (!line) throw std::runtime_error("test EHR did not start; log:\n" + read_file(log));
    std::smatch m;
    if (!std::regex_search(*line, m, std::regex{R"(https://127\.0\.0\.1:(\d+))"}))
      throw std::runtime_error("no port in: " + *line);
    port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    ca_path_ = (dir / "ca.pem").string();
    ca_pem_ = read_file(ca_path_);
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& ca_path() const { return ca_path_; }
  [[nodiscard]] tls_client_options client() const { return {"127.0.0.1", port_, ca_pem_, 0}; }
  [[nodiscard]] std::string origin() const { return "https://127.0.0.1:" + std::to_string(port_); }
  /// The FHIR base (the `iss`) of EHR `name`.
  [[nodiscard]] std::string fhir_base(const std::string& name) const {
    return origin() + "/ehr/" + name + "/fhir";
  }

  /// A control call (JSON); throws unless it answers 2xx.
  http_reply control(const std::string& method, const std::string& path,
                     const std::string& body) const {
    tls_connection c{client()};
    auto reply = c.request(method, path, body, {{"Content-Type", "application/json"}});
    if (reply.status < 200 || reply.status > 299)
      throw std::runtime_error("test EHR " + path + ": " + std::to_string(reply.status) + " " +
                               reply.body);
    return reply;
  }

private:
  std::unique_ptr<child_process> process_;
  std::uint16_t port_ = 0;
  std::string ca_path_;
  std::string ca_pem_;
};

/// The path and query of an absolute URL on `origin` ("" when it is elsewhere).
inline std::string path_on(const std::string& url, const std::string& origin) {
  if (url.rfind(origin + "/", 0) != 0) return {};
  return url.substr(origin.size());
}

}  // namespace visitd::test
