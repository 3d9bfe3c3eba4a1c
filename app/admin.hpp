#pragma once

// `visitd admin ...`: offline administration on the data directory, for what must exist before
// anyone can sign in. It opens the store itself, so the server must not be running (RocksDB's
// lock refuses a second opener, and the message says so).

#include "app/config.hpp"

#include <istream>
#include <ostream>
#include <string>

namespace visitd::app {

/// `visitd admin create-operator LOGIN`: reads the password from `password_in` (one line; echo
/// is turned off when it is a terminal), creates an operator account with it, records the action
/// in the box's audit log, and prints the new account id. Returns the process exit code: 0, 1
/// for a refusal (login taken or invalid, weak password, store locked) with the reason on `err`.
int create_operator(const config& settings, const std::string& login, std::istream& password_in,
                    std::ostream& out, std::ostream& err);

}  // namespace visitd::app
