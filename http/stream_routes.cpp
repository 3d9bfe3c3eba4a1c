#include "http/stream_routes.hpp"

#include "actors/wall_clock.hpp"
#include "auth/join_links.hpp"
#include "auth/tokens.hpp"
#include "domain/time_format.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/query_params.hpp"
#include "http/session_auth.hpp"
#include "http/visit_json.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <mutex>

namespace visitd::http {

namespace {

/// False for a browser upgrade from another origin (non-browser clients send no Origin).
bool same_origin(const request& req) {
  auto origin = req.header("Origin");
  return origin.empty() || origin == "https://" + std::string{req.header("Host")};
}

/// Holds a listener's channel and stream subscription; callbacks come from the io thread and
/// from CAF threads, so both are guarded.
class stream_holder {
public:
  void set_channel(std::shared_ptr<socket_channel> c) {
    std::lock_guard lock{mutex_};
    channel_ = std::move(c);
  }
  std::shared_ptr<socket_channel> channel() {
    std::lock_guard lock{mutex_};
    return channel_;
  }
  /// Sends `o` as one text message, unless the socket has closed.
  void send(const boost::json::object& o) {
    if (auto c = channel()) c->send(boost::json::serialize(o));
  }
  /// Keeps `s` unless the socket already closed (then it is cancelled at once).
  void set_stream(std::shared_ptr<actors::visit_stream> s) {
    std::lock_guard lock{mutex_};
    if (closed_)
      s->cancel();
    else
      stream_ = std::move(s);
  }
  void close() {
    std::lock_guard lock{mutex_};
    closed_ = true;
    if (stream_) stream_->cancel();
    stream_.reset();
    channel_.reset();
  }

private:
  std::mutex mutex_;
  std::shared_ptr<socket_channel> channel_;
  std::shared_ptr<actors::visit_stream> stream_;
  bool closed_ = false;
};

// -- staff: the visit's stream ------------------------------------------------------------------

class staff_sink final : public actors::visit_stream_sink {
public:
  explicit staff_sink(std::shared_ptr<stream_holder> holder) : holder_(std::move(holder)) {}
  void on_snapshot(const domain::visit_state& s) override {
    holder_->send({{"type", "snapshot"}, {"seq", s.last_seq}, {"visit", visit_json(s)}});
  }
  void on_events(const std::vector<domain::event_envelope>& events) override {
    for (const auto& e : events) {
      auto out = event_json(e);
      out["type"] = "event";
      out["event"] = domain::event_name(e.event);
      holder_->send(out);
    }
  }
  void on_dropped(const std::string& reason, std::uint64_t last_seq) override {
    holder_->send({{"type", "dropped"}, {"reason", reason}, {"last_seq", last_seq}});
    if (auto c = holder_->channel()) c->close(close_resubscribe, "resubscribe with ?after=");
  }

private:
  std::shared_ptr<stream_holder> holder_;
};

/// The reply of a staff view's subscription: the stream is kept for the socket's life, or the
/// socket is closed saying why it could not be had.
std::function<void(domain::result<std::shared_ptr<actors::visit_stream>>)> keep_stream_in(
  std::shared_ptr<stream_holder> holder) {
  return [holder = std::move(holder)](domain::result<std::shared_ptr<actors::visit_stream>> s) {
    if (!s) {
      if (auto c = holder->channel()) c->close(1011, s.err().message.substr(0, 100));
      return;
    }
    holder->set_stream(std::move(*s));
  };
}

/// A staff view (a visit's stream, a tenant's board): subscribes when the socket opens and ends
/// the subscription when it closes. Staff send nothing on it: they act over REST.
class view_listener final : public socket_listener {
public:
  using subscriber = std::function<void(const std::shared_ptr<stream_holder>&)>;
  explicit view_listener(subscriber subscribe) : subscribe_(std::move(subscribe)) {}
  void on_open(std::shared_ptr<socket_channel> channel) override {
    holder_->set_channel(std::move(channel));
    subscribe_(holder_);
  }
  void on_text(std::string_view) override {}
  void on_close() override { holder_->close(); }

private:
  subscriber subscribe_;
  std::shared_ptr<stream_holder> holder_ = std::make_shared<stream_holder>();
};

// -- staff: the tenant's board -------------------------------------------------------------------

class board_sink final : public actors::board_stream_sink {
public:
  explicit board_sink(std::shared_ptr<stream_holder> holder) : holder_(std::move(holder)) {}
  void on_snapshot(std::uint64_t seq, const std::vector<actors::visit_summary>& visits) override {
    boost::json::array items;
    for (const auto& v : visits) items.emplace_back(summary_json(v));
    holder_->send({{"type", "snapshot"}, {"seq", seq}, {"visits", std::move(items)}});
  }
  void on_update(std::uint64_t seq, const actors::visit_summary& v) override {
    holder_->send({{"type", "update"}, {"seq", seq}, {"visit", summary_json(v)}});
  }
  void on_dropped(const std::string& reason) override {
    holder_->send({{"type", "dropped"}, {"reason", reason}});
    if (auto c = holder_->channel()) c->close(close_resubscribe, "subscribe again");
  }

private:
  std::shared_ptr<stream_holder> holder_;
};

// -- patient/guest: the join socket -------------------------------------------------------------

/// The participant's own view, kept by applying the visit's events to its state (the same fold
/// as the actor's), so status and queue position are always those of the durable events.
class participant_sink final : public actors::visit_stream_sink {
public:
  participant_sink(std::shared_ptr<stream_holder> holder, domain::participant_id me)
    : holder_(std::move(holder)), me_(std::move(me)) {}

