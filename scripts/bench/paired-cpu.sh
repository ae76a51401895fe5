#!/usr/bin/env bash
# Paired CPU comparison of two Portcullis builds, for deciding whether an optimisation is kept.
#
#   scripts/bench/paired-cpu.sh WORK DIR_A DIR_B [ROUNDS]
#
# WORK is the `work` folder of a benchmark run (`npm run bench -- --quick --only h1 --proxies
# nginx,portcullis --out OUT` leaves it in OUT/work: certificates, backends, proxy config); DIR_A and
# DIR_B each hold a build (`dist/`, `node_modules/`, `package.json`). Start the backends first:
#   taskset -c 1 nginx -c WORK/backends/nginx.conf -p WORK/backends &
#
# Both proxies run at once, pinned to CPU 0, and h2load sends each the same fixed rate (RATE per
# connection × CONNS) for SECS seconds from CPU 1. Each round prints CPU µs per request of A and B.
# Running them side by side instead of one after the other matters on a shared machine: the same
# build measured 136–317 µs per request an hour apart here, while both halves of a pair see the same
# neighbours. Swap A and B in a second run to rule out a placement bias.
set -euo pipefail
WORK=$1 A=$2 B=$3 ROUNDS=${4:-4}
RATE=${RATE:-30} CONNS=${CONNS:-50} SECS=${SECS:-8}
# LOAD=keepalive (default): h2load as above. LOAD=h2: HTTP/2 closed loop instead (h2load -c CONNS
# -m STREAMS, as fast as each proxy answers: both are saturated, sharing the core). LOAD=full or
# LOAD=resumed: handshakes, one request per TLS connection from scripts/bench/tls-client.ts (CLIENTS
# connections at once, closed loop; the figure is CPU µs per connection).
LOAD=${LOAD:-keepalive} CLIENTS=${CLIENTS:-4} STREAMS=${STREAMS:-10}
TLS_CLIENT="$(dirname "$0")/tls-client.ts"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

load() { # port -> requests (or connections) that succeeded
  if [ "$LOAD" = h2 ]; then
    taskset -c 1 h2load -c"$CONNS" -m"$STREAMS" -D "$SECS" -H "Cookie: $COOKIE" \
      --connect-to="127.0.0.1:$1" https://shop.example.com/app-1/ 2>&1 |
      awk '/^requests:/ {print $8}'
    return
  fi
  if [ "$LOAD" != keepalive ]; then
    local job
    job=$(printf '{"mode":"%s","port":%d,"seconds":%d,"concurrency":%d,"path":"/app-1/","cookie":"%s","maxVersion":"TLSv1.3"}' \
      "$LOAD" "$1" "$SECS" "$CLIENTS" "$COOKIE")
    taskset -c 1 "$A/node_modules/.bin/node" "$TLS_CLIENT" "$job" | sed -n 's/.*"ok":\([0-9]*\).*/\1/p'
    return
  fi
  local rate=(--rps "$RATE")
  [ "$RATE" = 0 ] && rate=()   # RATE=0: closed loop, as fast as each proxy answers
  taskset -c 1 h2load --h1 -c"$CONNS" "${rate[@]}" -D "$SECS" -H "Cookie: $COOKIE" \
    --connect-to="127.0.0.1:$1" https://shop.example.com/app-1/ 2>&1 |
    awk '/^requests:/ {print $8}'
}

PA=$(start_portcullis "$A" 18443 18090)
PB=$(start_portcullis "$B" 28443 28090)
trap 'kill -TERM $PA $PB 2>/dev/null || true' EXIT
for port in 18443 28443; do
  wait_until_answering "$port" || true   # a proxy that never answers shows as 0 requests done
done
COOKIE=$(curl -sk -D - -o /dev/null https://shop.example.com:18443/app-1/ \
  --resolve shop.example.com:18443:127.0.0.1 | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\);.*/\1/p')
load 18443 >/dev/null & warm=$!; load 28443 >/dev/null; wait $warm   # warm-up (JIT, pools)

TICK=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  a0=$(cpu_ticks "$PA") b0=$(cpu_ticks "$PB")
  load 18443 >"$WORK/paired-a.txt" & pending=$!; load 28443 >"$WORK/paired-b.txt"; wait $pending
  a1=$(cpu_ticks "$PA") b1=$(cpu_ticks "$PB")
  na=$(cat "$WORK/paired-a.txt") nb=$(cat "$WORK/paired-b.txt")
  awk -v r="$round" -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v na="$na" -v nb="$nb" -v t="$TICK" \
    'BEGIN { printf "round %d  A %.1f µs  B %.1f µs  (B/A %.3f; %d and %d done)\n", r, a*1e6/t/na, b*1e6/t/nb, (b/nb)/(a/na), na, nb }'
done
