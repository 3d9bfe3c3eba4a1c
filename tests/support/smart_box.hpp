#pragma once

// One box with tenant `acme`, its admin and approver signed in, and the test EHR
// (tests/ehr_fixture), whose CA visitd trusts for acme only: shared by the SMART and write-back
// integration tests.

#include "api_client.hpp"
#include "running_ehr.hpp"
#include "running_server.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

namespace visitd::test {

inline const std::string operator_password = "first operator secret";
inline const std::string admin_password = "tenant admin secret";
inline const std::string approver_password = "approver secret words";

/// One box with tenant `acme` (generic SMART), its admin and approver signed in, and the test
/// EHR, whose CA visitd trusts for acme only.
class smart_box {
public:
  explicit smart_box(const std::string& ehr_kind = "generic_smart",
                     std::vector<std::string> server_args = {})
    : ehr_{VISITD_TEST_EHR, dir_.path() / "ehr"},
      box_{VISITD_BINARY, "ops", operator_password,
           with_trust(std::move(server_args), ehr_.ca_path())} {
    auto& c = box_.connection;
    auto op = sign_in(c, "ops", operator_password);
    auto admin =
      post_json(c, "/api/v1/accounts",
                R"({"login":"admin1","password":")" + admin_password + R"("})", op.headers());
    auto approver =
      post_json(c, "/api/v1/accounts",
                R"({"login":"approver1","password":")" + approver_password + R"("})", op.headers());
    if (admin.status != 201 || approver.status != 201)
      throw std::runtime_error("accounts: " + admin.body + approver.body);
    auto tenant =
      post_json(c, "/api/v1/tenants",
                R"({"id":"acme","display_name":"Acme Health","region":"local","admins":[")" +
                  json_string_field(admin.body, "id") + R"("],"approver":")" +
                  json_string_field(approver.body, "id") + R"(","ehr":")" + ehr_kind + R"("})",
                op.headers());
    if (tenant.status != 201) throw std::runtime_error("tenant: " + tenant.body);
    operator_ = op;
    admin_ = sign_in(c, "admin1", admin_password);
    approver_ = sign_in(c, "approver1", approver_password);
  }

  [[nodiscard]] std::string callback_uri(const std::string& endpoint) const {
    return "https://127.0.0.1:" + std::to_string(box_.server.port()) + "/smart/acme/" + endpoint +
           "/callback";
  }

  /// Creates endpoint `id` at EHR `ehr_name` and submits revision 1; registers the client there.
  /// A confidential client's keys are registered by URL (the EHR fetches visitd's JWKS), or
  /// with `inline_jwks` as the JWK Set itself (it outlives a restart on another port).
  void add_endpoint(const std::string& id, const std::string& ehr_name,
                    const std::string& client_type = "public", bool inline_jwks = false) {
    const std::string client_id = "visitd-" + id;
    auto created = post_json(box_.connection, "/api/v1/tenants/acme/endpoints",
                             R"({"id":")" + id + R"(","base_url":")" + ehr_.fhir_base(ehr_name) +
                               R"(","environment":"test","client_id":")" + client_id +
                               R"(","client_type":")" + client_type + R"("})",
                             admin_.headers());
    ASSERT_EQ(created.status, 201) << created.body;
    auto submitted =
      post_json(box_.connection, "/api/v1/tenants/acme/endpoints/" + id + "/revisions/1/submit", "",
                admin_.headers());
    ASSERT_EQ(submitted.status, 200) << submitted.body;
    std::string registration = R"({"client_id":")" + client_id + R"(","redirect_uris":[")" +
                               callback_uri(id) + R"("],"type":")";
    if (client_type == "public") {
      registration += R"(public"})";
    } else if (inline_jwks) {
      auto jwks = box_.connection.request("GET", "/smart/acme/jwks.json");
      registration += R"(confidential","jwks":)" + jwks.body + "}";
    } else {
      // The EHR fetches visitd's JWKS itself, over TLS, trusting visitd's certificate.
      std::string pem = box_.server.certificate();
      std::string escaped;
      for (char ch : pem) {
        if (ch == '\n')
          escaped += "\\n";
        else
          escaped += ch;
      }
      registration += R"(confidential","jwks_url":"https://127.0.0.1:)" +
                      std::to_string(box_.server.port()) + R"(/smart/acme/jwks.json",)" +
                      R"("jwks_url_ca_pem":")" + escaped + R"("})";
    }
    ehr_.control("POST", "/control/ehr/" + ehr_name + "/clients", registration);
  }

  /// An endpoint at `base_url` (no EHR registration), submitted.
  void add_endpoint_at(const std::string& id, const std::string& base_url) {
    auto created =
      post_json(box_.connection, "/api/v1/tenants/acme/endpoints",
                R"({"id":")" + id + R"(","base_url":")" + base_url +
                  R"(","environment":"test","client_id":"visitd","client_type":"public"})",
                admin_.headers());
    ASSERT_EQ(created.status, 201) << created.body;
    auto submitted =
      post_json(box_.connection, "/api/v1/tenants/acme/endpoints/" + id + "/revisions/1/submit", "",
                admin_.headers());
    ASSERT_EQ(submitted.status, 200) << submitted.body;
  }

  void behave(const std::string& ehr_name, const std::string& json) {
    ehr_.control("POST", "/control/ehr/" + ehr_name + "/behaviour", json);
  }

  struct started {
    http_reply reply;
    std::string authorize_path;  ///< Path and query on the EHR.
    std::string binding_cookie;  ///< "__Host-smart=..."
  };

  /// The approver starts validating revision `n` of `endpoint`.
  started start_validation(const std::string& endpoint, int n = 1,
                           const std::string& binding_cookie = {}) {
    auto headers = approver_.headers();
    // A browser sends its cookies together: the session's and the sign-in binding's.
    if (!binding_cookie.empty()) headers[0].second += "; " + binding_cookie;
    auto reply = post_json(box_.connection,
                           "/api/v1/tenants/acme/endpoints/" + endpoint + "/revisions/" +
                             std::to_string(n) + "/validation",
                           "", headers);
    started s{reply, path_on(json_string_field(reply.body, "authorize_url"), ehr_.origin()),
              cookie_pair(reply.headers["set-cookie"], "__Host-smart")};
    return s;
  }

  /// The browser at the EHR's authorize endpoint: the Location it is sent to (302).
  std::string authorize(const std::string& authorize_path) {
    tls_connection c{ehr_.client()};
    auto reply = c.request("GET", authorize_path);
    if (reply.status != 302)
      throw std::runtime_error("authorize: " + std::to_string(reply.status) + " " + reply.body);
    return reply.headers["location"];
  }

  /// The browser back at visitd's callback (asking for JSON, as a script would).
  http_reply callback(const std::string& location, const std::string& binding_cookie) {
    auto path = path_on(location, "https://127.0.0.1:" + std::to_string(box_.server.port()));
    if (path.empty()) throw std::runtime_error("redirected elsewhere: " + location);
    header_list headers{{"Accept", "application/json"}};
    if (!binding_cookie.empty()) headers.emplace_back("Cookie", binding_cookie);
    return box_.connection.request("GET", path, {}, headers);
  }

  /// The state of revision `n` as the portal shows it.
  std::string revision_state(const std::string& endpoint, int n = 1) {
    auto list =
      box_.connection.request("GET", "/api/v1/tenants/acme/endpoints", {}, admin_.headers());
    std::smatch m;
    std::regex re{"\"id\":\"" + endpoint + "\".*?\"number\":" + std::to_string(n) +
                  ",.*?\"state\":\"([a-z_]+)\""};
    if (!std::regex_search(list.body, m, re)) return "(not found in " + list.body + ")";
    return m[1].str();
  }

  /// The browser's launch from the EHR: visitd's launch URL, the EHR's authorize endpoint, and
  /// back to visitd's callback. The callback's reply (JSON).
  http_reply launch(const std::string& endpoint, const std::string& kind, const std::string& iss,
                    const std::string& launch_id) {
    auto path = "/smart/acme/" + endpoint + "/launch/" + kind + "?iss=" + iss;
    if (!launch_id.empty()) path += "&launch=" + launch_id;
    auto sent = box_.connection.request("GET", path, {}, {{"Accept", "application/json"}});
    if (sent.status != 302) return sent;
    auto cookie = cookie_pair(sent.headers["set-cookie"], "__Host-smart");
    auto authorize_path = path_on(sent.headers["location"], ehr_.origin());
    tls_connection c{ehr_.client()};
    auto at_ehr = c.request("GET", authorize_path);
    if (at_ehr.status != 302)
      throw std::runtime_error("authorize: " + std::to_string(at_ehr.status) + at_ehr.body);
    return callback(at_ehr.headers["location"], cookie);
  }

  /// A launch context at EHR `ehr_name` (the EHR's control API): the `launch` id.
  std::string ehr_launch(const std::string& ehr_name, const std::string& context_json) {
    auto made = ehr_.control("POST", "/control/ehr/" + ehr_name + "/launches", context_json);
    return json_string_field(made.body, "launch");
  }

  void approve_by_admin(const std::string& endpoint) {
    auto approved = post_json(box_.connection,
                              "/api/v1/tenants/acme/endpoints/" + endpoint + "/revisions/1/approve",
                              "", admin_.headers());
    ASSERT_EQ(approved.status, 200) << approved.body;
  }

  static std::vector<std::string> with_trust(std::vector<std::string> args,
                                             const std::string& ca_path) {
    args.insert(args.end(), {"--ehr-ca", "acme=" + ca_path});
    return args;
  }

  temp_dir dir_;
  running_ehr ehr_;
  started_box box_;
  signed_in_caller operator_;
  signed_in_caller admin_;
  signed_in_caller approver_;
};

}  // namespace visitd::test
