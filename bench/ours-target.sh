#!/usr/bin/env bash
# Writes our gateway's config for one bench scenario and starts it (`exec`, so the caller's pid,
# pinning and niceness are the gateway's). Used by gateway-bench.sh (through the rig's
# EXTRA_TARGET_CMD) and cpu-per-request.sh.
#   PORT           proxy port (metrics on PORT + 1)
#   MOCK_BASE_URL  the upstream's base URL, e.g. http://127.0.0.1:28700/v1
#   BENCH_RUN_DIR  where the generated files go
#   GW_SCENARIO    plain | plain-nolog | limits-miss | cache-hit | redis | otlp | otlp-dead | guardrails
#                  (plain-nolog: plain with observability.access_log off, to price the access log;
#                  limits-only and cache-miss: the two halves of limits-miss, to price each;
#                  otlp-unsampled: otlp with sample_rate 0, events built and no span, to price the spans)
#   GW_WORKERS=1  GW_ARGS=  REDIS_PORT=28790  OTLP_PORT=28791
set -euo pipefail
GW_SCENARIO=${GW_SCENARIO:-plain} GW_WORKERS=${GW_WORKERS:-1} GW_ARGS=${GW_ARGS:-}
REDIS_PORT=${REDIS_PORT:-28790} OTLP_PORT=${OTLP_PORT:-28791}
GW_MAIN=${GW_MAIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/packages/cli/dist/src/main.js}
limits=""; policies=""; backends=""; access_log=true
[[ $GW_SCENARIO == plain-nolog ]] && access_log=false
case $GW_SCENARIO in
  limits-miss|limits-only|redis) limits=", rate_limit: { rpm: 1000000000, tpm: 1000000000000 }" ;;
esac
case $GW_SCENARIO in
  limits-miss|cache-miss|cache-hit) policies="cache_policies:
  - { name: bench, applies_to: all, ttl_seconds: 600 }" ;;
  redis) policies="cache_policies:
  - { name: bench, applies_to: all, ttl_seconds: 600, backend: redis }"
    backends="ratelimit:
  backend: redis
  redis: { url: \"redis://127.0.0.1:$REDIS_PORT\" }
cache:
  redis: { url: \"redis://127.0.0.1:$REDIS_PORT\" }" ;;
esac
case $GW_SCENARIO in
  otlp|otlp-dead|otlp-unsampled) policies="observability_exporters:
  - { name: bench-otlp, kind: otlp_http, endpoint: \"http://127.0.0.1:$OTLP_PORT\", sample_rate: $([[ $GW_SCENARIO == otlp-unsampled ]] && echo 0 || echo 1) }" ;;
  guardrails) policies="guardrails:
  - { name: bench-keyword, kind: keyword, patterns: [{ kind: literal, value: project-nightingale }, { kind: regex, value: \"(?i)launch-code-[0-9]{4}\" }] }
  - { name: bench-pii, kind: pii }" ;;
esac
cat > "$BENCH_RUN_DIR/ours-resources.yaml" <<EOF
_format_version: "1"
provider_keys:
  - { display_name: mock, provider: openai, api_base: "$MOCK_BASE_URL", api_key: sk-bench-upstream }
models:
  - { display_name: gpt-4o-mini, provider: openai, model_name: gpt-4o-mini, provider_key: mock }
api_keys:
  - { display_name: bench, key_env: BENCH_CALLER_KEY, allowed_models: [gpt-4o-mini]$limits }
$policies
EOF
cat > "$BENCH_RUN_DIR/ours-config.yaml" <<EOF
proxy:
  addr: "127.0.0.1:$PORT"
  workers: $GW_WORKERS
admin:
  enabled: false
observability:
  log_level: info
  access_log: $access_log
  metrics:
    prometheus:
      addr: "127.0.0.1:$((PORT + 1))"
resources_file: "$BENCH_RUN_DIR/ours-resources.yaml"
$backends
EOF
export BENCH_CALLER_KEY=sk-bench-caller
# shellcheck disable=SC2086 # GW_ARGS is a list of flags
exec node --max-semi-space-size=8 $GW_ARGS "$GW_MAIN" --config "$BENCH_RUN_DIR/ours-config.yaml" --role gateway
