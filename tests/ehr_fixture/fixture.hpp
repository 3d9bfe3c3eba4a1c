#pragma once

// The test EHR as an HTTP handler: many independent SMART issuers under /ehr/{name}/ and the
// control API under /control/ehr/{name}/ (see README.md).

#include "http_types.hpp"
#include "jose.hpp"

#include <memory>
#include <string>

namespace visitd::test_ehr {

/// `origin` is "https://127.0.0.1:<port>"; `key` signs id_tokens and must outlive the handler;
/// `post` runs a function on the io thread, `after` does so after a delay (a timer). The handler
/// joins its worker threads when destroyed.
[[nodiscard]] std::unique_ptr<http_handler> make_fixture(std::string origin, const signing_key& key,
                                                         post_fn post, after_fn after);

}  // namespace visitd::test_ehr
