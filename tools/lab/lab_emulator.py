"""The lab's OpenNebula: tools/one_emulator with the podman VM backend, run in the background.

    python3 tools/lab/lab_emulator.py start    # idempotent; prints "started URL" or "running URL"
    python3 tools/lab/lab_emulator.py status   # "running URL" (exit 0) or "stopped" (exit 3)
    python3 tools/lab/lab_emulator.py stop     # stops the emulator, keeps the VMs' containers
    python3 tools/lab/lab_emulator.py down     # stops it and removes every lab container, network and state

Everything lives in the lab directory (``NEBULAVOIP_LAB_DIR``, default ``.cache/lab`` of the repository):
``one_auth`` (``oneadmin:<password>``, 0600, made once; the ONE_AUTH file format), ``one-state.json`` (the
emulator's objects, so a restarted emulator keeps the cloud and finds its containers again), ``emulator.pid``,
``emulator.url`` and ``emulator.log``.  Options from the environment: ``NEBULAVOIP_LAB_PORT`` (2633),
``NEBULAVOIP_LAB_SPEED`` (5: every emulated delay of the dummy drivers divided by 5),
``NEBULAVOIP_LAB_PREFIX`` (``lab-``: names of containers and networks), ``NEBULAVOIP_LAB_IMAGE``.
Standard library only.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.environ.get("NEBULAVOIP_LAB_DIR") or os.path.join(ROOT, ".cache", "lab")
PORT = int(os.environ.get("NEBULAVOIP_LAB_PORT", "2633"))
SPEED = os.environ.get("NEBULAVOIP_LAB_SPEED", "5")
PREFIX = os.environ.get("NEBULAVOIP_LAB_PREFIX", "lab-")
IMAGE = os.environ.get("NEBULAVOIP_LAB_IMAGE", "localhost/nebulavoip/debian12:latest")
START_TIMEOUT = 30.0


def path(name: str) -> str:
    return os.path.join(LAB_DIR, name)


def password() -> str:
    """oneadmin's password, from the lab's ONE_AUTH file (made on first use)."""
    auth = path("one_auth")
    if not os.path.exists(auth):
        os.makedirs(LAB_DIR, exist_ok=True)
        fd = os.open(auth, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("oneadmin:%s\n" % secrets.token_urlsafe(18))
    with open(auth, encoding="utf-8") as handle:
        return handle.read().strip().partition(":")[2]


def running_pid():
    """The emulator's PID when it runs and answers, else None."""
    try:
        with open(path("emulator.pid"), encoding="utf-8") as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if answers(url()) else None


def url() -> str:
    return "http://127.0.0.1:%d/RPC2" % PORT


def answers(endpoint: str) -> bool:
    """True when one.system.version answers on the endpoint."""
    body = b"<?xml version='1.0'?><methodCall><methodName>one.system.version</methodName><params>" \
           b"<param><value><string>x</string></value></param></params></methodCall>"
    request = urllib.request.Request(endpoint, data=body, headers={"Content-Type": "text/xml"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # nosec - loopback only
            return response.status == 200
    except OSError:
        return False


def start() -> int:
    if running_pid():
        print("running %s" % url())
        return 0
    if answers(url()):
        print("port %d answers but is not the lab's emulator (no %s): stop that service or set NEBULAVOIP_LAB_PORT"
              % (PORT, path("emulator.pid")), file=sys.stderr)
        return 1
    secret = password()
    command = [sys.executable, os.path.join(ROOT, "tools", "one_emulator"), "--host", "127.0.0.1", "--port", str(PORT),
               "--speed", SPEED, "--state", path("one-state.json"), "--backend", "podman",
               "--backend-opt", "prefix=" + PREFIX, "--backend-opt", "image=" + IMAGE]
    env = dict(os.environ, ONE_EMULATOR_PASSWORD=secret)
    env.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "tools", "podman", "containers.conf"))
    out = path("emulator.out")
    with open(path("emulator.log"), "ab") as log, open(out, "wb") as ready:
        proc = subprocess.Popen(command, stdout=ready, stderr=log, stdin=subprocess.DEVNULL, env=env,  # pylint: disable=consider-using-with
                                start_new_session=True, cwd=ROOT)
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        with open(out, encoding="utf-8", errors="replace") as handle:
            if handle.read().startswith("ready "):
                break
        time.sleep(0.1)
    else:
        if proc.poll() is None:
            proc.kill()
        print("the emulator did not start (exit %s); see %s" % (proc.poll(), path("emulator.log")), file=sys.stderr)
        return 1
    with open(path("emulator.pid"), "w", encoding="utf-8") as handle:
        handle.write("%d\n" % proc.pid)
    with open(path("emulator.url"), "w", encoding="utf-8") as handle:
        handle.write(url() + "\n")
    print("started %s" % url())
    return 0


def stop() -> int:
    pid = running_pid()
    if pid is None:
        print("stopped")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    os.unlink(path("emulator.pid"))
    print("stopped (was %d)" % pid)
    return 0


def down() -> int:
    stop()
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    os.environ.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "tools", "podman", "containers.conf"))
    from one_emulator.podman_backend import PodmanBackend  # pylint: disable=import-outside-toplevel
    PodmanBackend(prefix=PREFIX).cleanup()
    for name in ("one-state.json", "emulator.url"):
        if os.path.exists(path(name)):
            os.unlink(path(name))
    print("lab removed: containers and networks %s*, emulator state" % PREFIX)
    return 0


def status() -> int:
    if running_pid():
        print(json.dumps({"state": "running", "url": url(), "auth_file": path("one_auth")}))
        return 0
    print(json.dumps({"state": "stopped"}))
    return 3


def main(argv) -> int:
    actions = {"start": start, "stop": stop, "down": down, "status": status}
    if len(argv) != 2 or argv[1] not in actions:
        print("usage: lab_emulator.py start|status|stop|down", file=sys.stderr)
        return 2
    return actions[argv[1]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
