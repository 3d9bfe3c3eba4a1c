#include "url_fetch.hpp"

#include "tls_client.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <exception>

namespace visitd::test_ehr {

fetch_result fetch_https(const std::string& url, const std::string& ca_pem) {
  fetch_result result;
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    result.error = "jwks_url is not an absolute URL";
    return result;
  }
  const auto& u = *parsed;
  if (u.scheme() != "https") {
    result.error = "jwks_url is not https";
    return result;
  }
  test::tls_client_options options;
  if (u.host_type() == boost::urls::host_type::ipv4)
    options.host = std::string{u.encoded_host()};
  else if (u.encoded_host() == "localhost")
    options.host = "127.0.0.1";
  else {
    result.error = "jwks_url host must be an IPv4 literal or localhost (test client limit)";
    return result;
  }
  options.port = u.has_port() ? u.port_number() : 443;
  options.pinned_certificate_pem = ca_pem;
  std::string target{u.encoded_path()};
  if (target.empty()) target.push_back('/');  // not `= "/"`: GCC 12 false -Wrestrict
  if (u.has_query()) {
    target.push_back('?');
    target.append(u.encoded_query());
  }
  try {
    test::tls_connection connection{options};
    auto reply = connection.request("GET", target, {}, {{"Accept", "application/json"}});
    if (reply.status != 200) {
      result.error = "jwks_url answered ";
      result.error.append(std::to_string(reply.status));
      return result;
    }
    result.ok = true;
    result.body = std::move(reply.body);
  } catch (const std::exception& e) {
    result.error = "jwks_url fetch failed: ";
    result.error.append(e.what());
  }
  return result;
}

}  // namespace visitd::test_ehr
