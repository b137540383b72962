"""What the opennebula_frontend and opennebula_node roles left on the frontend and the node.

The packages are stand-ins (see ../README.md): these tests prove the roles' work -- repository,
key, install, configuration, services, API, SSH keys, registration -- not OpenNebula itself.
"""

import difflib
import json
import pathlib
import xml.etree.ElementTree as ET

import pytest
import testinfra

PASSWORD = "molecule-oneadmin-secret"  # as in molecule.yml
STOCK = pathlib.Path(__file__).resolve().parent.parent / "files" / "stock"
FRONTEND_NAME = "nebulavoip-one-frontend"
NODE_NAME = "nebulavoip-one-node"
SOURCE_URL = "http://nebulavoip-one-repo/7.2/Debian/12"


@pytest.fixture(scope="module")
def frontend():
    return testinfra.get_host("podman://" + FRONTEND_NAME)


@pytest.fixture(scope="module")
def node():
    return testinfra.get_host("podman://" + NODE_NAME)


def rpc(frontend, method, *args):
    """Call oned's XML-RPC API from inside the frontend; returns oned's answer array."""
    call = ", ".join(["'oneadmin:%s'" % PASSWORD] + [repr(a) for a in args])
    script = ("import json, xmlrpc.client; "
              "print(json.dumps(xmlrpc.client.ServerProxy('http://127.0.0.1:2633/RPC2').%s(%s)))" % (method, call))
    out = frontend.check_output("python3 -c %s", script)
    return json.loads(out)


def assert_file(host, path, mode, user="root", group="root"):
    f = host.file(path)
    assert f.exists, path
    assert f.mode == mode, "%s: %o" % (path, f.mode)
    assert (f.user, f.group) == (user, group), path
    return f


# ------------------------------------------------------------------ repository (both hosts)
@pytest.mark.parametrize("which", ["frontend", "node"])
def test_the_repository_is_a_deb822_source_signed_by_its_own_key(which, request):
    host = request.getfixturevalue(which)
    source = assert_file(host, "/etc/apt/sources.list.d/opennebula.sources", 0o644).content_string
    assert "Types: deb\n" in source
    assert "URIs: %s\n" % SOURCE_URL in source
    assert "Suites: stable\n" in source
    assert "Components: opennebula\n" in source
    assert "Signed-By: /etc/apt/keyrings/opennebula.asc\n" in source
    key = assert_file(host, "/etc/apt/keyrings/opennebula.asc", 0o644).content_string
    assert key.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert not host.file("/etc/apt/sources.list.d/opennebula.list").exists


@pytest.mark.parametrize("which", ["frontend", "node"])
def test_packages_come_from_the_signed_repository(which, request):
    host = request.getfixturevalue(which)
    package = "opennebula" if which == "frontend" else "opennebula-node-kvm"
    policy = host.check_output("apt-cache policy %s", package)
    assert "Installed: 7.2.0-1" in policy
    assert "%s stable/opennebula" % SOURCE_URL in policy
    # apt verified the signature: no unauthenticated warning in a simulated reinstall
    sim = host.run("apt-get install --reinstall -s %s", package)
    assert sim.rc == 0 and "WARNING" not in sim.stdout + sim.stderr


# ------------------------------------------------------------------ frontend
def test_frontend_packages_follow_the_toggles(frontend):
    for name in ("opennebula", "opennebula-common", "opennebula-fireedge", "opennebula-gate", "opennebula-flow"):
        pkg = frontend.package(name)
        assert pkg.is_installed, name
        assert pkg.version == "7.2.0-1", name


def test_oneadmin_user_and_group_are_9869(frontend, node):
    for host in (frontend, node):
        user = host.user("oneadmin")
        assert user.uid == 9869 and user.gid == 9869
        assert user.home == "/var/lib/one"
        assert host.group("oneadmin").gid == 9869
        assert_file(host, "/var/lib/one", 0o750, "oneadmin", "oneadmin")


def test_one_auth_holds_the_password_readable_by_oneadmin_only(frontend):
    assert_file(frontend, "/var/lib/one/.one", 0o700, "oneadmin", "oneadmin")
    auth = assert_file(frontend, "/var/lib/one/.one/one_auth", 0o600, "oneadmin", "oneadmin")
    assert auth.content_string == "oneadmin:%s\n" % PASSWORD


def test_oned_conf_changed_only_where_asked_and_kept_its_comments(frontend):
    conf = assert_file(frontend, "/etc/one/oned.conf", 0o640, "root", "oneadmin").content_string
    stock = (STOCK / "oned.conf").read_text()
    removed, added = [], []
    for line in difflib.ndiff(stock.splitlines(), conf.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:].strip())
        elif line.startswith("+ "):
            added.append(line[2:].strip())
    assert removed == ["DEBUG_LEVEL = 3,", 'DEFAULT_DEVICE_PREFIX    = "sd"', 'KEEP_SNAPSHOTS = "yes",']
    assert added == ["DEBUG_LEVEL = 2,", 'DEFAULT_DEVICE_PREFIX    = "vd"', 'KEEP_SNAPSHOTS = "no",']
    # every comment of the packaged file is still there
    assert [x for x in conf.splitlines() if x.startswith("#")] == [x for x in stock.splitlines() if x.startswith("#")]


def test_monitord_conf_changed_only_where_asked(frontend):
    conf = assert_file(frontend, "/etc/one/monitord.conf", 0o640, "root", "oneadmin").content_string
    stock = (STOCK / "monitord.conf").read_text()
    diff = [x for x in difflib.ndiff(stock.splitlines(), conf.splitlines()) if x[:2] in ("- ", "+ ")]
    assert [x[:2] + x[2:].strip() for x in diff] == ["- MONITOR_HOST   = 120,", "+ MONITOR_HOST   = 60,"]


