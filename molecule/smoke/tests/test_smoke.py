"""The Molecule harness runs a real systemd container that Ansible changed."""


def test_systemd_is_pid_1_and_the_system_is_running(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running --wait").stdout.strip()
    assert state == "running", host.run("systemctl --failed --no-legend").stdout


def test_converge_wrote_the_marker_with_facts(host):
    marker = host.file("/etc/nebulavoip-smoke")
    assert marker.exists
    assert marker.mode == 0o644
    assert marker.content_string == "Debian 12\n"


def test_sshd_answers_with_its_banner(host):
    assert host.service("ssh").is_running
    banner = host.run(
        "python3 -c 'import socket; s=socket.create_connection((\"127.0.0.1\", 22), 5); print(s.recv(64).decode())'"
    )
    assert banner.rc == 0
    assert banner.stdout.startswith("SSH-2.0-OpenSSH")
