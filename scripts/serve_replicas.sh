#!/usr/bin/env bash
# Data-parallel serving on this machine: N `jisu serve` replicas behind HAProxy.
#
#   scripts/serve_replicas.sh [--replicas N] [--port P] [--host H] [--run-dir DIR] [--jisu PATH]
#                             [-- jisu serve options...]
#
# Replica i listens on 127.0.0.1:(P + i); HAProxy listens on H:P. The generated configuration
# ($run_dir/haproxy.cfg) works unchanged across machines once the server lines name them.
# Policy (why):
#  - Health checks on /health every 300 ms: a replica that dies or drains (503) leaves the
#    rotation within about half a second.
#  - Requests with an X-Session-ID header go to a replica chosen by consistent hashing of it, so
#    a conversation returns to the replica holding its prefix cache (and only 1/N of sessions
#    move when a replica leaves); other requests go to the replica with the fewest connections.
#  - Connection failures, empty responses (a replica killed mid-request) and 503 (a replica
#    that began draining after the last health check) are retried on another replica; request
#    bodies are buffered so that a retried POST is complete.
#  - Every replica is supervised: when one exits (a crash, kill -9, or SIGTERM for a rolling
#    restart) it is started again on its port. SIGTERM to this script drains every replica
#    (each finishes what it admitted) and stops HAProxy.
# The response header X-Served-By names the replica that answered.
set -euo pipefail

replicas=2
port=8080
host=127.0.0.1
run_dir=""
jisu="$(cd "$(dirname "$0")/.." && pwd)/build/jisu"
serve_args=()
while (($#)); do
  case $1 in
    --replicas) replicas=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --run-dir) run_dir=$2; shift 2 ;;
    --jisu) jisu=$2; shift 2 ;;
    --) shift; serve_args=("$@"); break ;;
    *) echo "error: unknown option '$1' (hint: options after -- go to jisu serve)" >&2; exit 2 ;;
  esac
done
[[ $replicas =~ ^[1-9][0-9]*$ ]] || { echo "error: --replicas must be a positive integer, got '$replicas'" >&2; exit 2; }
[[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port + replicas <= 65535)) ||
  { echo "error: --port must leave room for $replicas replica ports above it, got '$port'" >&2; exit 2; }
command -v haproxy >/dev/null || { echo "error: haproxy is not installed (hint: scripts/install_deps.sh)" >&2; exit 1; }
[[ -x $jisu ]] || { echo "error: jisu binary '$jisu' not found (hint: scripts/build.sh, or --jisu PATH)" >&2; exit 1; }
[[ -n $run_dir ]] || run_dir=$(mktemp -d -t jisu-replicas.XXXXXX)
mkdir -p "$run_dir"
rm -f "$run_dir/stopping"

config=$run_dir/haproxy.cfg
{
  cat <<CFG
global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 10m
    timeout server 10m
    timeout queue 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response 503
    option http-buffer-request

frontend jisu
    bind $host:$port
    http-response set-header X-Served-By %s
    use_backend by_session if { req.hdr(X-Session-ID) -m found }
    default_backend least_connections

backend least_connections
    balance leastconn
    option httpchk GET /health
    http-check expect status 200
    default-server check inter 300ms fastinter 100ms fall 1 rise 2
CFG
  for ((i = 1; i <= replicas; ++i)); do echo "    server replica$i 127.0.0.1:$((port + i))"; done
  cat <<CFG

backend by_session
    balance hdr(X-Session-ID)
    hash-type consistent
CFG
  for ((i = 1; i <= replicas; ++i)); do
    echo "    server replica$i 127.0.0.1:$((port + i)) track least_connections/replica$i"
  done
} >"$config.tmp"
mv "$config.tmp" "$config"
haproxy -c -q -f "$config" || { echo "error: haproxy rejected $config" >&2; exit 1; }

supervise() {  # replica index
  local index=$1 replica_port=$((port + $1))
  while [[ ! -f $run_dir/stopping ]]; do
    "$jisu" serve --host 127.0.0.1 --port "$replica_port" "${serve_args[@]}" \
      >>"$run_dir/replica$index.log" 2>&1 &
    echo $! >"$run_dir/replica$index.pid"
    wait $! || true
    [[ -f $run_dir/stopping ]] || { echo "replica$index exited; restarting" >>"$run_dir/replica$index.log"; sleep 0.2; }
  done
}

supervisors=()
for ((i = 1; i <= replicas; ++i)); do
  supervise "$i" &
  supervisors+=($!)
done
haproxy -db -f "$config" >>"$run_dir/haproxy.log" 2>&1 &
haproxy_pid=$!
echo $haproxy_pid >"$run_dir/haproxy.pid"

stop() {
  touch "$run_dir/stopping"
  for ((i = 1; i <= replicas; ++i)); do
    [[ -f $run_dir/replica$i.pid ]] && kill -TERM "$(cat "$run_dir/replica$i.pid")" 2>/dev/null || true
  done
  wait "${supervisors[@]}" 2>/dev/null || true
  kill -TERM "$haproxy_pid" 2>/dev/null || true
  wait "$haproxy_pid" 2>/dev/null || true
  exit 0
}
trap stop TERM INT

# Ready when every replica answers /health through its own port.
for ((i = 1; i <= replicas; ++i)); do
  for ((try = 0; try < 600; ++try)); do
    curl -sf "http://127.0.0.1:$((port + i))/health" >/dev/null && break
    sleep 0.1
  done
done
# HAProxy marked replicas that were not up at its first check down; two passing checks
# (inter 300 ms) bring each back into rotation.
sleep 1.5
echo "serve_replicas: $replicas replicas behind haproxy, listening on http://$host:$port (run dir $run_dir)"
wait "$haproxy_pid"
