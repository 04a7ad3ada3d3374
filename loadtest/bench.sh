#!/usr/bin/env bash
# bench.sh - Sluice against its two ceilings, on this machine, with one generator and one body mix.
#
#   loadtest/bench.sh            (from anywhere; builds nothing)
#
# 1. HTTP ceiling:  nginx (started here, non-daemon, generated config, 127.0.0.1, free port) answering
#                   204 to every POST after reading the body (mirror_request_body; NGINX_BODY=discard
#                   uses a bare `return 204`, which reads and drops the body);
# 2. Redis ceiling: redis-benchmark -P 64 doing XADD of one generated ~600-byte event + messageId
#                   against a redis-server started here (no persistence), over the transport
#                   sluice uses (REDIS_TRANSPORT);
# 3. Sluice:        `sluice serve --plan PLAN --redis unix://SOCKET --workers W`:
#                   single events (closed loop), 100-event batches (closed loop), open loop at 50% of
#                   the measured maximum (p99), peak RSS (VmHWM), and RSS with IDLE idle keep-alive
#                   connections (a fresh server).
# and prints the ratios against the targets. If sluice serve fails, says so and still measures the
# ceilings. Generator: sluice-load (next to the sluice binary or in build-load/).
#
# Environment (defaults in brackets):
#   SLUICE [build/sluice]  LOAD [sluice-load next to SLUICE, else build-load/sluice-load]
#   PLAN [specs/ecommerce.yaml]  DURATION [10] s per run  WARMUP [2] s  INVALID [0.1]
#   CONNS [64] connections for single events  BATCH [100]  BATCH_CONNS [8]
#   WORKERS [1] sluice --workers  IDLE [10000]  REDIS_N [1000000] XADDs for the Redis ceiling
#   GEN_CPUS [0] cores of the generator / redis-benchmark   SERVER_CPUS [1] cores of nginx / sluice
#   REDIS_CPUS [SERVER_CPUS] cores of redis-server   NGINX_BODY [mirror|discard]
#   REDIS_TRANSPORT [unix] how sluice and redis-benchmark reach Redis: unix (a Unix socket, as
#                   `sluice serve` does with its embedded Redis) or tcp (127.0.0.1)
#   NGINX_WORKERS [1] nginx worker processes (more than 1: with a master process)
#   Whole-machine placement (every server may use every core, each at its own best):
#     WORKERS=2 NGINX_WORKERS=2 GEN_CPUS=0,1 SERVER_CPUS=0,1 loadtest/bench.sh
#   GZIP [0] 1 = gzip every body (the generator compresses per request: it may become the limit)
#   JSON_OUT [unset] write every figure as one JSON object to this file   KEEP=1 keep the work dir
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SLUICE="${SLUICE:-$root/build/sluice}"
if [ -z "${LOAD:-}" ]; then
    LOAD="$(dirname "$SLUICE")/sluice-load"
    [ -x "$LOAD" ] || LOAD="$root/build-load/sluice-load"
fi
PLAN="${PLAN:-$root/specs/ecommerce.yaml}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
INVALID="${INVALID:-0.1}"
CONNS="${CONNS:-64}"
BATCH="${BATCH:-100}"
BATCH_CONNS="${BATCH_CONNS:-8}"
WORKERS="${WORKERS:-1}"
IDLE="${IDLE:-10000}"
REDIS_N="${REDIS_N:-1000000}"
GEN_CPUS="${GEN_CPUS:-0}"
SERVER_CPUS="${SERVER_CPUS:-1}"
REDIS_CPUS="${REDIS_CPUS:-$SERVER_CPUS}"
NGINX_BODY="${NGINX_BODY:-mirror}"
NGINX_WORKERS="${NGINX_WORKERS:-1}"
REDIS_TRANSPORT="${REDIS_TRANSPORT:-unix}"
case "$REDIS_TRANSPORT" in unix | tcp) ;; *) echo "bench: REDIS_TRANSPORT is unix or tcp" >&2; exit 2 ;; esac

