"""Test stand-in for OpenNebula's oned (package built by molecule/opennebula/build_repo.sh).

Runs the OpenNebula 7.2 XML-RPC emulator the way oned starts: it reads PORT and LISTEN_ADDRESS
from /etc/one/oned.conf and oneadmin's password from ~oneadmin/.one/one_auth, creates the
serveradmin credential files (sunstone_auth, oneflow_auth, onegate_auth) like oned does at its
first start, writes its PID to /var/lock/one/one, logs to /var/log/one/oned.log and tells systemd
it is ready (Type=notify) once the API accepts calls.
"""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys

CONF = "/etc/one/oned.conf"
HOME = "/var/lib/one"
EMULATOR = "/usr/share/one/one_emulator"
STATE = HOME + "/one_emulator.json"
LOG = "/var/log/one/oned.log"
PIDFILE = "/var/lock/one/one"


def conf_value(text, key, default):
    """Value of the last uncommented top-level ``KEY = value`` line."""
    found = re.findall(r'^%s\s*=\s*"?([^"\n#]*?)"?\s*(?:#.*)?$' % key, text, re.M | re.I)
    return found[-1].strip() if found else default


def notify(message):
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


def main():
    with open(CONF, encoding="utf-8") as handle:
        text = handle.read()
    port = conf_value(text, "PORT", "2633")
    listen = conf_value(text, "LISTEN_ADDRESS", "0.0.0.0")
    with open(HOME + "/.one/one_auth", encoding="utf-8") as handle:
        user, sep, password = handle.readline().strip().partition(":")
    if user != "oneadmin" or not sep or not password:
        sys.exit("oned: %s/.one/one_auth must hold oneadmin:PASSWORD" % HOME)
    for name in ("sunstone_auth", "oneflow_auth", "onegate_auth"):
        path = "%s/.one/%s" % (HOME, name)
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write("serveradmin:%s\n" % secrets.token_hex(16))
    env = dict(os.environ, ONE_EMULATOR_PASSWORD=password)
    with open(LOG, "a", encoding="utf-8") as log:
        child = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, EMULATOR, "--host", listen, "--port", port, "--state", STATE],
            stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    signal.signal(signal.SIGTERM, lambda *args: child.terminate())
    line = child.stdout.readline()
    if not line.startswith("ready"):
        child.wait()
        sys.exit("oned: the emulator did not start (see %s)" % LOG)
    with open(PIDFILE, "w", encoding="utf-8") as handle:
        handle.write("%d\n" % os.getpid())
    notify("READY=1\nSTATUS=%s" % line.strip())
    sys.exit(child.wait())


if __name__ == "__main__":
    main()
