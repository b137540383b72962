"""The Kamailio role's server used for real by SIP clients in a second container.

Testinfra runs against the server (podman connection); the client container is reached with
host.get_host("podman://..."). Tests run in file order: registrations, the call, TLS, the
firewall, the database copy of the location table, the removal of a subscriber (by a
re-converge), and the flood last (its ban is lifted at the end).
"""

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

SERVER = "nebulavoip-kamailio-srv"
CLIENT = "nebulavoip-kamailio-cli"
DOMAIN = "sip.nebulavoip.test"
PASSWORDS = {"alice": "alice-Secret-1", "bob": "bob-Secret-1", "carol": "carol-Secret-1"}
SIPP_DIR = "/opt/nebulavoip/sipp"
RUN_DIR = "/tmp/nebulavoip-sipp"
CAPTURE = "/tmp/kamailio-call.pcap"
RTP_MIN, RTP_MAX = 20000, 59999

# A one-shot REGISTER without credentials; prints the status line of the answer (or TIMEOUT).
RAW_REGISTER = r"""
import socket, sys, random
server, user, domain, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 5060))
me = s.getsockname()[0]
s.close()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((me, port))
s.settimeout(2)
tag = random.randint(1, 10**9)
msg = (
    f"REGISTER sip:{domain} SIP/2.0\r\n"
    f"Via: SIP/2.0/UDP {me}:{port};rport;branch=z9hG4bK{tag}\r\n"
    f"From: <sip:{user}@{domain}>;tag={tag}\r\n"
    f"To: <sip:{user}@{domain}>\r\n"
    f"Call-ID: {tag}@{me}\r\nCSeq: 1 REGISTER\r\n"
    f"Contact: <sip:{user}@{me}:{port}>\r\nExpires: 60\r\nMax-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)
s.sendto(msg.encode(), (server, 5060))
try:
    data = s.recv(65535).decode(errors="replace")
    print(data.splitlines()[0])
    print(data)
except socket.timeout:
    print("TIMEOUT")
"""


@pytest.fixture(scope="module")
def client(host):
    return host.get_host(f"podman://{CLIENT}")


def ipv4(h):
    out = h.check_output("ip -4 -o addr show eth0")
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out).group(1)


@pytest.fixture(scope="module")
def server_ip(host):
    return ipv4(host)


@pytest.fixture(scope="module")
def client_ip(client):
    return ipv4(client)


def raw_register(client, server_ip, user, port=5199):
    client.run(f"cat > /tmp/raw_register.py << 'EOF'\n{RAW_REGISTER}\nEOF")
    return client.check_output(f"python3 /tmp/raw_register.py {server_ip} {user} {DOMAIN} {port}")


def sipp_register(client, server_ip, client_ip, user, password, port, expires=3600):
    """REGISTER with digest auth through the role's register.xml; returns the command result."""
    csv = f"SEQUENTIAL\\n{user};{DOMAIN};{expires}\\n"
    return client.run(
        f"mkdir -p {RUN_DIR} && cd {RUN_DIR} && printf '{csv}' > reg-{user}.csv && "
        f"timeout 15 sipp {server_ip}:5060 -sf {SIPP_DIR}/register.xml -inf reg-{user}.csv "
        f"-au {user} -ap {shlex.quote(password)} -i {client_ip} -p {port} -m 1 "
        f"-nostdin -timeout 8s -timeout_error -trace_err"
    )


def kamcmd(host, *args):
    return host.check_output("kamcmd " + " ".join(shlex.quote(a) for a in args))


def mysql(host, query):
    return host.check_output(f"mariadb -N -B kamailio -e {shlex.quote(query)}")


def test_rtpengine_mariadb_and_kamailio_run_and_kamailio_starts_after_rtpengine(host):
    for unit in ("mariadb", "rtpengine-daemon", "kamailio"):
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit
    after = host.check_output("systemctl show -p After --value kamailio")
    assert "rtpengine-daemon.service" in after
    assert host.run("kamailio -c -f /etc/kamailio/kamailio.cfg").rc == 0


