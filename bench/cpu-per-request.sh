#!/usr/bin/env bash
# CPU time per request of our gateway (one scenario or several) and of the bare node:http + undici
# proxy, measured in the same minute: the steadier view when the machine's throughput swings.
#
#   npx tsc -b && bash bench/cpu-per-request.sh
#   SCENARIOS="plain limits-miss guardrails otlp" TESTS="json-c32 sse-c32" ROUNDS=3 bash bench/cpu-per-request.sh
#
# Each round runs wrk (pinned to LOAD_CPU with the nginx mock) against node-undici, then against
# every scenario's gateway (each pinned to TARGET_CPU), and reads the target's user + system CPU
# from /proc/<pid>/stat around the run: µs per request = CPU time ÷ requests answered. The rows
# show the median over the rounds and node-undici's CPU per request ÷ ours, paired per round (the median of
# those ratios), and the median split into user and kernel time. Throughput is
# printed too, but on a shared machine it is the CPU figure that repeats.
# Kernel time is mostly the socket writes, and on loopback a write also pays for waking the
# reader (wrk, nginx) when its CPU sleeps: that part grows with the time between two responses
# (bench/README.md, "Where the rest goes"), so compare user time for the gateway's own work.
#
# Knobs: SCENARIOS="plain" TESTS="json-c32" ROUNDS=3 DURATION=8 WARMUP=3 BASE_PORT=29000
#        LOAD_CPU=0 TARGET_CPU=1 ("plain@--flag,--flag2" in SCENARIOS adds node flags to that one;
#        "/other/checkout:plain" runs another checkout's build) BENCH_DIR=/tmp/aisix-cpu GW_ARGS= (e.g. --cpu-prof)
#        UNDICI_ARGS= node flags for the bare proxy (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p": profile
#        it beside ours, the same minute)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RIG=${RIG:-/work/shared/bench}
SCENARIOS=${SCENARIOS:-plain} TESTS=${TESTS:-json-c32}
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-8} WARMUP=${WARMUP:-3}
BASE_PORT=${BASE_PORT:-29000} LOAD_CPU=${LOAD_CPU:-0} TARGET_CPU=${TARGET_CPU:-1}
BENCH_DIR=${BENCH_DIR:-/tmp/aisix-cpu}
export REDIS_PORT=${REDIS_PORT:-29090} OTLP_PORT=${OTLP_PORT:-29091} GW_ARGS=${GW_ARGS:-}
UNDICI_ARGS=${UNDICI_ARGS:-}
for c in wrk nginx taskset curl; do command -v $c >/dev/null || { echo "needs $c" >&2; exit 2; }; done
[[ -f $REPO/packages/cli/dist/src/main.js ]] || { echo "build first: npx tsc -b" >&2; exit 2; }
RUN=$BENCH_DIR/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"

declare -a PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  return 0
}
trap cleanup EXIT INT TERM
start() { # logname cpu cmd... -> pid in $!
  local name=$1 cpu=$2; shift 2
  setsid taskset -c "$cpu" "$@" >"$RUN/$name.log" 2>&1 &
  PIDS+=($!)
}

MOCK="http://127.0.0.1:$BASE_PORT"
bash "$RIG/nginx-conf.sh" mock "$RUN/mock" "$BASE_PORT" >/dev/null
start mock "$LOAD_CPU" nginx -c "$RUN/mock/nginx.conf" -e "$RUN/mock/error.log" -g 'daemon off;'

# The bare proxy resolves undici from the gateway package (the version we ship).
mkdir -p "$RUN/undici/node_modules"
ln -sfn "$(readlink -f "$REPO/packages/gateway-node/node_modules/undici")" "$RUN/undici/node_modules/undici"
cp "$RIG/proxies/node-undici.mjs" "$RUN/undici/"
declare -A PORT_OF=() PID_OF=() HDR_OF=()
# shellcheck disable=SC2086 # UNDICI_ARGS is a list of flags
start node-undici "$TARGET_CPU" env PORT=$((BASE_PORT + 2)) UPSTREAM="$MOCK" \
  node ${UNDICI_ARGS:+--import "$REPO/bench/exit-on-term.mjs" $UNDICI_ARGS} "$RUN/undici/node-undici.mjs"
PID_OF[node-undici]=$!; PORT_OF[node-undici]=$((BASE_PORT + 2)); HDR_OF[node-undici]=""

