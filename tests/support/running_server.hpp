#pragma once

// The real visitd binary, started for a test on 127.0.0.1 with an ephemeral port and its own
// data dir, and a temp directory that cleans up after itself.

#include "child_process.hpp"
#include "tls_client.hpp"

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace visitd::test {

namespace fs = std::filesystem;

class temp_dir {
public:
  temp_dir() {
    std::random_device rd;
    path_ =
      fs::temp_directory_path() / ("visitd-it-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~temp_dir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

/// A running visitd with its port and pinned certificate.
class running_server {
public:
  running_server(const std::string& binary, const fs::path& data_dir,
                 std::vector<std::string> extra_args = {}) {
    std::vector<std::string> args{"serve",      "--port",         "0", "--bind", "127.0.0.1",
                                  "--data-dir", data_dir.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    log_path_ = (data_dir.parent_path() / (data_dir.filename().string() + ".log")).string();
    process_ = std::make_unique<child_process>(binary, args, log_path_);
    auto line = process_->wait_for_line("listening on https://", std::chrono::seconds{30});
    if (!line) throw std::runtime_error("visitd did not start; log:\n" + log());
    std::smatch m;
    std::regex port_re{R"(https://127\.0\.0\.1:(\d+))"};
    if (!std::regex_search(*line, m, port_re)) throw std::runtime_error("no port in: " + *line);
    port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    cert_pem_ = read_file((data_dir / "tls" / "cert.pem").string());
  }

  [[nodiscard]] tls_client_options client() const { return {"127.0.0.1", port_, cert_pem_, 0}; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& certificate() const { return cert_pem_; }
  [[nodiscard]] std::string log() const {
    try {
      return read_file(log_path_);
    } catch (...) {
      return {};
    }
  }
  child_process& process() { return *process_; }

  /// Polls /readyz until 200 (readiness can lag the listening line by a few ms).
  void wait_ready() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        if (https_get(client(), "/readyz").status == 200) return;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    throw std::runtime_error("visitd never became ready; log:\n" + log());
  }

  int stop(int signal = SIGTERM) {
    process_->send_signal(signal);
    auto code = process_->wait_exit(std::chrono::seconds{30});
    if (!code) throw std::runtime_error("visitd did not exit after signal");
    return *code;
  }

private:
  std::unique_ptr<child_process> process_;
  std::string log_path_;
  std::uint16_t port_ = 0;
  std::string cert_pem_;
};

}  // namespace visitd::test