def test_packaged_kamailio_cfg_is_kept_and_local_cfg_switches_the_features(host):
    assert host.run("dpkg --verify kamailio").stdout.find("kamailio.cfg") == -1
    local = host.file("/etc/kamailio/kamailio-local.cfg")
    assert local.mode == 0o640 and local.group == "kamailio"
    text = local.content_string
    for define in ("WITH_MYSQL", "WITH_AUTH", "WITH_USRLOCDB", "WITH_NAT", "WITH_RTPENGINE",
                   "WITH_ANTIFLOOD", "WITH_TLS"):
        assert f"#!define {define}\n" in text
    assert "#!define WITH_ACCDB" not in text
    assert "event_route[core:pre-routing]" in text
    # the sizing reached the running process
    args = host.check_output("cat /proc/$(cat /run/kamailio/kamailio.pid)/cmdline | tr '\\0' ' '")
    assert "-m 256" in args and "-n 4" in args
    assert "-x tlsf -X tlsf" in args  # the allocator that keeps up at 4,000+ concurrent calls


def test_mariadb_is_secured_and_the_schema_exists(host):
    assert mysql(host, "SELECT COUNT(*) FROM mysql.user WHERE User = ''") == "0"
    assert host.check_output("mariadb -N -B -e 'SHOW DATABASES'").split().count("test") == 0
    assert "unix_socket" in host.check_output(
        "mariadb -N -B -e \"SELECT Priv FROM mysql.global_priv WHERE User='root' AND Host='localhost'\"")
    tables = mysql(host, "SELECT table_name FROM version").split()
    for table in ("version", "subscriber", "location", "acc", "dialog"):
        assert table in tables


def test_accounts_have_least_privilege(host):
    rw = host.check_output("mariadb -N -B -e 'SHOW GRANTS FOR kamailio@localhost'")
    assert "GRANT SELECT, INSERT, UPDATE, DELETE, LOCK TABLES ON `kamailio`.*" in rw
    assert "ALL PRIVILEGES" not in rw and "DROP" not in rw
    ro = host.check_output("mariadb -N -B -e 'SHOW GRANTS FOR kamailioro@localhost'")
    assert "GRANT SELECT ON `kamailio`.*" in ro


def test_subscribers_are_stored_as_ha1_and_ha1b_without_plaintext(host):
    rows = mysql(host, "SELECT username, domain, password, ha1, ha1b FROM subscriber ORDER BY username")
    found = {}
    for line in rows.splitlines():
        user, domain, password, ha1, ha1b = line.split("\t")
        found[user] = (domain, password, ha1, ha1b)
    assert set(found) == set(PASSWORDS)
    for user, (domain, password, ha1, ha1b) in found.items():
        assert domain == DOMAIN and password == ""
        assert ha1 == hashlib.md5(f"{user}:{DOMAIN}:{PASSWORDS[user]}".encode()).hexdigest()
        assert ha1b == hashlib.md5(f"{user}@{DOMAIN}:{DOMAIN}:{PASSWORDS[user]}".encode()).hexdigest()


def test_register_without_credentials_is_challenged_with_401(client, server_ip):
    answer = raw_register(client, server_ip, "alice")
    assert answer.startswith("SIP/2.0 401"), answer
    assert f'WWW-Authenticate: Digest realm="{DOMAIN}"' in answer


def test_register_with_a_wrong_password_is_refused(host, client, server_ip, client_ip):
    result = sipp_register(client, server_ip, client_ip, "alice", "not-the-password", 5181)
    assert result.rc != 0
    errors = client.run(f"cat {RUN_DIR}/register_*_errors.log").stdout
    assert "SIP/2.0 401" in errors  # challenged again instead of 200
    assert "AoR: alice" not in kamcmd(host, "ul.dump", "brief")
    client.run(f"rm -f {RUN_DIR}/*_errors.log")


