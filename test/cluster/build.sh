#!/usr/bin/env bash
# Builds the pinned control-plane binaries the cluster tests need (kube-apiserver, kubectl, etcd, helm)
# from Go modules, into a version-keyed cache outside the repo. Only the Go module proxy is needed.
#
#   eval "$(test/cluster/build.sh)"   # sets kube_apiserver=… kubectl=… etcd=… helm=…
#
# Progress goes to stderr; stdout carries only the final name=path lines. Already-built binaries are
# reused, so every run after the first takes well under a second.
set -euo pipefail
shopt -s inherit_errexit

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.16           # if it fails to build, the newest other v3.6.x is tried
HELM_VERSION=v4.3.1
HELM_FALLBACK_VERSION=v3.22.0

CACHE="${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}"
WORK="$CACHE/work"             # throwaway Go modules used only to drive `go build`

# Static binaries; -mod=mod lets `go build` fill in our throwaway module's go.sum; GOWORK=off so a
# go.work file somewhere above the cache cannot capture the build.
export CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"

log() { printf '[build] %s\n' "$*" >&2; }

# have BIN ARGS…: BIN exists and answers its version command (a truncated file would not).
have() { local bin=$1; shift; [[ -x $bin ]] && "$bin" "$@" >/dev/null 2>&1; }

mkdir -p "$WORK"
# Serialise concurrent callers (e.g. parallel test jobs) so they do not build the same thing twice.
if command -v flock >/dev/null; then exec 9>"$CACHE/.lock"; flock 9; fi
# Outputs are written as NAME.tmp.$$ and renamed at the end, so an interrupted run leaves no half binary.
# ($$ is this script's PID even inside subshells, so one pattern covers every temp file.)
trap 'rm -f "$CACHE"/*/*.tmp.$$ "$WORK"/*/*.tmp.$$' EXIT
trap 'exit 130' INT TERM

