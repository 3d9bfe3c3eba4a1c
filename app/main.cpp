#include "app/admin.hpp"
#include "app/config.hpp"
#include "app/serve.hpp"

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  // Before any thread exists, so all of them inherit the mask (see serve()).
  visitd::app::block_shutdown_signals();

  std::vector<std::string> args(argv + 1, argv + argc);
  auto invocation = visitd::app::parse_command_line(args);
  if (!invocation) {
    std::cerr << "visitd: " << invocation.err().message << "\n(see visitd --help)\n";
    return 2;
  }
  switch (invocation->what) {
    case visitd::app::command::help: std::cout << invocation->help_text; return 0;
    case visitd::app::command::version:
      std::cout << visitd::app::version_string() << "\n";
      return 0;
    case visitd::app::command::serve: return visitd::app::serve(invocation->settings);
    case visitd::app::command::create_operator:
      return visitd::app::create_operator(invocation->settings, invocation->login, std::cin,
                                          std::cout, std::cerr);
  }
  return 2;
}