def test_two_subscribers_register_with_digest_auth_and_the_location_table_holds_them(
        host, client, server_ip, client_ip):
    for user, port in (("bob", 5070), ("alice", 5080)):
        result = sipp_register(client, server_ip, client_ip, user, PASSWORDS[user], port)
        assert result.rc == 0, result.stdout + result.stderr
    dump = kamcmd(host, "ul.dump")
    assert f"sip:bob@{client_ip}:5070" in dump
    assert f"sip:alice@{client_ip}:5080" in dump


def test_authenticated_call_relays_rtp_both_ways_through_rtpengine_with_no_loss(
        host, client, server_ip, client_ip):
    host.run("systemctl stop nv-capture 2>/dev/null; systemctl reset-failed nv-capture 2>/dev/null")
    host.check_output(f"rm -f {CAPTURE} && systemd-run --unit nv-capture "
                      f"tcpdump -i any -s 0 -U -w {CAPTURE} udp")
    time.sleep(1.5)
    call = client.run(
        f"mkdir -p {RUN_DIR} && cd {RUN_DIR} && printf 'SEQUENTIAL\\nalice;{DOMAIN};bob\\n' > call.csv; "
        f"(timeout 30 sipp -sf {SIPP_DIR}/uas_rr.xml -i {client_ip} -mi {client_ip} -p 5070 -mp 16000 "
        f"-m 1 -nostdin -timeout 25s -timeout_error -trace_err > uas.out 2>&1; echo $? > uas.rc) & "
        f"sleep 0.5; timeout 30 sipp {server_ip}:5060 -sf {SIPP_DIR}/uac_auth.xml -inf call.csv "
        f"-au alice -ap {PASSWORDS['alice']} -i {client_ip} -mi {client_ip} -p 5080 -mp 17000 "
        f"-d 8000 -m 1 -nostdin -timeout 25s -timeout_error -trace_err > uac.out 2>&1; "
        f"echo uac=$?; wait; echo uas=$(cat uas.rc)"
    )
    time.sleep(1)
    host.run("systemctl stop nv-capture")
    assert "uac=0" in call.stdout and "uas=0" in call.stdout, (
        call.stdout + client.run(f"cat {RUN_DIR}/*errors.log").stdout)

    streams = host.check_output(f"tshark -r {CAPTURE} -q -z rtp,streams")
    rows = [line.split() for line in streams.splitlines()
            if re.match(r"\s*\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+\.\d+\.\d+", line)]
    assert len(rows) == 4, streams  # two legs, each with RTP in both directions
    for row in rows:
        src, sport, dst, dport, packets, lost = row[2], int(row[3]), row[4], int(row[5]), int(row[8]), row[9]
        assert {src, dst} == {server_ip, client_ip}, row
        relay_port = sport if src == server_ip else dport
        assert RTP_MIN <= relay_port <= RTP_MAX, row  # an rtpengine port
        assert packets >= 200 and lost == "0", row
    directions = {(row[2], row[4]) for row in rows}
    assert directions == {(client_ip, server_ip), (server_ip, client_ip)}

    # keep the capture for the QoS engine's comparison with tshark
    project = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."))
    dests = [project / ".cache" / "captures" / "kamailio-call.pcap"]
    if os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY"):
        dests.append(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "kamailio-call.pcap")
    for dest in dests:
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["podman", "cp", f"{SERVER}:{CAPTURE}", str(dest)], check=True)
        assert dest.stat().st_size > 50_000


def test_answered_calls_leave_no_syslog_line_by_default(host):
    # runs after the call above; Kamailio's own syslog lines do reach the journal
    journal = host.check_output("journalctl -u kamailio --no-pager -o cat")
    assert "probe_max_receive_buffer" in journal
    assert "ACC: transaction answered" not in journal


