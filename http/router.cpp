#include "http/router.hpp"

#include "http/errors.hpp"

#include <strings.h>

#include <algorithm>

namespace visitd::http {

std::string_view request::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), name.size()) == 0)
      return value;
  return {};
}

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < path.size()) {
    if (path[start] == '/') {
      ++start;
      continue;
    }
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end;
  }
  return out;
}

bool is_param(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void router::add(std::string method, std::string pattern, handler h) {
  std::vector<std::string> segments;
  for (auto s : split_path(pattern)) segments.emplace_back(s);
  routes_.push_back({std::move(method), std::move(pattern), std::move(segments), std::move(h)});
}

bool router::match(const route& r, const std::vector<std::string_view>& path_segments,
                   request* fill) {
  if (r.segments.size() != path_segments.size()) return false;
  for (std::size_t i = 0; i < r.segments.size(); ++i) {
    if (is_param(r.segments[i])) continue;
    if (r.segments[i] != path_segments[i]) return false;
  }
  if (fill) {
    for (std::size_t i = 0; i < r.segments.size(); ++i)
      if (is_param(r.segments[i]))
        fill->path_params.insert_or_assign(r.segments[i].substr(1, r.segments[i].size() - 2),
                                           std::string{path_segments[i]});
  }
  return true;
}

void router::add_socket(std::string pattern, socket_handler h) {
  std::vector<std::string> segments;
  for (auto s : split_path(pattern)) segments.emplace_back(s);
  sockets_.push_back({{"GET", std::move(pattern), std::move(segments), {}}, std::move(h)});
}

const socket_handler* router::find_socket(request& req) const {
  auto segments = split_path(req.path);
  for (const auto& s : sockets_) {
    if (!match(s.shape, segments, nullptr)) continue;
    match(s.shape, segments, &req);
    return &s.on_upgrade;
  }
  return nullptr;
}

void router::dispatch(request& req, const responder& respond) const {
  auto segments = split_path(req.path);
  std::string allowed;
  for (const auto& r : routes_) {
    if (!match(r, segments, nullptr)) continue;
    if (r.method == req.method || (req.method == "HEAD" && r.method == "GET")) {
      match(r, segments, &req);
      r.on_request(req, respond);
      return;
    }
    if (!allowed.empty()) allowed += ", ";
    allowed += r.method;
  }
  if (!allowed.empty()) {
    auto res = error_response(405, "method_not_allowed",
                              "method " + req.method + " is not allowed on " + req.path);
    res.headers.emplace_back("Allow", allowed);
    respond(std::move(res));
    return;
  }
  respond(error_response(404, "not_found", "no route for " + req.method + " " + req.path));
}

std::vector<std::string> router::describe() const {
  std::vector<std::string> out;
  for (const auto& r : routes_) out.push_back(r.method + " " + r.pattern);
  for (const auto& s : sockets_) out.push_back("GET " + s.shape.pattern);
  return out;
}

}  // namespace visitd::http