port=$((BASE_PORT + 10))
for spec in $SCENARIOS; do
  # "scenario@flag,flag" runs the scenario with extra node flags (compare flags in one run).
  # "/path/to/checkout:scenario" runs that checkout's build (compare two builds in one run).
  s=${spec#*:} flags="" main=${GW_MAIN:-$REPO/packages/cli/dist/src/main.js}
  [[ $spec == *:* ]] && main=${spec%%:*}/packages/cli/dist/src/main.js
  [[ $s == *@* ]] && flags=${s#*@} && flags=${flags//,/ }
  s=${s%%@*}
  case $s in
    redis)
      command -v redis-server >/dev/null || { echo "scenario redis needs redis-server" >&2; exit 2; }
      start redis "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$RUN" ;;
    otlp | otlp-dead | otlp-unsampled)
      start "collector-$s" "$LOAD_CPU" env OTLP_PORT="$OTLP_PORT" node -e '
        const dead = process.argv[1] === "otlp-dead";
        require("node:http").createServer((q, s) => {
          q.resume();
          q.on("end", () => { if (!dead) s.writeHead(200, { "content-type": "application/json" }).end("{}"); });
        }).listen(Number(process.env.OTLP_PORT), "127.0.0.1");' "$s"
      OTLP_PORT=$((OTLP_PORT + 1)) ;;
  esac
  dir=$RUN/${spec//[^A-Za-z0-9_.-]/_}
  mkdir -p "$dir"
  # otlp and otlp-dead each need their own collector: the port was just moved past it.
  start "$(basename "$dir")" "$TARGET_CPU" env PORT=$port MOCK_BASE_URL="$MOCK/v1" BENCH_RUN_DIR="$dir" GW_SCENARIO="$s" \
    OTLP_PORT=$((OTLP_PORT - 1)) GW_ARGS="$GW_ARGS $flags" GW_MAIN="$main" bash "$REPO/bench/ours-target.sh"
  PID_OF[$spec]=$!; PORT_OF[$spec]=$port
  HDR_OF[$spec]="Authorization: Bearer sk-bench-caller"
  [[ $s == limits-miss || $s == cache-miss || $s == redis ]] && HDR_OF[$spec]+="|Cache-Control: no-cache"
  port=$((port + 2))
done
sleep 1

printf '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64}\n' >"$RUN/body-json.json"
printf '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"stream":true,"stream_options":{"include_usage":true}}\n' >"$RUN/body-sse.json"

url() { echo "http://127.0.0.1:${PORT_OF[$1]}/v1/chat/completions"; }
wait_ready() {
  local t=$1 h=() x i
  IFS='|' read -ra x <<<"${HDR_OF[$t]}"
  for i in "${x[@]}"; do h+=(-H "$i"); done
  for _ in $(seq 1 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' "${h[@]}" \
      --data-binary @"$RUN/body-json.json" "$(url "$t")" || true) == 200 ]] && return 0
    sleep 0.2
  done
  echo "$t not ready; see $RUN/$t.log" >&2
  return 1
}
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# The gateway is started through bash (exec), so the pid is the node process itself.
TARGETS="node-undici $SCENARIOS"
for t in $TARGETS; do wait_ready "$t"; done

run() { # target conc body seconds -> "requests rps errors user_ticks system_ticks"
  local t=$1 c=$2 body=$3 d=$4 u0 s0 u1 s1 out
  read -r u0 s0 < <(cpu_ticks "${PID_OF[$t]}")
  out=$(WRK_BODY_FILE=$body WRK_HEADERS="${HDR_OF[$t]}" taskset -c "$LOAD_CPU" \
    wrk -t1 -c"$c" -d"${d}s" --latency -s "$RIG/wrk-post.lua" "$(url "$t")" 2>&1 | sed -n 's/^WRKJSON //p')
  read -r u1 s1 < <(cpu_ticks "${PID_OF[$t]}")
  node -e 'const j = JSON.parse(process.argv[1]); const bad = j.err_status + j.err_connect + j.err_read + j.err_timeout;
    console.log(j.requests, j.rps, bad, Number(process.argv[2]), Number(process.argv[3]))' "$out" $((u1 - u0)) $((s1 - s0))
}

hz=$(getconf CLK_TCK)
echo "run folder: $RUN"
for test in $TESTS; do
  c=${test#*-c} kind=${test%-c*}
  body="$RUN/body-$kind.json"
  for t in $TARGETS; do run "$t" "$c" "$body" "$WARMUP" >/dev/null; done
  for r in $(seq 1 "$ROUNDS"); do
    for t in $TARGETS; do
      read -r n rps bad uticks sticks < <(run "$t" "$c" "$body" "$DURATION")
      echo "$test $r $t $n $rps $bad $((uticks + sticks)) $uticks $sticks" >>"$RUN/raw.txt"
    done
  done
done
node -e '
const [file, hz] = [process.argv[1], Number(process.argv[2])];
const rows = require("node:fs").readFileSync(file, "utf8").trim().split("\n").map((l) => l.split(" "));
const med = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
// Per round: µs per request, and the ratio to node-undici measured in the same round (paired).
const us = new Map(), by = new Map();
const perReq = (ticks, n) => ((Number(ticks) / hz) * 1e6) / Number(n);
for (const [test, r, t, n, rps, bad, ticks, uticks, sticks] of rows) {
  const v = perReq(ticks, n);
  us.set(`${test} ${r} ${t}`, v);
  const k = `${test} ${t}`;
  if (!by.has(k)) by.set(k, { test, t, us: [], user: [], sys: [], ratio: [], rps: [], bad: 0 });
  const e = by.get(k);
  e.us.push(v); e.user.push(perReq(uticks, n)); e.sys.push(perReq(sticks, n));
  e.rps.push(Number(rps)); e.bad += Number(bad);
  if (t !== "node-undici") e.ratio.push(us.get(`${test} ${r} node-undici`) / v);
}
console.log("| test | target | CPU µs/request, median (rounds) | user / kernel µs, medians | node-undici CPU ÷ ours, paired median (rounds) | req/s median | errors |");
console.log("|---|---|---|---|---|---|---|");
for (const e of by.values()) {
  const ratio = e.ratio.length ? `${med(e.ratio).toFixed(2)}× (${e.ratio.map((x) => x.toFixed(2)).join(", ")})` : "";
  console.log(`| ${e.test} | ${e.t} | ${med(e.us).toFixed(1)} (${e.us.map((x) => x.toFixed(0)).join(", ")}) | ${med(e.user).toFixed(1)} / ${med(e.sys).toFixed(1)} | ${ratio} | ${Math.round(med(e.rps))} | ${e.bad} |`);
}' "$RUN/raw.txt" "$hz" | tee "$RUN/summary.md"
