#pragma once

// The live WebSockets of the API:
//   /api/v1/tenants/{tenant_id}/visits/{visit_id}/stream[?after=SEQ]   (staff, session cookie)
//       {"type":"snapshot","visit":{...}} (unless resuming), then {"type":"event",...} per
//       event in order; {"type":"dropped","reason","last_seq"} then close 4009 when the visit
//       stops serving the stream (resume with ?after=last_seq).
//   /api/v1/tenants/{tenant_id}/stream[?department=ID]                 (staff, session cookie)
//       The tenant's board: {"type":"snapshot","seq","visits":[summary...]}, then
//       {"type":"update","seq","visit":summary} per change of a visit's state or lobby/present
//       counts (seqs increase; a department filter sees a subset); {"type":"dropped","reason"}
//       then close 4009 when it falls behind: subscribe again for a fresh snapshot.
//   /join/{token}/socket                                              (patient or guest)
//       The link's participant joins the visit while the socket is open (a new device each
//       time) and leaves when it closes or stops answering pings. It is sent
//       {"type":"status","status":"waiting|admitted|denied|ended","position":N} whenever its
//       place changes, and {"type":"lobby_message","text"} for messages to it or the lobby.
//       It may send the lobby's device check result, {"type":"device_test","camera":bool,
//       "microphone":bool,"speaker":bool}: answered {"type":"device_test_recorded","seq"}
//       once durable, or {"type":"error","code","message"}.
// A browser's upgrade must come from this origin (Origin equal to https://<Host>): a page of
// another site cannot ride the session cookie.

#include "actors/runtime.hpp"
#include "auth/secret_key.hpp"
#include "http/router.hpp"

namespace visitd::http {

/// Close code sent after a "dropped" message: resubscribe with ?after=last_seq.
inline constexpr std::uint16_t close_resubscribe = 4009;

/// `runtime` and `join_link_key` must outlive the routes.
void add_stream_routes(router& routes, actors::runtime& runtime,
                       const auth::secret_key& join_link_key);

}  // namespace visitd::http
