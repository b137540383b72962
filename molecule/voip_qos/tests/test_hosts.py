"""After three runs (one with a failing call) nothing of a run is left on the hosts."""

import pytest
import testinfra

CONTAINERS = ("voip-qos-server", "voip-qos-client1", "voip-qos-client2")
CLIENTS = ("voip-qos-client1", "voip-qos-client2")


@pytest.fixture(scope="module", params=CONTAINERS)
def node(request):
    return testinfra.get_host("podman://" + request.param)


def test_no_capture_user_agent_or_impairment_process_is_left(node):
    # "[t]cpdump" does not match the shell that runs pgrep
    for pattern in ("[t]cpdump", "[b]aresip", "[s]ipp ", "[v]oip_qos_nfqueue", "[v]oip_qos_helper"):
        assert node.run("pgrep -f '%s'" % pattern).rc == 1, pattern


def test_no_transient_unit_of_the_role_is_left(node):
    units = node.run("systemctl list-units --all --no-legend 'nebulavoip-qos-*'").stdout
    assert units.strip() == ""


def test_no_nfqueue_rule_and_no_netem_qdisc_is_left(node):
    if node.exists("iptables"):
        assert "nebulavoip-voip-qos" not in node.run("iptables -w -S OUTPUT").stdout
    assert "netem" not in node.run("tc qdisc show").stdout


def test_the_run_files_were_removed_from_the_target(node):
    assert node.run("ls -A /var/tmp/nebulavoip-qos 2>/dev/null").stdout.strip() == ""


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("module", ["g711", "opus", "vp8", "aufile", "avformat", "fakevideo", "ctrl_tcp"])
def test_clients_have_the_baresip_modules_the_role_uses(name, module):
    assert testinfra.get_host("podman://" + name).file("/usr/lib/baresip/modules/%s.so" % module).exists
