#!/usr/bin/env bash
# Measures our gateway (the `aisix` CLI, role gateway) side by side with the bare Node
# pass-through and the other reference targets, with the shared rig (/work/shared/bench/run.sh),
# then prints and stores our ratios.
#
#   bash bench/gateway-bench.sh                      # build first: npx tsc -b
#   REPEATS=6 DURATION=8 bash bench/gateway-bench.sh
#
# Knobs (all optional; everything else is passed through to run.sh):
#   RIG=/work/shared/bench          the shared rig
#   BENCH_DIR=/tmp/aisix-bench      scratch dir (npm installs, run folders); never inside the repo
#   REPEATS=4 DURATION=6 NICE=-10   rounds, seconds per measurement, priority (root)
#   TARGETS="floor nginx node-undici portkey"   reference targets (ours is always added)
#   TESTS="json-c1 json-c32 json-c128 sse-c32 sse-c128 sse-ttft"
#   GW_WORKERS=1                    proxy.workers (1 = one process on the pinned core)
#   GW_ARGS=                        extra node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
#   GW_SCENARIO=plain               what the gateway governs (see "Scenarios" below)
#   SAVE=1                          copy the run (summary, raw jsonl, ours.md) to bench/results/<date>/
#
# How the gateway runs: as the Docker image starts it (`node --max-semi-space-size=8 main.js`, see
# packages/cli/src/heap.ts), with the generated config.yaml below (defaults otherwise: access log
# ON at info level, Prometheus metrics ON on their own listener) and a resources file with one
# OpenAI provider key whose api_base is the mock, one model `gpt-4o-mini` and one caller key.
# The access log goes to stdout, which run.sh redirects to a file (`$RUN/ours.log`), so every
# request writes one JSON line to disk, as in production with a log shipper.
#
# Scenarios (GW_SCENARIO):
#   plain        nothing governed (no limit, no cache policy): the request lifecycle's cost when
#                no interceptor applies
#   limits-miss  the caller key has an inline rpm + tpm limit (high enough never to refuse) and a
#                cache policy applies to every request; the bench sends `Cache-Control: no-cache`,
#                so every request fingerprints, records and writes its answer (a miss, minus a
#                lookup that cannot hit); memory backends
#   cache-hit    a cache policy and no header: after the first answer every request is a hit
#   redis        limits-miss with ratelimit.backend redis and the cache policy on cache.redis
#                (a redis-server started here on REDIS_PORT, default 28790, pinned to the load CPU)
#   otlp         plain plus one otlp_http exporter (metadata_only, sample_rate 1) to a local
#                collector that accepts every POST (a node:http server on OTLP_PORT, default
#                28791, pinned to the load CPU): every request becomes two spans, batched and sent
#   otlp-dead    the same exporter pointed at a collector that accepts connections and never
#                answers: bounded queues must hold RSS (the exporter drops and counts)
#   guardrails   one keyword guardrail (a literal and a regex) and one pii guardrail (every
#                built-in detector) env-wide: every prompt and answer is scanned, every stream held
#                back (BufferFull) until its end
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RIG=${RIG:-/work/shared/bench}
export BENCH_DIR=${BENCH_DIR:-/tmp/aisix-bench}
export REPEATS=${REPEATS:-4}
export DURATION=${DURATION:-6}
export NICE=${NICE:-$([[ $(id -u) == 0 ]] && echo -10 || echo 0)}
export TARGETS=${TARGETS:-"floor nginx node-undici portkey"}
export TESTS=${TESTS:-"json-c1 json-c32 json-c128 sse-c32 sse-c128 sse-ttft"}
export GW_WORKERS=${GW_WORKERS:-1}
export GW_ARGS=${GW_ARGS:-}
export GW_SCENARIO=${GW_SCENARIO:-plain}
export REDIS_PORT=${REDIS_PORT:-28790}
export OTLP_PORT=${OTLP_PORT:-28791}
case $GW_SCENARIO in
  plain|plain-nolog|limits-only|cache-hit|guardrails|otlp|otlp-dead) ;;
  limits-miss|cache-miss|redis) EXTRA_TARGET_HEADERS_EXTRA='Cache-Control: no-cache' ;;
  *) echo "unknown GW_SCENARIO=$GW_SCENARIO" >&2; exit 2 ;;
