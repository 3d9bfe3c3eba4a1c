// A stand-in for libFuzzer's main when the fuzz targets are built with g++ (the default): runs
// LLVMFuzzerTestOneInput once on every file named on the command line or found directly in a
// directory named there, so CTest replays the committed seed corpus (and any crash reproducer)
// on every build. Fails when it found no input, so a moved corpus cannot pass silently.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void run_file(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  const std::vector<char> bytes{std::istreambuf_iterator<char>{in},
                                std::istreambuf_iterator<char>{}};
  // A fresh heap copy of exactly `size` bytes, as libFuzzer passes it, so ASan sees overreads.
  const auto size = bytes.size();
  const auto copy = std::make_unique<std::uint8_t[]>(std::max<std::size_t>(size, 1));
  std::copy(bytes.begin(), bytes.end(), copy.get());
  (void)LLVMFuzzerTestOneInput(copy.get(), size);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg{argv[i]};
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator{arg})
        if (entry.is_regular_file()) files.push_back(entry.path());
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(arg);
    }
    for (const auto& file : files) {
      std::cout << "replay " << file.string() << std::endl;
      run_file(file);
      ++count;
    }
  }
  std::cout << argv[0] << ": replayed " << count << " inputs" << std::endl;
  return count > 0 ? 0 : 1;
}