  void on_snapshot(const domain::visit_state& s) override {
    std::lock_guard lock{mutex_};
    state_ = s;
    report();
  }
  void on_events(const std::vector<domain::event_envelope>& events) override {
    std::lock_guard lock{mutex_};
    if (!state_) return;
    for (const auto& e : events) {
      domain::apply(*state_, e);
      if (const auto* m = std::get_if<domain::lobby_message>(&e.event);
          m && (!m->to || *m->to == me_))
        holder_->send({{"type", "lobby_message"}, {"text", m->text}});
    }
    report();
  }
  void on_dropped(const std::string&, std::uint64_t) override {
    if (auto c = holder_->channel()) c->close(close_resubscribe, "reconnect");
  }

private:
  void report() {
    std::string status = "waiting";
    std::size_t position = 0;
    if (state_->status == domain::visit_status::ended) {
      status = "ended";
    } else if (auto it = state_->participants.find(me_); it != state_->participants.end()) {
      if (it->second.status == domain::admission::admitted) status = "admitted";
      if (it->second.status == domain::admission::denied) status = "denied";
      auto q = std::find(state_->lobby.begin(), state_->lobby.end(), me_);
      if (q != state_->lobby.end())
        position = static_cast<std::size_t>(q - state_->lobby.begin()) + 1;
    }
    if (status == last_status_ && position == last_position_) return;
    last_status_ = status;
    last_position_ = position;
    boost::json::object out{{"type", "status"}, {"status", status}};
    if (position > 0) out["position"] = position;
    holder_->send(out);
  }

  std::shared_ptr<stream_holder> holder_;
  domain::participant_id me_;
  std::mutex mutex_;
  std::optional<domain::visit_state> state_;
  std::string last_status_;
  std::size_t last_position_ = 0;
};

class participant_listener final : public socket_listener {
public:
  participant_listener(actors::runtime& runtime, domain::join_grant grant)
    : runtime_(runtime),
      grant_(std::move(grant)),
      me_(*domain::participant_id::parse("p-" + grant_.participant.str())),
      device_(*domain::device_id::parse("d-" + auth::random_token().substr(0, 12))) {}

  void on_open(std::shared_ptr<socket_channel> channel) override {
    holder_->set_channel(std::move(channel));
    // Presence: connected while this socket is open. The stream starts after the join so its
    // snapshot already holds the participant.
    runtime_.visit_command(grant_.visit,
                           domain::cmd::join{me_, device_, grant_.role, grant_.participant},
                           [this_runtime = &runtime_, holder = holder_, visit = grant_.visit,
                            me = me_](const domain::result<std::uint64_t>& joined) {
                             if (!joined) {
                               if (auto c = holder->channel())
                                 c->close(1011, joined.err().message.substr(0, 100));
                               return;
                             }
                             this_runtime->subscribe_visit(
                               visit, std::nullopt, std::make_shared<participant_sink>(holder, me),
                               [holder](domain::result<std::shared_ptr<actors::visit_stream>> s) {
                                 if (s) holder->set_stream(std::move(*s));
                               });
                           });
  }
  /// The lobby's device check reports its outcome here: {"type":"device_test","camera":bool,
  /// "microphone":bool,"speaker":bool}. Answered {"type":"device_test_recorded","seq"} once the
  /// event is durable, or {"type":"error","code","message"} (the socket stays open).
  void on_text(std::string_view text) override {
    auto parsed = parse_json_object(text, {"type", "camera", "microphone", "speaker"});
    auto fail = [holder = holder_](std::string_view code, const std::string& message) {
      holder->send({{"type", "error"}, {"code", code}, {"message", message}});
    };
    if (auto* err = std::get_if<body_error>(&parsed)) return fail(err->code, err->message);
    const auto& f = std::get<json_fields>(parsed);
    std::string type;
    if (auto err = f.string("type", type, 32)) return fail(err->code, err->message);
    if (type != "device_test") return fail("invalid_field", "type: must be device_test");
    domain::cmd::report_device_test report{me_, device_};
    for (auto [name, out] :
         {std::pair{"camera", &report.camera_ok}, std::pair{"microphone", &report.microphone_ok},
          std::pair{"speaker", &report.speaker_ok}}) {
      if (!f.has(name)) return fail("invalid_field", std::string{name} + ": is required");
      if (auto err = f.optional_bool(name, *out)) return fail(err->code, err->message);
    }
    runtime_.visit_command(grant_.visit, report,
                           [fail, holder = holder_](const domain::result<std::uint64_t>& seq) {
                             if (!seq)
                               return fail(domain::to_string(seq.err().code), seq.err().message);
                             holder->send({{"type", "device_test_recorded"}, {"seq", *seq}});
                           });
  }
  void on_close() override {
    holder_->close();
    runtime_.visit_command(grant_.visit, domain::cmd::leave{me_, device_},
                           [](const domain::result<std::uint64_t>&) {});
  }

private:
  actors::runtime& runtime_;
  domain::join_grant grant_;
  domain::participant_id me_;
  domain::device_id device_;
  std::shared_ptr<stream_holder> holder_ = std::make_shared<stream_holder>();
};

std::optional<std::uint64_t> after_param(std::string_view query, bool& bad) {
  if (query.empty()) return std::nullopt;
  if (query.rfind("after=", 0) != 0 || query.find('&') != std::string_view::npos) {
    bad = true;
    return std::nullopt;
  }
  auto text = query.substr(6);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size()) bad = true;
  return n;
}

}  // namespace