esac
export GW_MAIN="$REPO/packages/cli/dist/src/main.js"
[[ -f $GW_MAIN ]] || { echo "build first: (cd $REPO && npx tsc -b)" >&2; exit 2; }
[[ -d $BENCH_DIR/npm/node_modules ]] && export SKIP_SETUP=${SKIP_SETUP:-1}

export EXTRA_TARGET_NAME=ours
export EXTRA_TARGET_HEADERS="Authorization: Bearer sk-bench-caller${EXTRA_TARGET_HEADERS_EXTRA:+|$EXTRA_TARGET_HEADERS_EXTRA}"
# bench/ours-target.sh writes the config for GW_SCENARIO and starts the gateway; run.sh runs it
# with PORT, MOCK_BASE_URL and BENCH_RUN_DIR exported.
export EXTRA_TARGET_CMD="exec bash $REPO/bench/ours-target.sh"

# Whatever this script starts besides the rig (the Redis server, the scraper) goes with it,
# also when the run is interrupted.
redis_pid=""; scraper=""; collector=""
# (`|| true`: under set -e a failed kill of an already-gone process would end the trap early
# and leave the next helpers running.)
cleanup() {
  [[ -z $scraper ]] || kill "$scraper" 2>/dev/null || true
  [[ -z $collector ]] || kill "$collector" 2>/dev/null || true
  [[ -z $redis_pid ]] || kill "$redis_pid" 2>/dev/null || true
  return 0
}
trap cleanup EXIT
if [[ $GW_SCENARIO == redis ]]; then
  command -v redis-server >/dev/null || { echo "GW_SCENARIO=redis needs redis-server (apt-get install -y redis-server)" >&2; exit 2; }
  taskset -c "${LOAD_CPU:-0}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir /tmp >/dev/null 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [[ $GW_SCENARIO == otlp || $GW_SCENARIO == otlp-dead ]]; then
  # otlp: 200 to every POST once its body is read; otlp-dead: read and never answer.
  taskset -c "${LOAD_CPU:-0}" node -e '
    const dead = process.argv[1] === "otlp-dead";
    require("node:http").createServer((q, s) => {
      q.resume();
      q.on("end", () => { if (!dead) s.writeHead(200, { "content-type": "application/json" }).end("{}"); });
    }).listen(Number(process.env.OTLP_PORT), "127.0.0.1");' "$GW_SCENARIO" &
  collector=$!
fi

log=$(mktemp)
# A Prometheus-like scrape every 10 s while the run lasts (the last one is kept as evidence).
metrics_port=$(( ${EXTRA_TARGET_PORT:-$(( ${BASE_PORT:-28700} + 10 ))} + 1 ))
( while sleep 10; do
    curl -sf "http://127.0.0.1:$metrics_port/metrics" -o "$log.metrics.tmp" && mv "$log.metrics.tmp" "$log.metrics"
  done ) &
scraper=$!
bash "$RIG/run.sh" 2>&1 | tee "$log"
kill "$scraper" 2>/dev/null || true
run=$(sed -n 's/^run folder: //p' "$log" | head -1)
[[ -f $log.metrics && -n $run ]] && mv "$log.metrics" "$run/ours-metrics.txt"
rm -f "$log" "$log.metrics" "$log.metrics.tmp"
[[ -n $run && -d $run ]] || { echo "no run folder found" >&2; exit 1; }
# The scrape proves metrics were on and counted the load (and feeds the report).
node "$REPO/bench/summarize-ours.mjs" "$run" | tee "$run/ours.md"
if [[ ${SAVE:-1} == 1 ]]; then
  dest="$REPO/bench/results/$(date +%Y-%m-%d)/$(basename "$run")"
  mkdir -p "$dest"
  cp "$run"/{summary.md,results.jsonl,rss.jsonl,meta.json,ours.md,ours-metrics.txt} "$dest/" 2>/dev/null || true
  echo "saved to $dest"
fi
