// docs/api/openapi.yaml and the routes the server registers must list the same operations:
// a route added in code without its spec, or a spec entry without code, fails here.

#include "app/routes.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

namespace visitd::app {
namespace {

/// Never called: the test only registers routes.
class no_runtime final : public actors::runtime {
public:
  void probe_readiness(completion) override {}
  void sign_in(std::string, std::string, std::string, reply<actors::signed_in>) override {}
  void authenticate(std::string, reply<actors::session_info>) override {}
  void sign_out(std::string, completion) override {}
  void create_account(actors::new_account, reply<domain::account>) override {}
  void link_ehr_user(actors::ehr_link_request, reply<domain::account>) override {}
  void create_api_token(actors::new_api_token, reply<actors::issued_api_token>) override {}
  void list_api_tokens(domain::tenant_id, reply<std::vector<domain::api_token>>) override {}
  void revoke_api_token(actors::api_token_revocation, completion) override {}
  void authenticate_api_token(std::string, reply<actors::session_info>) override {}
  void create_tenant(domain::tenant, domain::account_id, std::string,
                     reply<domain::tenant>) override {}
  void list_tenants(reply<std::vector<domain::tenant>>) override {}
  void get_tenant(domain::tenant_id, reply<domain::tenant>) override {}
  void change_tenant(domain::tenant_id, actors::tenant_command, reply<domain::tenant>) override {}
  void change_endpoint(domain::tenant_id, actors::endpoint_command,
                       reply<domain::fhir_endpoint>) override {}
  void list_endpoints(domain::tenant_id, reply<std::vector<domain::fhir_endpoint>>) override {}
  void open_visit(domain::visit_info, domain::account_id, reply<domain::visit_state>) override {}
  void record_audit(domain::audit_entry, completion) override {}
  void get_visit(domain::visit_id, reply<domain::visit_state>) override {}
  void read_visit(domain::visit_id, reply<domain::visit_state>) override {}
  void subscribe_visit(domain::visit_id, std::optional<std::uint64_t>,
                       std::shared_ptr<actors::visit_stream_sink>,
                       reply<std::shared_ptr<actors::visit_stream>>) override {}
  void list_board(domain::tenant_id, std::optional<domain::department_id>,
                  reply<std::vector<actors::visit_summary>>) override {}
  void subscribe_board(domain::tenant_id, std::optional<domain::department_id>,
                       std::shared_ptr<actors::board_stream_sink>,
                       reply<std::shared_ptr<actors::visit_stream>>) override {}
  void visit_command(domain::visit_id, domain::command, reply<std::uint64_t>) override {}
  void read_audit(domain::tenant_id, domain::timestamp, domain::timestamp, std::uint64_t,
                  reply<std::vector<domain::audit_entry>>) override {}
  void decide_revision(domain::tenant_id, domain::endpoint_id, domain::revision_number,
                       domain::account_id, bool, reply<domain::fhir_endpoint>) override {}
  void ehr_sign_in(domain::tenant_id, domain::ehr_user_id, reply<actors::signed_in>) override {}
  void begin_validation(domain::tenant_id, domain::endpoint_id, domain::revision_number,
                        domain::account_id, reply<actors::pending_validation>) override {}
  void complete_validation(domain::tenant_id, domain::endpoint_id, domain::revision_number,
                           std::string, domain::account_id, domain::ehr_user_id,
                           reply<domain::fhir_endpoint>) override {}
  void write_back_status(domain::tenant_id, domain::endpoint_id,
                         reply<actors::write_back_status>) override {}
  void write_back_statuses(reply<std::vector<actors::write_back_status>>) override {}
  void dead_letters(domain::tenant_id, domain::endpoint_id, std::uint64_t,
                    reply<std::vector<domain::dead_letter>>) override {}
  void redrive_dead_letters(domain::tenant_id, domain::endpoint_id, reply<std::uint64_t>) override {
  }
  void shutdown() override {}
};

/// "METHOD /path" for every operation under `paths:` (two-space path keys, four-space methods;
/// the spec is kept in that plain layout).
std::set<std::string> spec_operations(const std::string& file) {
  std::ifstream in{file};
  EXPECT_TRUE(in) << file;
  std::set<std::string> out;
  std::string line;
  std::string path;
  bool in_paths = false;
  const std::set<std::string> methods{"get", "post", "put", "patch", "delete"};
  while (std::getline(in, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!in_paths) continue;
    if (!line.empty() && line[0] != ' ') break;  // the next top-level key
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
      continue;
    }
    if (line.rfind("    ", 0) == 0 && line.size() > 4 && line[4] != ' ') {
      auto key = line.substr(4, line.find(':') - 4);
      if (methods.contains(key)) {
        std::transform(key.begin(), key.end(), key.begin(), ::toupper);
        out.insert(key + " " + path);
      }
    }
  }
  return out;
}

TEST(openapi, every_route_is_in_the_spec_and_every_spec_operation_is_a_route) {
  no_runtime runtime;
  http::router routes;
  auto key = auth::secret_key::generate();
  add_all_routes(
    routes, runtime, std::chrono::hours{12}, key,
    [] { return std::string{"https://visits.example.org"}; }, http::smart_services{});
  std::set<std::string> code;
  for (auto& r : routes.describe()) {
    // The router writes path parameters as {name}; so does OpenAPI.
    code.insert(r);
  }
  auto spec = spec_operations(std::string{VISITD_SOURCE_DIR} + "/docs/api/openapi.yaml");
  for (const auto& op : code) EXPECT_TRUE(spec.contains(op)) << op << " is not in openapi.yaml";
  for (const auto& op : spec) EXPECT_TRUE(code.contains(op)) << op << " is in openapi.yaml only";
  EXPECT_GE(code.size(), 5u);
}

}  // namespace
}  // namespace visitd::app