die() { echo "bench: $*" >&2; exit 2; }
[ -x "$LOAD" ] || die "no load generator at $LOAD (cmake --build BUILD --target sluice-load)"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx is required"
command -v redis-server >/dev/null || die "redis-server is required"
command -v redis-benchmark >/dev/null || die "redis-benchmark is required"
command -v python3 >/dev/null || die "python3 is required (JSON parsing, free ports)"
command -v curl >/dev/null || die "curl is required"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
PIN_GEN=(taskset -c "$GEN_CPUS")
PIN_SRV=(taskset -c "$SERVER_CPUS")
PIN_REDIS=(taskset -c "$REDIS_CPUS")
command -v taskset >/dev/null || { PIN_GEN=(); PIN_SRV=(); PIN_REDIS=(); }

work="$(mktemp -d /tmp/sluice-bench.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# jget FILE EXPR: a value from a JSON file (EXPR indexes `d`, e.g. 'd["latency_ms"]["p99"]').
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null || echo "n/a"; }
# cpu_ticks PID: utime+stime of a process (all threads), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
wait_http() { # URL TRIES: until GET answers 2xx
    for _ in $(seq "$2"); do
        curl -s -o /dev/null -f "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}
declare -A R # every figure, for the summary and JSON_OUT

# run NAME URL [sluice-load args...]: one generator run (pinned), JSON kept in $work/NAME.json,
# server CPU use measured for the PIDs in $cpu_pids.
cpu_pids=""
run() {
    local name="$1" url="$2"
    shift 2
    local before=() p i=0
    for p in $cpu_pids; do before+=("$(cpu_ticks "$p")"); done
    local t0 t1
    t0=$(date +%s.%N)
    "${PIN_GEN[@]}" "$LOAD" --url "$url" --json "$@" >"$work/$name.json" 2>"$work/$name.err"
    local rc=$?
    t1=$(date +%s.%N)
    local cpu="" frac=""
    for p in $cpu_pids; do
        local d=$(($(cpu_ticks "$p") - before[i]))
        local f=$(python3 -c "print('%.4f' % ($d / $hz / ($t1 - $t0)))")
        cpu+="$(python3 -c "print('%.0f%%' % (100.0 * $f))") "
        frac+="$f "
        i=$((i + 1))
    done
    R[$name.cpu]="${cpu% }"
    R[$name.cpu_frac]="${frac% }"
    if [ $rc -ne 0 ]; then
        echo "  $name: generator failed (exit $rc): $(tail -n 2 "$work/$name.err" | tr '\n' ' ')"
        return 1
    fi
    R[$name.rps]=$(jget "$work/$name.json" '"%.0f" % d["throughput"]["requests_per_s"]')
    R[$name.eps]=$(jget "$work/$name.json" '"%.0f" % d["throughput"]["events_per_s"]')
    R[$name.p50]=$(jget "$work/$name.json" '"%.3f" % d["latency_ms"]["p50"]')
    R[$name.p99]=$(jget "$work/$name.json" '"%.3f" % d["latency_ms"]["p99"]')
    R[$name.p999]=$(jget "$work/$name.json" '"%.3f" % d["latency_ms"]["p999"]')
    R[$name.svc99]=$(jget "$work/$name.json" '"%.3f" % d["service_ms"]["p99"]')
    R[$name.max]=$(jget "$work/$name.json" '"%.3f" % d["latency_ms"]["max"]')
    R[$name.status]=$(jget "$work/$name.json" '" ".join("%s:%d" % (k, v) for k, v in sorted(d["status"].items()))')
    R[$name.failed]=$(jget "$work/$name.json" 'd["requests"]["failed"] + d["requests"]["timeouts"] + d["requests"]["unsent"]')
    printf '  %-22s %10s req/s %11s events/s  p50 %8s  p99 %8s  p99.9 %8s ms  server CPU %s  [%s]\n' \
        "$name" "${R[$name.rps]}" "${R[$name.eps]}" "${R[$name.p50]}" "${R[$name.p99]}" \
        "${R[$name.p999]}" "${R[$name.cpu]:-?}" "${R[$name.status]}"
    return 0
}

# cost NAME PER: CPU microseconds each server process spent per request (PER=rps) or per event
# (PER=eps) in run NAME: its CPU share over the run (warm-up included, same load) / the rate.
cost() {
    python3 -c "
import sys
rate = float(sys.argv[1])
print(' + '.join('%.1f' % (float(f) * 1e6 / rate) for f in sys.argv[2:]) if rate > 0 else 'n/a')
" "${R[$1.$2]:-0}" ${R[$1.cpu_frac]:-} 2>/dev/null || echo n/a
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (+uncommitted changes)')"
echo "== pinning: generator on CPU $GEN_CPUS, nginx/sluice on CPU $SERVER_CPUS, redis-server on CPU $REDIS_CPUS; sluice --workers $WORKERS"
echo "== runs: ${DURATION}s measured after ${WARMUP}s warm-up; single events on $CONNS connections; batches of $BATCH on $BATCH_CONNS; ${INVALID} invalid"
load1="$(cut -d' ' -f1 /proc/loadavg)"
python3 -c "import sys; sys.exit(0 if $load1 < 0.7 else 1)" ||
    echo "!! the machine is busy (load $load1): figures will be noisy"

common=(--duration "$DURATION" --warmup "$WARMUP" --invalid "$INVALID" --drain 10)
[ "${GZIP:-0}" = 1 ] && common+=(--gzip)

# ---- 1. nginx ---------------------------------------------------------------------------------
echo
echo "== 1. HTTP ceiling: nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $NGINX_WORKERS worker(s), return 204 ($NGINX_BODY body)"
ngport=$(free_port)
mkdir -p "$work/nginx"
if [ "$NGINX_BODY" = discard ]; then
    loc='location / { return 204; }'
else
    # mirror_request_body makes nginx read the whole body (into memory) before the content phase;
    # the mirror subrequest itself goes to an internal location answering 204. empty_gif is a
    # content handler that touches no file: it refuses POST with 405, which error_page turns
    # into the 204 of @ok.
    loc='location / { mirror /_m; mirror_request_body on; empty_gif; error_page 405 =204 @ok; }
        location @ok { return 204; }
        location = /_m { internal; return 204; }'
fi
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
master_process $([ "$NGINX_WORKERS" -gt 1 ] && echo on || echo off);
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile 65536;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 32768; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    client_body_buffer_size 1m;
    client_max_body_size 16m;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    root $work/nginx;
    server {
        listen 127.0.0.1:$ngport backlog=4096;
        $loc
    }
}
EOF
"${PIN_SRV[@]}" "$NGINX" -c "$work/nginx/nginx.conf" -p "$work/nginx" >"$work/nginx/out.log" 2>&1 &
ngpid=$!
pids+=("$ngpid")
ng_ok=0
for _ in $(seq 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "http://127.0.0.1:$ngport/v1/track" 2>/dev/null)
    [ "$code" = 204 ] && { ng_ok=1; break; }
    sleep 0.1
done
if [ $ng_ok = 1 ]; then
    cpu_pids="$ngpid $(pgrep -P "$ngpid" | tr '\n' ' ')" # the master (or only process), then workers
    run nginx_single "http://127.0.0.1:$ngport" --max --connections "$CONNS" "${common[@]}"
    run nginx_batch "http://127.0.0.1:$ngport" --max --connections "$BATCH_CONNS" --batch "$BATCH" "${common[@]}"
else
    echo "  nginx did not start: $(tail -n 3 "$work/nginx/error.log" "$work/nginx/out.log" 2>/dev/null | tr '\n' ' ')"
fi
# nginx stays up (idle) for a reference open-loop run at Sluice's half rate, at the end.

# ---- 2. Redis ----------------------------------------------------------------------------------
echo
rport=$(free_port)
mkdir -p "$work/redis"
rsock="$work/redis/redis.sock"
"${PIN_REDIS[@]}" redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work/redis" --logfile "$work/redis/redis.log" --maxclients 20000 \
    --unixsocket "$rsock" --unixsocketperm 700 &
rpid=$!
pids+=("$rpid")
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "== 2. Redis ceiling: $(redis-server --version | awk '{print $3}'), redis-benchmark -P 64 XADD of a ~600 B event over $REDIS_TRANSPORT"
# One generated event close to the mean size, as the entry's `event` field (Sluice writes
# event <json> message_id <id>).
"$LOAD" --dump-events 2000 --seed 11 >"$work/events.ndjson"
event=$(python3 - "$work/events.ndjson" <<'EOF'
import sys
lines = [l.rstrip("\n") for l in open(sys.argv[1])]
mean = sum(map(len, lines)) / len(lines)
print(min(lines, key=lambda l: abs(len(l) - mean)))
EOF
)
mid=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['messageId'])" "$event")
R[redis.entry_bytes]=${#event}
rstart=$(cpu_ticks "$rpid")
t0=$(date +%s.%N)
if [ "$REDIS_TRANSPORT" = unix ]; then rb_addr=(-s "$rsock"); else rb_addr=(-p "$rport"); fi
"${PIN_GEN[@]}" redis-benchmark "${rb_addr[@]}" -P 64 -n "$REDIS_N" -c 50 --csv \
    XADD bench:stream '*' event "$event" message_id "$mid" >"$work/redis.csv" 2>"$work/redis.err"
t1=$(date +%s.%N)
R[redis.cpu]=$(python3 -c "print('%.0f%%' % (100.0 * ($(cpu_ticks "$rpid") - $rstart) / $hz / ($t1 - $t0)))")
# The test name (the command line, with the event's quotes unescaped) comes first: parse from the
# right, where rps is the 7th field of 8.
R[redis.xadd]=$(python3 - "$work/redis.csv" <<'EOF'
import sys
vals = []
for line in open(sys.argv[1]):
    f = line.strip().rsplit(",", 7)
    if len(f) == 8:
        try:
            vals.append(float(f[1].strip('"')))
        except ValueError:
            pass
print("%.0f" % vals[-1] if vals else "n/a")
EOF
)
R[redis.len]=$(redis-cli -p "$rport" xlen bench:stream 2>/dev/null)
printf '  %-22s %10s XADD/s (entry %s B, %s entries, redis CPU %s)\n' redis_xadd "${R[redis.xadd]}" \
    "${R[redis.entry_bytes]}" "${R[redis.len]}" "${R[redis.cpu]}"
redis-cli -p "$rport" flushall >/dev/null 2>&1

# ---- 3. Sluice ---------------------------------------------------------------------------------
echo
echo "== 3. Sluice: $SLUICE serve --workers $WORKERS, plan $(basename "$PLAN"), validation on"
sport=""
spid=""
if [ "$REDIS_TRANSPORT" = unix ]; then sluice_redis="unix://$rsock"; else sluice_redis="redis://127.0.0.1:$rport"; fi
R[redis.transport]=$REDIS_TRANSPORT
start_sluice() { # LOGNAME: starts a fresh server on a new port; sets spid/sport
    sport=$(free_port)
    "${PIN_SRV[@]}" "$SLUICE" serve --plan "$PLAN" --redis "$sluice_redis" \
        --listen "127.0.0.1:$sport" --workers "$WORKERS" >"$work/$1.log" 2>&1 &
    spid=$!
    pids+=("$spid")
    if ! wait_http "http://127.0.0.1:$sport/readyz" 50; then
        echo "  sluice serve did not become ready: $(tail -n 3 "$work/$1.log" | tr '\n' ' ')"
        kill "$spid" 2>/dev/null
        spid=""
        return 1
    fi
    return 0
}
stop_sluice() { [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null; spid=""; }
rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }

sl_ok=0
if [ ! -x "$SLUICE" ]; then
    echo "  no sluice binary at $SLUICE"
elif ! "$SLUICE" serve --help >/dev/null 2>&1; then
    echo "  this sluice has no working 'serve': $("$SLUICE" serve --help 2>&1 | head -n 1)"
elif start_sluice sluice; then
    sl_ok=1
    surl="http://127.0.0.1:$sport"
    cpu_pids="$spid $rpid"
    echo "  (server CPU = sluice, redis-server)"
    if run sluice_single "$surl" --max --connections "$CONNS" "${common[@]}"; then
        half=$(python3 -c "print(max(1, int(${R[sluice_single.rps]} / 2)))")
        R[half_rate]=$half
        redis-cli -p "$rport" flushall >/dev/null 2>&1 # every run starts from an empty Redis
        run sluice_open50 "$surl" --rate "$half" --connections "$CONNS" "${common[@]}"
    fi
    redis-cli -p "$rport" flushall >/dev/null 2>&1
    if run sluice_batch "$surl" --max --connections "$BATCH_CONNS" --batch "$BATCH" "${common[@]}"; then
        halfb=$(python3 -c "print(max(1, int(${R[sluice_batch.rps]} / 2)))")
        redis-cli -p "$rport" flushall >/dev/null 2>&1
        run sluice_batch_open50 "$surl" --rate "$halfb" --connections "$BATCH_CONNS" --batch "$BATCH" "${common[@]}"
    fi
    R[sluice.hwm_kb]=$(rss_kb "$spid" VmHWM)
    R[redis.stream_len]=$(redis-cli -p "$rport" xlen sluice:events 2>/dev/null)
    R[redis.invalid_len]=$(redis-cli -p "$rport" xlen sluice:invalid 2>/dev/null)
    echo "  peak RSS (VmHWM) after the load runs: ${R[sluice.hwm_kb]} kB;" \
        "streams: sluice:events ${R[redis.stream_len]:-?}, sluice:invalid ${R[redis.invalid_len]:-?} entries"
    # No loss: every messageId the collector acknowledged (2xx) must be in one of the streams.
    redis-cli -p "$rport" flushall >/dev/null 2>&1
    if run sluice_ackcheck "$surl" --rate 500 --batch 10 --connections 8 --duration 3 \
        --invalid "$INVALID" --ack-log "$work/acked.txt"; then
        for k in sluice:events sluice:invalid; do
            redis-cli -p "$rport" --raw xrange "$k" - + 2>/dev/null
        done >"$work/streams.txt"
        R[loss]=$(python3 - "$work/acked.txt" "$work/streams.txt" <<'EOF'
import sys
acked = [l.strip() for l in open(sys.argv[1]) if l.strip()]
lines = open(sys.argv[2], errors="replace").read().split("\n")
stored = {lines[i + 1] for i in range(len(lines) - 1) if lines[i] == "message_id"}
missing = [a for a in acked if a not in stored]
dup = len(acked) - len(set(acked))
print("%d acknowledged, %d stored, %d missing, %d duplicate acks" % (len(acked), len(stored), len(missing), dup))
EOF
)
        echo "  no-loss check: ${R[loss]}"
    fi
    stop_sluice
    redis-cli -p "$rport" flushall >/dev/null 2>&1

    # Idle connections, on a fresh server so earlier load does not inflate the figure.
    if start_sluice sluice_idle; then
        R[idle.base_kb]=$(rss_kb "$spid" VmRSS)
        hold=$((IDLE / 2000 + 8))
        "${PIN_GEN[@]}" "$LOAD" --url "http://127.0.0.1:$sport" --connections 0 --idle "$IDLE" \
            --duration "$hold" --json >"$work/idle.json" 2>"$work/idle.err" &
        lpid=$!
        pids+=("$lpid")
        for _ in $(seq $((hold * 10))); do
            grep -q 'idle connections open' "$work/idle.err" 2>/dev/null && break
            sleep 0.1
        done
        sleep 1
        R[idle.rss_kb]=$(rss_kb "$spid" VmRSS)
        R[idle.hwm_kb]=$(rss_kb "$spid" VmHWM)
        R[idle.open]=$(grep -o '[0-9]* idle connections open.*' "$work/idle.err" | head -n 1)
        wait "$lpid" 2>/dev/null
        echo "  RSS with $IDLE idle connections: ${R[idle.rss_kb]} kB (VmHWM ${R[idle.hwm_kb]} kB;" \
            "fresh server ${R[idle.base_kb]} kB; generator: ${R[idle.open]:-?})"
        stop_sluice
    fi
fi

# The generator and machine noise floor: nginx at the same open-loop rate as sluice_open50.
if [ $ng_ok = 1 ] && [ -n "${R[half_rate]:-}" ]; then
    echo
    echo "== reference: nginx at Sluice's half rate (the generator's and the machine's own tail)"
    cpu_pids="$ngpid $(pgrep -P "$ngpid" | tr '\n' ' ')"
    run nginx_open_ref "http://127.0.0.1:$ngport" --rate "${R[half_rate]}" --connections "$CONNS" "${common[@]}"
fi
kill "$ngpid" 2>/dev/null
wait "$ngpid" 2>/dev/null

# ---- summary -------------------------------------------------------------------------------------
echo
echo "== summary (target in brackets)"
ratio() { python3 -c "
try: print('%.2f' % (float('$1') / float('$2')))
except Exception: print('n/a')"; }
verdict() { python3 -c "
try: print('meets' if float('$1') $2 float('$3') else 'MISSES')
except Exception: print('n/a')"; }
r1=$(ratio "${R[sluice_single.rps]:-}" "${R[nginx_single.rps]:-}")
r2=$(ratio "${R[sluice_batch.eps]:-}" "${R[redis.xadd]:-}")
p99=${R[sluice_open50.p99]:-n/a}
rssmb=$(python3 -c "
try: print('%.1f' % (int('${R[idle.rss_kb]:-}') / 1024))
except Exception: print('n/a')")
hwmmb=$(python3 -c "
try: print('%.1f' % (int('${R[sluice.hwm_kb]:-}') / 1024))
except Exception: print('n/a')")
printf '  sluice single req/s / nginx req/s         %6s  [>= 0.5]  %s   (%s / %s)\n' "$r1" "$(verdict "$r1" '>=' 0.5)" "${R[sluice_single.rps]:-n/a}" "${R[nginx_single.rps]:-n/a}"
printf '  sluice batch events/s / Redis XADD/s      %6s  [>= 0.7]  %s   (%s / %s)\n' "$r2" "$(verdict "$r2" '>=' 0.7)" "${R[sluice_batch.eps]:-n/a}" "${R[redis.xadd]:-n/a}"
printf '  p99 at 50%% of max rate (single), ms      %6s  [<= 2]    %s   (at %s req/s; from the send: %s ms; batches: %s ms)\n' "$p99" "$(verdict "$p99" '<=' 2)" "${R[half_rate]:-n/a}" "${R[sluice_open50.svc99]:-n/a}" "${R[sluice_batch_open50.p99]:-n/a}"
printf '  p99 of nginx at that rate (noise floor)   %6s\n' "${R[nginx_open_ref.p99]:-n/a}"
printf '  RSS with %s idle connections, MB       %6s  [<= 64]   %s\n' "$IDLE" "$rssmb" "$(verdict "$rssmb" '<=' 64)"
printf '  peak RSS under load (VmHWM), MB           %6s\n' "$hwmmb"
printf '  no-loss check (ack log vs streams)        %s\n' "${R[loss]:-n/a}"
if [ $sl_ok = 1 ]; then
    # Where the server core's time goes (sluice + redis-server, CPU microseconds): at the maximum
    # rate, requests share wake-ups, reads and Redis round trips; at half of it, fewer do.
    R[cost.single]=$(cost sluice_single rps)
    R[cost.open50]=$(cost sluice_open50 rps)
    R[cost.batch]=$(cost sluice_batch eps)
    R[cost.nginx]=$(cost nginx_single rps)
    echo "  CPU us per request, sluice + redis-server: max rate ${R[cost.single]}, half rate" \
        "${R[cost.open50]}; per batched event ${R[cost.batch]}; nginx per request ${R[cost.nginx]}"
fi
[ $sl_ok = 1 ] || echo "  sluice serve could not be measured (see above); ceilings only"

if [ -n "${JSON_OUT:-}" ]; then
    for k in "${!R[@]}"; do printf '%s\t%s\n' "$k" "${R[$k]}"; done | python3 -c "
import json, sys
d = dict(line.rstrip('\n').split('\t', 1) for line in sys.stdin if '\t' in line)
json.dump(dict(sorted(d.items())), open(sys.argv[1], 'w'), indent=1)" "$JSON_OUT"
    echo "  figures written to $JSON_OUT"
fi
exit 0
