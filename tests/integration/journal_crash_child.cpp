// Child of the journal crash test: appends groups (an event and its outbox entry) through the
// journal from several producer threads as fast as it can, and writes one line per
// acknowledged group to stdout ("<producer> <seq>\n"), strictly after the acknowledgement.
// The parent SIGKILLs it at a random moment.

#include "storage/journal.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR PRODUCERS\n", argv[0]);
    return 2;
  }
  using namespace visitd::storage;
  auto s = open_rocksdb_store({argv[1], durability::sync});
  if (!s) {
    std::fprintf(stderr, "open: %s\n", s.err().message.c_str());
    return 1;
  }
  auto j = start_journal(**s);
  int producers = std::stoi(argv[2]);
  std::mutex out;
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (std::uint64_t seq = 0;; ++seq) {
        auto digits = std::to_string(seq);
        auto key = std::string{"p"}.append(std::to_string(p)).append("/");
        key.append(20 - digits.size(), '0').append(digits);
        std::vector<write_op> ops;
        ops.push_back({column::events, key, "event " + key});
        ops.push_back({column::outbox, key, "outbox " + key});
        if (!j->append_and_wait(std::move(ops))) return;
        auto line = std::to_string(p) + " " + std::to_string(seq) + "\n";
        std::lock_guard lock{out};
        if (::write(STDOUT_FILENO, line.data(), line.size()) < 0) return;
      }
    });
  }
  for (auto& t : threads) t.join();
}
