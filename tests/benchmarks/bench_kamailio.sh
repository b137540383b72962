#!/usr/bin/env bash
# Capacity of the role-deployed SIP server: digest auth + MySQL + rtpengine in one container.
#
#   tests/benchmarks/bench_kamailio.sh [--keep]
#
# Makes two containers on a podman network of their own (server, client), converges the
# nebulavoip.cloud.kamailio role on the server (defaults: 1 GB shared memory, 8 children, tlsf
# allocator, no per-call syslog line, rtpengine anchoring every call; anti-flood off, or pike
# would ban the load generator),
# registers "bob" from a SIPp UAS that copies Record-Route, then ramps the call rate of an
# authenticating SIPp UAC ("alice" calls "bob": INVITE/407/INVITE/180/200/ACK, hold, BYE).
# Each step lasts BENCH_STEP_SECONDS; the ramp stops after the first step with a failed call.
# For each step it prints the calls, failures, the peak of concurrent calls, and the CPU (% of
# one core) and resident memory (private + shared once) of kamailio, mariadbd and rtpengine.
# A benchmark, not a test: it prints figures and exits 0 unless the setup itself fails.
#
# Environment: BENCH_RATES ("200 400 ... 2000"), BENCH_STEP_SECONDS (12), BENCH_HOLD_MS (3500),
# BENCH_IMAGE (localhost/nebulavoip/debian12:latest), BENCH_EXTRA_VARS (JSON for the converge),
# BENCH_SERVER + BENCH_CLIENT (names of running systemd containers on one network to reuse).
# Run it from the repository root's Makefile environment (make venv images first).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export HOME="${HOME_OVERRIDE:-$root/.cache/home}"
export ANSIBLE_HOME="$root/.cache/ansible"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export CONTAINERS_CONF="$root/tools/podman/containers.conf"
export ANSIBLE_FORCE_COLOR=false
export PATH="$root/.venv/bin:$PATH"

net=nebulavoip-bench
srv="${BENCH_SERVER:-nebulavoip-bench-srv}"
cli="${BENCH_CLIENT:-nebulavoip-bench-cli}"
# BENCH_SERVER/BENCH_CLIENT: running systemd containers to reuse (kept afterwards)
reuse=no
[ -n "${BENCH_SERVER:-}" ] && [ -n "${BENCH_CLIENT:-}" ] && reuse=yes
image="${BENCH_IMAGE:-localhost/nebulavoip/debian12:latest}"
rates="${BENCH_RATES:-200 400 600 800 1000 1200 1400 1600 1800 2000}"
step="${BENCH_STEP_SECONDS:-12}"
hold="${BENCH_HOLD_MS:-3500}"
extra="${BENCH_EXTRA_VARS:-{\}}"
keep=no
[ "${1:-}" = "--keep" ] && keep=yes
work="$(mktemp -d)"
domain=bench.nebulavoip.test
alice_pw=alice-Bench-1
bob_pw=bob-Bench-1

