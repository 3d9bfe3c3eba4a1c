#pragma once

// Runs a program (the real visitd binary) as a child process for integration tests: stdout is
// captured line by line, stderr goes to a file (so a chatty child never blocks on a full pipe).

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace visitd::test {

class child_process {
public:
  /// Starts `program` with `args`; stderr is appended to `stderr_path`. Throws on failure.
  child_process(const std::string& program, const std::vector<std::string>& args,
                const std::string& stderr_path);
  ~child_process();  ///< SIGKILLs the child if it is still running.
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Returns the first stdout line containing `needle`, or nullopt after `timeout` or EOF.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);

  void send_signal(int signal);

  /// Waits for exit; returns the exit code, 128+signal if killed, or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
  std::optional<int> exit_code_;
};

/// Runs a program to completion; returns exit code and stdout+stderr.
struct run_result {
  int exit_code;
  std::string output;
};
run_result run_to_completion(const std::string& program, const std::vector<std::string>& args);

}  // namespace visitd::test
