# Shell helpers shared by paired-cpu.sh and floor.sh (sourced, not run). Both expect WORK: the `work`
# folder a benchmark run leaves (certificates, backends, the Portcullis config).

# cpu_ticks PID: user + system clock ticks of the process and its children (a supervisor's workers).
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}

# start_portcullis DIR HTTPS_PORT ADMIN_PORT: starts `portcullis proxy --workers 1` from DIR's build
# (dist/, node_modules/) on CPU 0 with the run's ECDSA config, HTTP on HTTPS_PORT + 1; prints its pid.
start_portcullis() {
  taskset -c 0 "$1/node_modules/.bin/node" "$1/dist/bin/portcullis.js" proxy \
    --config "$WORK/portcullis-ecdsa-p256/config.json" --keys-dir "$WORK/portcullis-ecdsa-p256/keys" \
    --workers 1 --https-port "$2" --http-port $(($2 + 1)) --admin-port "$3" \
    --bind-address 127.0.0.1 --drain-seconds 1 --log-level warn >/dev/null 2>&1 </dev/null &
  echo $!
}

# wait_until_answering PORT: polls https://shop.example.com:PORT/app-1/ for up to 20 s; fails unless
# it answered 200.
wait_until_answering() {
  local status
  for _ in $(seq 100); do
    status=$(curl -sk -o /dev/null -w '%{http_code}' "https://shop.example.com:$1/app-1/" \
      --resolve "shop.example.com:$1:127.0.0.1" || true)
    [ "$status" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}
