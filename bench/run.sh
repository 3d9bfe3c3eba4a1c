#!/usr/bin/env bash
# Runs a benchmark suite on a Release build and prints its headline figures as the last lines.
#   bench/run.sh journal     journal appends/s (1/4/16/64 producers, sync) vs raw RocksDB;
#                            last line: journal_vs_raw_batched_64=<ratio>  (target >= 0.8)
#   bench/run.sh codec       encode/decode ns per visit event
#   bench/run.sh recovery    start-up recovery of 1M events in 100k open visits;
#                            last line: recovery_seconds=<median of 3>
#   bench/run.sh actors      memory per idle visit actor (2 participants) at 100k and 1M
#                            visits, then durable events/s through 10k visit actors vs raw
#                            batched RocksDB writing the same writes (3 rounds); last lines:
#                            bytes_per_visit=<at 1M> (target <= 2048),
#                            durable_events_vs_raw_batched=<median ratio> (target >= 0.5).
#                            Then join->subscriber latency (p50/p99/p99.9) at 10k and 50k
#                            events/s through 10k visit actors, durable; last line:
#                            join_to_subscriber_p99_us=<at 50k/s> (target <= 1000).
#   bench/run.sh write-back [OUTAGE_SECONDS]
#                            the real visitd and the test EHR over TLS on loopback, 100 tenants
#                            (needs the tests built, as scripts/build.sh does): write-back
#                            resources/s from the first event until every outbox is drained (3
#                            rounds, vs the fixture storing the same alone), the backlog drain
#                            rate, then one tenant's EHR down for OUTAGE_SECONDS (default 120)
#                            while all tenants make 200 events/s; last lines:
#                            write_back_resources_per_s=<median>,
#                            others_p99_delivery_ms_during_outage=<the healthy tenants>,
#                            others_max_pending_age_s=<healthy tenants, sampled every 200 ms>,
#                            outage_drain_seconds=<failing tenant, from the EHR's recovery>.
#                            Exits non-zero unless every event is in the EHR exactly once.
# Medians of 5 repetitions; set VISITD_BENCH_DIR to measure on another disk (default: /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
suite=${1:-journal}
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" release >/dev/null
case "$suite" in
  journal)
    "$root/build/release/bench/journal_bench" --benchmark_repetitions=5 \
      --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 --benchmark_counters_tabular=true
    ;;
  codec)
    "$root/build/release/bench/codec_bench" --benchmark_repetitions=5 \
      --benchmark_report_aggregates_only=true
    ;;
  recovery)
    "$root/build/release/bench/recovery_bench" 100000 10
    ;;
  actors)
    out=$(mktemp)
    "$root/build/release/bench/actors_bench" memory 100000 1000000 > "$out"
    "$root/build/release/bench/actors_bench" throughput 10000 30 3 >> "$out"
    "$root/build/release/bench/actors_bench" latency 10000 10000 50000 >> "$out"
    # Details first, then the headline figures last, in the order the actors issue names them.
    grep -vE '^(bytes_per_visit|durable_events_vs_raw_batched|join_to_subscriber_p99_us)=' "$out"
    grep -E '^bytes_per_visit=' "$out"
    grep -E '^durable_events_vs_raw_batched=' "$out"
    grep -E '^join_to_subscriber_p99_us=' "$out"
    rm -f "$out"
    ;;
  write-back)
    # Fast retries (1 s backoff cap and breaker) so the drain measures the backlog, not the
    # backoff; see docs/benchmarks.md for a run with the defaults.
    "$root/build/release/bench/write_back_bench" --outage-seconds "${2:-120}"
    ;;
  *) echo "usage: $0 journal|codec|recovery|actors|write-back [OUTAGE_SECONDS]" >&2; exit 2 ;;
esac