void add_stream_routes(router& routes, actors::runtime& runtime,
                       const auth::secret_key& join_link_key) {
  routes.add_socket(
    "/api/v1/tenants/{tenant_id}/visits/{visit_id}/stream",
    [&runtime](request& req, const socket_decision& decide) {
      if (!same_origin(req))
        return decide.reject(error_response(403, "forbidden", "cross-origin WebSocket"));
      bool bad = false;
      auto after = after_param(req.query, bad);
      if (bad)
        return decide.reject(error_response(400, "invalid_field", "after: must be a seq number"));
      auto visit = domain::visit_id::parse(req.path_params["visit_id"]);
      auto reject = decide.reject;
      auto accept = decide.accept;
      with_tenant_staff(
        runtime, req, reject, false,
        [&runtime, reject, accept, visit, after](const actors::session_info&,
                                                 const domain::tenant& t) {
          auto missing = [] { return error_response(404, "not_found", "no such visit"); };
          if (!visit) return reject(missing());
          runtime.get_visit(*visit, [&runtime, reject, accept, id = *visit, after, tenant = t.id,
                                     missing](domain::result<domain::visit_state> v) {
            if (!v || v->info.tenant != tenant) return reject(missing());
            accept(std::make_shared<view_listener>(
              [&runtime, id, after](const std::shared_ptr<stream_holder>& holder) {
                runtime.subscribe_visit(id, after, std::make_shared<staff_sink>(holder),
                                        keep_stream_in(holder));
              }));
          });
        });
    });

  routes.add_socket(
    "/api/v1/tenants/{tenant_id}/stream", [&runtime](request& req, const socket_decision& decide) {
      if (!same_origin(req))
        return decide.reject(error_response(403, "forbidden", "cross-origin WebSocket"));
      auto params = query_params::parse(req.query, {"department"});
      if (!params) return decide.reject(error_response(params.err()));
      std::optional<domain::department_id> department;
      if (auto text = params->get("department")) {
        auto id = domain::department_id::parse(*text);
        if (!id)
          return decide.reject(
            error_response(400, "invalid_field", "department: " + id.err().message));
        department = std::move(*id);
      }
      auto accept = decide.accept;
      with_tenant_staff(
        runtime, req, decide.reject, false,
        [&runtime, accept, department](const actors::session_info&, const domain::tenant& t) {
          accept(std::make_shared<view_listener>(
            [&runtime, tenant = t.id, department](const std::shared_ptr<stream_holder>& holder) {
              runtime.subscribe_board(tenant, department, std::make_shared<board_sink>(holder),
                                      keep_stream_in(holder));
            }));
        });
    });

  routes.add_socket("/join/{token}/socket", [&runtime, &join_link_key](
                                              request& req, const socket_decision& decide) {
    if (!same_origin(req))
      return decide.reject(error_response(403, "forbidden", "cross-origin WebSocket"));
    auto now = actors::wall_clock_now();
    auto grant = auth::open_join_link(join_link_key, req.path_params["token"], now);
    if (!grant) return decide.reject(error_response(grant.err()));
    runtime.get_visit(
      grant->visit, [&runtime, decide, grant = *grant](domain::result<domain::visit_state> v) {
        if (!v) return decide.reject(error_response(404, "not_found", "the visit is not open"));
        if (v->status == domain::visit_status::ended)
          return decide.reject(error_response(409, "conflict", "the visit has ended"));
        decide.accept(std::make_shared<participant_listener>(runtime, grant));
      });
  });
}

}  // namespace visitd::http
