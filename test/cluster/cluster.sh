#!/usr/bin/env bash
# A real Kubernetes API server (etcd + kube-apiserver, nothing else) on 127.0.0.1, for tests.
#
#   test/cluster/cluster.sh up   DIR   # build binaries if needed, start, write DIR/kubeconfig and DIR/env
#   test/cluster/cluster.sh down DIR   # stop what `up DIR` started (keeps DIR and its data)
#   test/cluster/cluster.sh apiserver-stop DIR    # stop only kube-apiserver (etcd keeps the data)
#   test/cluster/cluster.sh apiserver-start DIR   # start it again, same port and flags
#
# There is no controller-manager, scheduler or kubelet: objects are stored and served, RBAC is enforced,
# but nothing reconciles them (no Pods from Deployments, no ServiceAccount tokens/"default" SAs, and
# deleted namespaces stay Terminating). Logs: DIR/etcd.log, DIR/kube-apiserver.log.
# KUBE_APISERVER_EXTRA_ARGS (word-split) is appended to kube-apiserver's flags, e.g.
#   KUBE_APISERVER_EXTRA_ARGS=--disable-admission-plugins=ServiceAccount
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { die "usage: $0 up|down|apiserver-stop|apiserver-start DIR"; }
[[ $# -eq 2 ]] || usage
cmd=$1
[[ $2 != *[[:space:]]* ]] || die "DIR must not contain whitespace (it is written unquoted into DIR/env)"
[[ $cmd != up ]] || mkdir -p "$2"
dir=$(cd "$2" 2>/dev/null && pwd) || die "no such directory: $2"

# alive NAME: the process recorded in DIR/NAME.pid is running and really is NAME (PIDs get reused).
alive() {
  local pid; pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$1"
}

stop() {  # NAME: SIGTERM, wait up to 20 s, then SIGKILL.
  local name=$1 pid i
  if alive "$name"; then
    pid=$(cat "$dir/$name.pid"); log "stopping $name (pid $pid)"
    kill "$pid"
    for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$name did not exit, killing"; kill -9 "$pid"; }
  fi
  rm -f "$dir/$name.pid"
}

# free_ports N: N distinct free loopback ports (all held open together so they differ).
free_ports() {
  node -e '
    const net = require("net"); const n = +process.argv[1]; const ports = [];
    const servers = Array.from({ length: n }, () => net.createServer());
    servers.forEach((s) => s.listen(0, "127.0.0.1", () => {
      ports.push(s.address().port);
      if (ports.length === n) { console.log(ports.join(" ")); servers.forEach((x) => x.close()); }
    }));' "$1"
}

# wait_for NAME URL EXPECTED [CURL_ARGS…]: poll until URL's body contains EXPECTED (120 s max).
wait_for() {
  local name=$1 url=$2 want=$3 i; shift 3
  for ((i = 1; i <= 120; i++)); do
    curl -s --max-time 2 "$@" "$url" 2>/dev/null | grep -q "$want" && { log "$name ready after ${i}s"; return; }
    alive "$name" || { tail -n 30 "$dir/$name.log" >&2; die "$name exited; see $dir/$name.log"; }
    ((i % 5 == 0)) && log "  waiting for $name ($i s)…"
    sleep 1
  done
  tail -n 30 "$dir/$name.log" >&2; die "$name not ready after 120 s; see $dir/$name.log"
}

# start_apiserver: run DIR/kube-apiserver.sh in the background and wait until it is ready.
start_apiserver() {
  bash "$dir/kube-apiserver.sh" &
  echo $! >"$dir/kube-apiserver.pid"
  wait_for kube-apiserver "$(cat "$dir/kube-apiserver.url")/readyz" '^ok$' -k \
    -H "Authorization: Bearer $(cat "$dir/admin.token")"
}

up() {
  if alive kube-apiserver && alive etcd; then log "already up in $dir"; cat "$dir/env"; return; fi
  stop kube-apiserver; stop etcd   # half-up leftovers from a crashed run

  local kube_apiserver='' kubectl='' etcd='' helm='' k v
  while IFS='=' read -r k v; do
    case $k in kube_apiserver | kubectl | etcd | helm) printf -v "$k" %s "$v" ;; esac
  done < <("$HERE/build.sh")
  [[ -x $kube_apiserver && -x $kubectl && -x $etcd && -x $helm ]] || die "build.sh did not produce all binaries"

  local etcd_port peer_port api_port
  read -r etcd_port peer_port api_port < <(free_ports 3)
  mkdir -p "$dir/pki" "$dir/etcd"
  chmod 700 "$dir/etcd"   # etcd refuses a data dir readable by others

  # Service-account key pair (TokenRequest signing/verification) and static bearer tokens; kept across
  # restarts so tokens handed out earlier stay valid.
  [[ -f $dir/pki/sa.key ]] || {
    openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null
  }
  [[ -f $dir/tokens.csv ]] || {
    openssl rand -hex 24 >"$dir/admin.token"
    openssl rand -hex 24 >"$dir/portcullis-test.token"
    # token,user,uid[,"group,…"]: admin is cluster-admin via system:masters; portcullis-test has no
    # groups beyond system:authenticated, so it can do only what tests grant it with RBAC.
    printf '%s,admin,admin,"system:masters"\n%s,portcullis-test,portcullis-test\n' \
      "$(cat "$dir/admin.token")" "$(cat "$dir/portcullis-test.token")" >"$dir/tokens.csv"
  }
  chmod 600 "$dir"/*.token "$dir/tokens.csv" "$dir/pki/sa.key"

  log "starting etcd on 127.0.0.1:$etcd_port"
  # --unsafe-no-fsync: test data is disposable and fsync dominates latency on slow disks.
  "$etcd" --name portcullis --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "portcullis=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync --log-level warn \
    </dev/null >"$dir/etcd.log" 2>&1 &   # no inherited stdout: callers reading our output would hang
  echo $! >"$dir/etcd.pid"
  wait_for etcd "http://127.0.0.1:$etcd_port/health" '"health":"true"'

  log "starting kube-apiserver on https://127.0.0.1:$api_port"
  # --endpoint-reconciler-type none: the default reconciler publishes the advertise address (127.0.0.1)
  #   as the endpoint of the "kubernetes" Service, which validation rejects (loopback) and it logs that forever.
  # The command is kept in DIR/kube-apiserver.sh so that `apiserver-start` restarts it on the same port
  # and etcd (tests stop and restart the API server under a running operator).
  local args=(
    "$kube_apiserver"
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port"
    --cert-dir "$dir/pki"
    --etcd-servers "http://127.0.0.1:$etcd_port"
    --service-account-issuer https://kubernetes.default.svc
    --api-audiences https://kubernetes.default.svc
    --service-account-key-file "$dir/pki/sa.pub"
    --service-account-signing-key-file "$dir/pki/sa.key"
    --token-auth-file "$dir/tokens.csv"
    --authorization-mode RBAC
    --service-cluster-ip-range 10.96.0.0/16
    --endpoint-reconciler-type none
    --allow-privileged
    --profiling=false
    ${KUBE_APISERVER_EXTRA_ARGS:-}
  )
  {
    printf '#!/usr/bin/env bash\nexec'
    printf ' %q' "${args[@]}"
    printf ' </dev/null >>%q 2>&1\n' "$dir/kube-apiserver.log"
  } >"$dir/kube-apiserver.sh"
  printf '%s\n' "https://127.0.0.1:$api_port" >"$dir/kube-apiserver.url"
  start_apiserver
  local url="https://127.0.0.1:$api_port"

  # The API server self-signs into --cert-dir: apiserver.crt holds the serving cert followed by the CA
  # that signed it, so it doubles as the CA bundle and clients can verify TLS properly.
  local ca; ca=$(base64 -w0 <"$dir/pki/apiserver.crt")
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: portcullis
  cluster:
    server: $url
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $(cat "$dir/admin.token")
- name: portcullis-test
  user:
    token: $(cat "$dir/portcullis-test.token")
contexts:
- name: admin
  context: {cluster: portcullis, user: admin}
- name: portcullis-test
  context: {cluster: portcullis, user: portcullis-test}
current-context: admin
EOF
  chmod 600 "$dir/kubeconfig"

  # The "default" namespace is created by a post-start loop; wait for it so tests can use it at once.
  local i
  for ((i = 0; i < 50; i++)); do
    "$kubectl" --kubeconfig "$dir/kubeconfig" get ns default >/dev/null 2>&1 && break; sleep 0.2
  done

  cat >"$dir/env" <<EOF
KUBECONFIG=$dir/kubeconfig
KUBECTL=$kubectl
HELM=$helm
APISERVER_URL=$url
ADMIN_TOKEN_FILE=$dir/admin.token
TEST_TOKEN_FILE=$dir/portcullis-test.token
EOF
  log "up: $url (kubeconfig $dir/kubeconfig; contexts admin, portcullis-test)"
  cat "$dir/env"
}

case $cmd in
  up) up ;;
  down) stop kube-apiserver; stop etcd; log "down: $dir" ;;
  apiserver-stop) stop kube-apiserver ;;
  apiserver-start) alive kube-apiserver || start_apiserver ;;
  *) usage ;;
esac