def test_etc_one_is_readable_by_oneadmin_only(frontend):
    assert_file(frontend, "/etc/one", 0o750, "root", "oneadmin")


@pytest.mark.parametrize("service", ["opennebula", "opennebula-fireedge", "opennebula-gate", "opennebula-flow"])
def test_frontend_services_are_running_and_enabled(frontend, service):
    svc = frontend.service(service)
    assert svc.is_running, frontend.run("systemctl status %s", service).stdout
    assert svc.is_enabled


def test_oned_listens_where_oned_conf_says(frontend):
    assert frontend.socket("tcp://0.0.0.0:2633").is_listening
    assert frontend.socket("tcp://0.0.0.0:2616").is_listening  # FireEdge


def test_oned_answers_with_the_one_auth_password(frontend):
    ok, version, code = rpc(frontend, "one.system.version")[:3]
    assert ok is True and code == 0
    assert version == "7.2.0"
    answer = rpc(frontend, "one.system.version")
    assert answer[0] is True


def test_serveradmin_credentials_exist_for_the_services(frontend):
    for name in ("sunstone_auth", "oneflow_auth", "onegate_auth"):
        f = assert_file(frontend, "/var/lib/one/.one/" + name, 0o600, "oneadmin", "oneadmin")
        assert f.content_string.startswith("serveradmin:")


def test_oneadmin_has_a_key_pair_on_the_frontend(frontend):
    assert_file(frontend, "/var/lib/one/.ssh", 0o700, "oneadmin", "oneadmin")
    assert_file(frontend, "/var/lib/one/.ssh/id_ed25519", 0o600, "oneadmin", "oneadmin")
    # community.crypto.openssh_keypair gives the public key the private key's mode
    pub = assert_file(frontend, "/var/lib/one/.ssh/id_ed25519.pub", 0o600, "oneadmin", "oneadmin")
    assert pub.content_string.startswith("ssh-ed25519 ")


def host_key(host):
    return " ".join(host.file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2])


def test_known_hosts_hold_the_other_sides_host_key(frontend, node):
    known = assert_file(frontend, "/var/lib/one/.ssh/known_hosts", 0o644, "oneadmin", "oneadmin").content_string
    assert "%s %s" % (NODE_NAME, host_key(node)) in known
    known = assert_file(node, "/var/lib/one/.ssh/known_hosts", 0o644, "oneadmin", "oneadmin").content_string
    assert "%s %s" % (FRONTEND_NAME, host_key(frontend)) in known


def test_keys_are_authorised_both_ways(frontend, node):
    frontend_pub = " ".join(frontend.file("/var/lib/one/.ssh/id_ed25519.pub").content_string.split()[:2])
    node_pub = " ".join(node.file("/var/lib/one/.ssh/id_ed25519.pub").content_string.split()[:2])
    node_auth = assert_file(node, "/var/lib/one/.ssh/authorized_keys", 0o600, "oneadmin", "oneadmin").content_string
    front_auth = assert_file(frontend, "/var/lib/one/.ssh/authorized_keys", 0o600, "oneadmin", "oneadmin").content_string
    assert frontend_pub in node_auth
    assert node_pub in front_auth
    assert frontend_pub in front_auth  # the frontend reaches itself


@pytest.mark.parametrize("direction", ["frontend->node", "node->frontend"])
def test_oneadmin_logs_in_over_ssh_with_strict_host_key_checking(frontend, node, direction):
    source, target = (frontend, NODE_NAME) if direction == "frontend->node" else (node, FRONTEND_NAME)
    out = source.run("runuser -u oneadmin -- ssh -o BatchMode=yes -o StrictHostKeyChecking=yes %s id -un", target)
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "oneadmin"


# ------------------------------------------------------------------ node
def test_node_packages_bring_libvirt(node):
    assert node.package("opennebula-node-kvm").version == "7.2.0-1"
    assert node.package("libvirt-daemon-system").is_installed
    assert node.file("/etc/sysctl.d/bridge-nf-call.conf").exists


def test_libvirt_is_configured_for_oneadmin(node):
    libvirtd = node.file("/etc/libvirt/libvirtd.conf").content_string.splitlines()
    assert 'unix_sock_group = "oneadmin"' in libvirtd
    assert 'unix_sock_rw_perms = "0770"' in libvirtd
    qemu = node.file("/etc/libvirt/qemu.conf").content_string.splitlines()
    assert 'user = "oneadmin"' in qemu
    assert 'group = "oneadmin"' in qemu
    assert "dynamic_ownership = 0" in qemu
    assert "libvirt" in node.user("oneadmin").groups


def test_libvirt_runs_and_oneadmin_can_use_it(node):
    assert node.service("libvirtd").is_enabled
    for socket in ("libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket"):
        assert node.service(socket).is_running and node.service(socket).is_enabled, socket
    out = node.run("runuser -u oneadmin -- virsh -c qemu:///system uri")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "qemu:///system"


def test_the_node_has_no_dev_kvm_here(node):
    # the reason the scenario sets opennebula_node_require_kvm=false (converge asserts the warning)
    assert not node.exists("/dev/kvm") or not node.file("/dev/kvm").exists


def test_node_is_registered_and_monitored(frontend):
    ok, body = rpc(frontend, "one.hostpool.info")[:2]
    assert ok is True
    hosts = ET.fromstring(body).findall("HOST")
    assert [h.findtext("NAME") for h in hosts] == [NODE_NAME]
    host = hosts[0]
    assert host.findtext("STATE") == "2"  # MONITORED
    assert host.findtext("IM_MAD") == "kvm"
    assert host.findtext("VM_MAD") == "kvm"
    assert host.findtext("CLUSTER") == "default"