# pinned_replaces GOMOD VERSION: `go install`/`require` ignore a dependency's replace directives, and
# k8s.io/kubernetes (like etcd) replaces its sibling modules with local directories. Re-create every such
# local replace as "same module at VERSION"; non-local replaces are copied as they are. etcd's
# "=> ./FORBIDDEN_DEPENDENCY" guards exist only to break bad imports, so they are dropped.
pinned_replaces() {
  awk -v ver="$2" '
    function emit(s,   a) {
      sub(/[ \t]*\/\/.*/, "", s); split(s, a, /[ \t]*=>[ \t]*/)
      if (a[2] == "" || a[2] ~ /FORBIDDEN/) return
      if (a[2] ~ /^\.\.?\//) { split(a[1], m, /[ \t]+/); print "replace " m[1] " => " m[1] " " ver }
      else print "replace " s
    }
    /^replace[ \t]*\(/ { block = 1; next }
    block && /^\)/      { block = 0; next }
    block && /=>/       { sub(/^[ \t]+/, ""); emit($0); next }
    /^replace[ \t]/     { sub(/^replace[ \t]+/, ""); emit($0) }
  ' "$1"
}

# prepare_module NAME MODULE VERSION SIBLING_VERSION: writes $WORK/NAME-VERSION/go.mod requiring
# MODULE@VERSION with MODULE's own local replaces pinned to SIBLING_VERSION; prints the directory.
prepare_module() {
  local dir="$WORK/$1-$3" json gomod
  mkdir -p "$dir"
  json=$(cd "$WORK" && go mod download -json "$2@$3" 2>&1) ||
    { log "could not download $2@$3: $(sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p' <<<"$json")"; return 1; }
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$json")
  {
    echo "module portcullis.local/build-$1"
    grep -m1 '^go ' "$gomod"           # same language version (and GODEBUG defaults) as upstream
    echo "require $2 $3"
    pinned_replaces "$gomod" "$4"
  } >"$dir/go.mod.tmp.$$"
  mv -f "$dir/go.mod.tmp.$$" "$dir/go.mod"
  echo "$dir"
}

# go_build MODDIR PACKAGE OUT LDFLAGS: build with a heartbeat, since `go build` is silent for minutes.
go_build() {
  local name version start=$SECONDS rc=0 ticker
  name=$(basename "$3"); version=$(basename "$(dirname "$3")"); version=${version#*-}
  log "Building $name $version (first run only; several minutes)…"
  # Heartbeat; it stops by itself if this script dies.
  ( while sleep 30 && kill -0 $$ 2>/dev/null; do log "  … still building $name ($((SECONDS - start))s)"; done ) &
  ticker=$!
  (cd "$1" && go build -trimpath -ldflags "-s -w $4" -o "$3.tmp.$$" "$2") || rc=$?
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
  ((rc == 0)) || return $rc
  mv -f "$3.tmp.$$" "$3"
  log "Built $3 in $((SECONDS - start))s"
}

# --- kube-apiserver + kubectl ---------------------------------------------------------------------
K8S_DIR="$CACHE/k8s-$K8S_VERSION"
if ! have "$K8S_DIR/kube-apiserver" --version || ! have "$K8S_DIR/kubectl" version --client; then
  mkdir -p "$K8S_DIR"
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  # The staging modules (k8s.io/api, client-go, …) are tagged v0.<minor>.<patch> alongside v1.<minor>.<patch>.
  dir=$(prepare_module kubernetes k8s.io/kubernetes "$K8S_VERSION" "v0.${K8S_VERSION#v1.}")
  # Without these the binaries report v0.0.0-master, which breaks version checks (kubectl skew
  # warnings, Helm charts' kubeVersion constraints). Same -X flags as hack/lib/version.sh.
  ld=""
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  have "$K8S_DIR/kube-apiserver" --version ||
    go_build "$dir" k8s.io/kubernetes/cmd/kube-apiserver "$K8S_DIR/kube-apiserver" "$ld"
  have "$K8S_DIR/kubectl" version --client ||
    go_build "$dir" k8s.io/kubernetes/cmd/kubectl "$K8S_DIR/kubectl" "$ld"
fi

# --- etcd and helm: first candidate version that is cached or builds --------------------------------
# A failed version leaves DIR/FAILED (with the error) so later runs skip it; delete it to retry.
build_etcd() {  # VERSION OUT
  local dir; dir=$(prepare_module etcd go.etcd.io/etcd/server/v3 "$1" "$1") &&
    go_build "$dir" go.etcd.io/etcd/server/v3 "$2" ""
}
build_helm() {  # VERSION OUT
  local mod="helm.sh/helm/${1%%.*}" dir   # v4.3.1 -> helm.sh/helm/v4
  dir=$(prepare_module helm "$mod" "$1" "$1") &&
    go_build "$dir" "$mod/cmd/helm" "$2" "-X $mod/internal/version.version=$1 -X $mod/internal/version.gitTreeState=clean"
}
# first_ok NAME BUILDFN VERSIONCMD VERSION…: prints the path of the first usable binary.
first_ok() {
  local name=$1 fn=$2 vcmd=$3 v dir rc; shift 3
  for v in "$@"; do
    dir="$CACHE/$name-$v"
    if have "$dir/$name" $vcmd; then echo "$dir/$name"; return; fi
    [[ -f $dir/FAILED ]] && { log "skipping $name $v (failed before, see $dir/FAILED)"; continue; }
    mkdir -p "$dir"
    rc=0
    "$fn" "$v" "$dir/$name" 2> >(tee "$dir/build.log" >&2) || rc=$?
    wait $! 2>/dev/null || true   # let tee finish writing the log
    if ((rc == 0)); then rm -f "$dir/build.log"; echo "$dir/$name"; return; fi
    mv -f "$dir/build.log" "$dir/FAILED"; log "$name $v failed to build (see $dir/FAILED)"
  done
  log "no $name version could be built"; return 1
}

etcd_candidates=("$ETCD_VERSION")
# Fallback list: the other v3.6.x releases, newest first (one `go list` query, only on first build).
if ! have "$CACHE/etcd-$ETCD_VERSION/etcd" --version; then
  mapfile -t more < <(cd "$WORK" && go list -m -versions go.etcd.io/etcd/server/v3 | tr ' ' '\n' |
    grep '^v3\.6\.[0-9]*$' | grep -vx "$ETCD_VERSION" | sort -rV | head -3 || true)
  etcd_candidates+=("${more[@]}")
fi
ETCD=$(first_ok etcd build_etcd --version "${etcd_candidates[@]}")
HELM=$(first_ok helm build_helm version "$HELM_VERSION" "$HELM_FALLBACK_VERSION")

echo "kube_apiserver=$K8S_DIR/kube-apiserver"
echo "kubectl=$K8S_DIR/kubectl"
echo "etcd=$ETCD"
echo "helm=$HELM"