def test_tls_port_completes_a_handshake_with_the_self_signed_certificate(client, server_ip):
    out = client.check_output(
        "python3 -c \"import socket, ssl; c = ssl.create_default_context(); "
        "c.check_hostname = False; c.verify_mode = ssl.CERT_NONE; "
        f"s = c.wrap_socket(socket.create_connection(('{server_ip}', 5061), 5)); "
        "print(s.version(), s.getpeercert(binary_form=True) is not None)\"")
    assert out.startswith("TLSv1.") and out.endswith("True")


def test_firewall_opens_sip_and_drops_other_ports(host, client, server_ip):
    ruleset = host.check_output("nft list table inet kamailio")
    assert "policy drop" in ruleset and "udp dport 5060 accept" in ruleset
    assert f"udp dport {RTP_MIN}-{RTP_MAX} accept" in ruleset
    host.run("systemctl stop nv-listener 2>/dev/null; systemctl reset-failed nv-listener 2>/dev/null")
    host.check_output("systemd-run --unit nv-listener python3 -m http.server 8088 --bind 0.0.0.0")
    time.sleep(1)
    probe = ("python3 -c \"import socket, sys; s = socket.socket(); s.settimeout(2); "
             f"print(s.connect_ex(('{server_ip}', int(sys.argv[1]))))\" ")
    try:
        assert host.run("python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8088), 2)\"").rc == 0
        assert client.check_output(probe + "5060") == "0"  # SIP over TCP
        assert client.check_output(probe + "8088") != "0"  # listening, but not opened
    finally:
        host.run("systemctl stop nv-listener")


def test_registrations_reach_the_location_table_in_the_database(host, client_ip):
    # usrloc writes back to MySQL on its timer (60 s in the packaged kamailio.cfg)
    deadline = time.time() + 75
    contacts = ""
    while time.time() < deadline:
        contacts = mysql(host, "SELECT username, contact FROM location")
        if "alice" in contacts and "bob" in contacts:
            break
        time.sleep(3)
    assert f"sip:alice@{client_ip}:5080" in contacts
    assert f"sip:bob@{client_ip}:5070" in contacts


def test_removed_subscriber_cannot_register_after_a_reconverge(host, client, server_ip, client_ip):
    assert sipp_register(client, server_ip, client_ip, "carol", PASSWORDS["carol"], 5090).rc == 0
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    playbook = Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.run(
        [str(playbook), "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(scenario / "converge.yml"),
         "-e", json.dumps({"kamailio_test_removed": ["carol"]})],
        capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"nebulavoip-kamailio-srv\s*:\s*ok=\d+\s+changed=[1-9]", run.stdout)
    assert "carol" not in mysql(host, "SELECT username FROM subscriber").split()
    assert "AoR: carol" not in kamcmd(host, "ul.dump", "brief")
    refused = sipp_register(client, server_ip, client_ip, "carol", PASSWORDS["carol"], 5091)
    assert refused.rc != 0
    assert "bob" in mysql(host, "SELECT username FROM subscriber").split()


def test_sip_flood_from_one_address_gets_it_banned_by_pike(host, client, server_ip, client_ip):
    assert raw_register(client, server_ip, "alice", 5198).startswith("SIP/2.0 401")
    try:
        # ~600 INVITEs in 2 s from one address; pike allows 16 per 2 s
        client.run(f"mkdir -p {RUN_DIR} && cd {RUN_DIR} && timeout 10 sipp {server_ip}:5060 -sn uac "
                   f"-i {client_ip} -p 5197 -r 300 -m 600 -nostdin -timeout 6s > flood.out 2>&1")
        assert "value: 1" in kamcmd(host, "htable.get", "ipban", client_ip)
        assert raw_register(client, server_ip, "alice", 5196) == "TIMEOUT"
        log = host.check_output("journalctl --no-pager -q -n 2000 -t /usr/sbin/kamailio -t kamailio")
        assert "pike blocking" in log and f"(IP:{client_ip}:5197)" in log
    finally:
        host.run(f"kamcmd htable.delete ipban {client_ip}")
    time.sleep(4.5)  # pike forgets the address after remove_latency
    assert raw_register(client, server_ip, "alice", 5195).startswith("SIP/2.0 401")
