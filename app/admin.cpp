#include "app/admin.hpp"

#include "actors/wall_clock.hpp"
#include "auth/passwords.hpp"
#include "auth/tokens.hpp"
#include "domain/account.hpp"
#include "domain/audit.hpp"
#include "domain/tenant.hpp"
#include "storage/accounts.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"

#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>

namespace visitd::app {

namespace {

/// Turns terminal echo off while a password is typed (only when stdin is a terminal).
class echo_off {
public:
  explicit echo_off(bool active) : active_(active && ::isatty(STDIN_FILENO) == 1) {
    if (!active_ || ::tcgetattr(STDIN_FILENO, &saved_) != 0) {
      active_ = false;
      return;
    }
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  ~echo_off() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  echo_off(const echo_off&) = delete;
  echo_off& operator=(const echo_off&) = delete;

private:
  bool active_;
  termios saved_{};
};

}  // namespace

int create_operator(const config& settings, const std::string& typed_login,
                    std::istream& password_in, std::ostream& out, std::ostream& err) {
  auto login = domain::normalize_login(typed_login);
  if (auto ok = domain::validate_login(login); !ok) {
    err << "visitd: " << ok.err().message << "\n";
    return 1;
  }

  std::string password;
  {
    const bool from_terminal = &password_in == &std::cin;
    if (from_terminal && ::isatty(STDIN_FILENO) == 1) err << "password for " << login << ": ";
    echo_off quiet{from_terminal};
    std::getline(password_in, password);
    if (from_terminal && ::isatty(STDIN_FILENO) == 1) err << "\n";
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  auto hash = auth::hash_password(password);
  std::fill(password.begin(), password.end(), '\0');
  if (!hash) {
    err << "visitd: " << hash.err().message << "\n";
    return 1;
  }

  // On a new box this runs before the first `visitd serve`, so it may make the data directory.
  std::error_code ec;
  std::filesystem::create_directories(settings.data_dir, ec);
  if (ec) {
    err << "visitd: cannot create the data directory " << settings.data_dir << ": " << ec.message()
        << "\n";
    return 1;
  }
  std::filesystem::path db = std::filesystem::path{settings.data_dir} / "db";
  auto store = storage::open_rocksdb_store({db.string(), settings.durability});
  if (!store) {
    err << "visitd: cannot open the store at " << db.string() << ": " << store.err().message
        << "\n";
    if (store.err().message.find("lock") != std::string::npos)
      err << "(is visitd running? stop it first: the store allows one process at a time)\n";
    return 1;
  }
  auto taken = storage::find_account_by_login(**store, login);
  if (!taken) {
    err << "visitd: " << taken.err().message << "\n";
    return 1;
  }
  if (taken->has_value()) {
    err << "visitd: login " << login << " is taken (account " << (*taken)->id.str() << ")\n";
    return 1;
  }

  // The token alphabet is the id alphabet; 12 characters (72 random bits) are plenty for ids.
  auto id = domain::account_id::parse("op-" + auth::random_token().substr(0, 12));
  auto account =
    domain::make_account(std::move(*id), login, std::move(*hash), true, actors::wall_clock_now());
  if (!account) {
    err << "visitd: " << account.err().message << "\n";
    return 1;
  }
  auto ops = storage::account_ops(nullptr, *account);
  auto audit = domain::make_audit_entry(domain::box_tenant(), account->id, "operator.create",
                                        account->id.str(), account->created_at, "",
                                        R"({"login":")" + login + R"(","operator":true})");
  if (!audit) {
    err << "visitd: " << audit.err().message << "\n";
    return 1;
  }
  auto audit_write = storage::audit_ops(*audit, 0);
  ops.insert(ops.end(), audit_write.begin(), audit_write.end());
  if (auto written = (*store)->write(ops); !written) {
    err << "visitd: " << written.err().message << "\n";
    return 1;
  }
  if (auto closed = (*store)->close(); !closed) {
    err << "visitd: " << closed.err().message << "\n";
    return 1;
  }
  out << account->id.str() << "\n";
  return 0;
}

}  // namespace visitd::app
