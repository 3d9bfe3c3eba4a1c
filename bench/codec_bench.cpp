// Encode/decode cost per visit event (the journal's and recovery's per-event CPU), next to a
// copy of the same bytes as the floor.

#include "domain/event_codec.hpp"

#include <benchmark/benchmark.h>

#include <string>

namespace {

using namespace visitd::domain;

template <class Id>
Id id(std::string_view text) {
  return *Id::parse(text);
}

event_envelope sample(int kind) {
  timestamp t{std::chrono::microseconds{1'700'000'000'000'000}};
  auto p = id<participant_id>("p-6f1c2a9e4b");
  if (kind == 0) return {42, t, connected{p, id<device_id>("d-83be0c71")}};
  return {
    43, t,
    lobby_message{id<participant_id>("doc-19c2"), p, "The doctor will be with you in 5 minutes."}};
}

void encode_event(benchmark::State& state) {
  auto event = sample(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(encode(event));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["bytes"] = static_cast<double>(encode(event).size());
}
BENCHMARK(encode_event)->ArgName("lobby_message")->Arg(0)->Arg(1);

void decode_event(benchmark::State& state) {
  auto bytes = encode(sample(static_cast<int>(state.range(0))));
  for (auto _ : state) benchmark::DoNotOptimize(decode(bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(decode_event)->ArgName("lobby_message")->Arg(0)->Arg(1);

void copy_encoded_bytes(benchmark::State& state) {
  auto bytes = encode(sample(static_cast<int>(state.range(0))));
  for (auto _ : state) benchmark::DoNotOptimize(std::string{bytes});
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(copy_encoded_bytes)->ArgName("lobby_message")->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
