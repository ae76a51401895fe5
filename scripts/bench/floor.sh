#!/usr/bin/env bash
# The floor a Node proxy stands on, measured beside nginx and Portcullis on the same core:
#
#   scripts/bench/floor.sh WORK [ROUNDS]
#
# One after another on CPU 0, each round: nginx proxying (the benchmark's ECDSA config), Node's bare
# `https` server answering by itself (floor/bare-https.ts), the least a Node proxy can do with undici
# (floor/minimal-forwarder.ts), and Portcullis (`portcullis proxy --workers 1` from this checkout's
# dist/: run `npm run build` first). Load from CPU 1; each line gives CPU µs per request (LOAD=keepalive:
# h2load --h1 -c50, closed loop) or per connection (LOAD=full / resumed: one request each, from
# tls-client.ts), and the processes' peak RSS (VmHWM, summed). WORK is the `work` folder a benchmark run
# leaves (see paired-cpu.sh); start its backends first:
#   taskset -c 1 nginx -c WORK/backends/nginx.conf -p WORK/backends &
# The servers run one at a time, so differences under ~15 % are noise here. PAIRED=1 starts only
# the minimal forwarder and Portcullis and loads both at the same time (both on CPU 0, as
# paired-cpu.sh does for two Portcullis builds), the two loads started in turn first, and prints the
# forwarder's CPU per unit over Portcullis's: the share of Portcullis's cost that a forwarder without
# its features keeps.
set -euo pipefail
WORK=$1 ROUNDS=${2:-3} LOAD=${LOAD:-keepalive} SECS=${SECS:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODE=$ROOT/node_modules/.bin/node
PKI=$WORK/pki
# shellcheck source=lib.sh
source "$HERE/lib.sh"
listen_ports() { grep -o 'listen 127.0.0.1:[0-9]*' "$1" | cut -d: -f2; }
NGINX_PORT=$(listen_ports "$WORK/nginx-ecdsa-p256-1/nginx.conf" | head -1)
mapfile -t BACKENDS < <(listen_ports "$WORK/backends/nginx.conf")
BARE_PORT=31443 MINIMAL_PORT=33443 PORTCULLIS_PORT=28443

peak_mib() { # pid: VmHWM of it and its children
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1"); do
    total=$((total + $(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")))
  done
  echo $((total / 1024))
}
load() { # port -> requests (or connections) completed
  if [ "$LOAD" = keepalive ]; then
    taskset -c 1 h2load --h1 -c50 -D "$SECS" --connect-to="127.0.0.1:$1" \
      https://shop.example.com/app-1/ 2>&1 | awk '/^requests:/ {print $8}'
  else
    taskset -c 1 "$NODE" "$HERE/tls-client.ts" \
      "{\"mode\":\"$LOAD\",\"port\":$1,\"seconds\":$SECS,\"concurrency\":4,\"path\":\"/app-1/\",\"maxVersion\":\"TLSv1.3\"}" |
      sed -n 's/.*"ok":\([0-9]*\).*/\1/p'
  fi
}

PAIRED=${PAIRED:-0}
SERVERS=()   # "name port pid", in the order they are measured
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' EXIT
if [ "$PAIRED" != 1 ]; then
  taskset -c 0 nginx -c "$WORK/nginx-ecdsa-p256-1/nginx.conf" -p "$WORK/nginx-ecdsa-p256-1" \
    >/dev/null 2>&1 &
  SERVERS+=("nginx $NGINX_PORT $!") pids+=($!)
  taskset -c 0 "$NODE" "$HERE/floor/bare-https.ts" "$PKI/ecdsa-p256.crt" "$PKI/ecdsa-p256.key" \
    "$BARE_PORT" &
  SERVERS+=("bare-node $BARE_PORT $!") pids+=($!)
fi
taskset -c 0 "$NODE" "$HERE/floor/minimal-forwarder.ts" "$PKI/ecdsa-p256.crt" \
  "$PKI/ecdsa-p256.key" "$MINIMAL_PORT" "${BACKENDS[@]}" &
MINIMAL=$!
SERVERS+=("minimal-forwarder $MINIMAL_PORT $MINIMAL") pids+=("$MINIMAL")
PORTCULLIS=$(start_portcullis "$ROOT" "$PORTCULLIS_PORT" $((PORTCULLIS_PORT + 2)))
SERVERS+=("portcullis $PORTCULLIS_PORT $PORTCULLIS") pids+=("$PORTCULLIS")
for server in "${SERVERS[@]}"; do
  read -r name port _ <<<"$server"
  wait_until_answering "$port" ||
    { echo "floor.sh: $name on port $port does not answer 200" >&2; exit 1; }
  SECS=3 load "$port" >/dev/null   # warm-up (JIT, upstream pools)
done

TICK=$(getconf CLK_TCK)
unit=request; [ "$LOAD" = keepalive ] || unit=connection
per_unit() { echo $((($2 - $1) * 1000000 / TICK / $3)); } # ticks before, after, units -> µs per unit

if [ "$PAIRED" = 1 ]; then
  for round in $(seq "$ROUNDS"); do
    m0=$(cpu_ticks "$MINIMAL") p0=$(cpu_ticks "$PORTCULLIS")
    if [ $((round % 2)) = 1 ]; then
      load "$MINIMAL_PORT" >"$WORK/floor-minimal.txt" & first=$!
      load "$PORTCULLIS_PORT" >"$WORK/floor-portcullis.txt"
    else
      load "$PORTCULLIS_PORT" >"$WORK/floor-portcullis.txt" & first=$!
      load "$MINIMAL_PORT" >"$WORK/floor-minimal.txt"
    fi
    wait "$first"
    m1=$(cpu_ticks "$MINIMAL") p1=$(cpu_ticks "$PORTCULLIS")
    nm=$(cat "$WORK/floor-minimal.txt") np=$(cat "$WORK/floor-portcullis.txt")
    [ "${nm:-0}" -gt 0 ] && [ "${np:-0}" -gt 0 ] ||
      { echo "floor.sh: no $unit completed in paired round $round" >&2; exit 1; }
    um=$(per_unit "$m0" "$m1" "$nm") up=$(per_unit "$p0" "$p1" "$np")
    echo "paired round $round $LOAD: minimal-forwarder $um µs, portcullis $up µs per $unit;" \
      "minimal/portcullis $(awk -v m="$um" -v p="$up" 'BEGIN { printf "%.3f", m / p }')"
  done
  exit 0
fi

for round in $(seq "$ROUNDS"); do
  for server in "${SERVERS[@]}"; do
    read -r name port pid <<<"$server"
    before=$(cpu_ticks "$pid")
    done_count=$(load "$port")
    after=$(cpu_ticks "$pid")
    [ "${done_count:-0}" -gt 0 ] || { echo "floor.sh: no $unit completed on $name" >&2; exit 1; }
    echo "round $round $LOAD $name: $(per_unit "$before" "$after" "$done_count") µs per $unit" \
      "($done_count done), peak RSS $(peak_mib "$pid") MiB"
  done
done