cleanup() {
  podman exec "$cli" pkill -x sipp >/dev/null 2>&1 || true
  if [ "$keep" = no ] && [ "$reuse" = no ]; then
    podman rm -f -t 2 "$srv" "$cli" >/dev/null 2>&1 || true
    podman network rm -f "$net" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# ------------------------------------------------------------------ setup
if [ "$reuse" = no ]; then
  podman rm -f -t 2 "$srv" "$cli" >/dev/null 2>&1 || true
  podman network exists "$net" || podman network create "$net" >/dev/null
  for c in "$srv" "$cli"; do
    podman run -d --name "$c" --hostname "$c" --network "$net" --systemd=always \
      --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 "$image" /sbin/init >/dev/null
  done
fi
# systemd mounts /tmp early in boot: apt run before that fails to verify signatures
for c in "$srv" "$cli"; do
  podman exec "$c" systemctl is-system-running --wait >/dev/null 2>&1 || true
done
log "containers up; installing SIPp on the client and converging the role on the server"
podman exec "$cli" bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sip-tester >/dev/null' &
apt_pid=$!

cat > "$work/inventory.yml" <<EOF
all:
  children:
    kamailio_servers:
      hosts:
        $srv:
          ansible_connection: containers.podman.podman
      vars:
        kamailio_domain: $domain
        kamailio_db_password: bench-Rw-1
        kamailio_with_antiflood: false
        kamailio_subscribers:
          - {username: alice, password: $alice_pw}
          - {username: bob, password: $bob_pw}
EOF
ansible-playbook -i "$work/inventory.yml" molecule/kamailio/converge.yml -e "$extra" > "$work/converge.log" 2>&1 \
  || { tail -40 "$work/converge.log"; exit 1; }
wait "$apt_pid"

srv_ip="$(podman exec "$srv" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"
cli_ip="$(podman exec "$cli" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"
podman exec "$cli" mkdir -p /opt/sipp
for f in roles/kamailio/files/sipp/*.xml; do podman cp "$f" "$cli:/opt/sipp/"; done
podman exec "$cli" bash -c "cd /opt/sipp && printf 'SEQUENTIAL\nbob;$domain;3600\n' > bob.csv \
  && printf 'SEQUENTIAL\nalice;$domain;bob\n' > call.csv"

# per-process-name CPU ticks and memory: private (RssAnon, summed over the processes) plus
# shared (RssShmem, counted once: Kamailio's shared memory is mapped by every worker)
cat > "$work/sample.py" <<'EOF'
import json, os, time
names = ("kamailio", "mariadbd", "rtpengine")
out = {n: {"ticks": 0, "anon_kb": 0, "shmem_kb": 0} for n in names}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
        if comm not in names:
            continue
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        out[comm]["ticks"] += int(fields[11]) + int(fields[12])
        for line in open(f"/proc/{pid}/status"):
            key, _, value = line.partition(":")
            if key == "RssAnon":
                out[comm]["anon_kb"] += int(value.split()[0])
            elif key == "RssShmem":
                out[comm]["shmem_kb"] = max(out[comm]["shmem_kb"], int(value.split()[0]))
    except OSError:
        pass
out["t"] = time.time()
out["hz"] = os.sysconf("SC_CLK_TCK")
print(json.dumps(out))
EOF
podman cp "$work/sample.py" "$srv:/tmp/sample.py"

# a callee left by an earlier run on a reused client would hold the port
podman exec "$cli" pkill -x sipp || true
sleep 0.5
podman exec "$cli" bash -c "cd /opt/sipp && sipp $srv_ip:5060 -sf register.xml -inf bob.csv -au bob -ap $bob_pw \
  -i $cli_ip -p 5070 -m 1 -nostdin -timeout 10s >/dev/null 2>&1" || { log "bob could not register"; exit 1; }
podman exec -d "$cli" bash -c "cd /opt/sipp && exec sipp -sf uas_rr_signalling.xml -i $cli_ip -p 5070 \
  -nostdin -default_behaviors all,-abortunexp > /tmp/uas.out 2>&1"
sleep 1
log "server $srv_ip, client $cli_ip: ramping ${rates// /, } calls/s, ${step} s a step, ${hold} ms hold"

# ------------------------------------------------------------------ ramp
printf '%6s %8s %7s %7s %9s | %10s %10s %10s | %11s %11s %11s\n' \
  cps calls ok failed max_conc "kam_cpu%" "db_cpu%" "rtp_cpu%" kam_mem_MB db_mem_MB rtp_mem_MB
best=0 best_conc=0
for rate in $rates; do
  calls=$((rate * step))
  before="$(podman exec "$srv" python3 /tmp/sample.py)"
  podman exec "$cli" bash -c "cd /opt/sipp && rm -f uac_*.csv && timeout $((step + hold / 1000 + 40)) \
    sipp $srv_ip:5060 -sf uac_auth_signalling.xml -inf call.csv -au alice -ap $alice_pw -i $cli_ip -p 5080 \
    -r $rate -m $calls -d $hold -l $((rate * (hold / 1000 + 3))) -nostdin -default_behaviors all,-abortunexp \
    -timeout $((step + hold / 1000 + 30))s -trace_stat -stf uac_stat.csv -fd 1 > /tmp/uac.out 2>&1" || true
  after="$(podman exec "$srv" python3 /tmp/sample.py)"
  stats="$(podman exec "$cli" cat /opt/sipp/uac_stat.csv 2>/dev/null || true)"
  row="$(python3 - "$before" "$after" "$stats" "$rate" <<'EOF'
import csv, io, json, sys
b, a, stats, rate = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
dt = a["t"] - b["t"]
rows = list(csv.DictReader(io.StringIO(stats), delimiter=";")) if stats.strip() else []
last = rows[-1] if rows else {}
ok = int(last.get("SuccessfulCall(C)", 0) or 0)
failed = int(last.get("FailedCall(C)", 0) or 0)
created = int(last.get("OutgoingCall(C)", 0) or 0)
conc = max((int(r.get("CurrentCall", 0) or 0) for r in rows), default=0)
cpu = {n: 100.0 * (a[n]["ticks"] - b[n]["ticks"]) / a["hz"] / dt for n in ("kamailio", "mariadbd", "rtpengine")}
mem = {n: (a[n]["anon_kb"] + a[n]["shmem_kb"]) / 1024 for n in ("kamailio", "mariadbd", "rtpengine")}
print(f"{rate:6d} {created:8d} {ok:7d} {failed:7d} {conc:9d} | {cpu['kamailio']:10.1f} {cpu['mariadbd']:10.1f} "
      f"{cpu['rtpengine']:10.1f} | {mem['kamailio']:11.1f} {mem['mariadbd']:11.1f} {mem['rtpengine']:11.1f}"
      f" {int(failed == 0 and ok == created and created > 0)} {conc}")
EOF
)"
  read -r -a f <<< "$row"
  printf '%s\n' "${row% * *}"
  if [ "${f[13]}" != 1 ]; then
    break
  fi
  best=$rate best_conc=${f[14]}
  sleep 2
done

echo
echo "highest rate with 0 failed calls: $best calls/s (peak $best_conc concurrent calls, ${hold} ms hold, ${step} s steps)"
echo "server: kamailio $(podman exec "$srv" kamailio -v | awk 'NR==1 {print $3}'), rtpengine + MariaDB in one container; $(nproc) CPU cores shared with the SIPp client"
