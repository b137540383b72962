# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the OpenNebula integration targets against tools/one_emulator, without ansible-test.

    .venv/bin/python tests/integration/run.py [TARGET ...] [--keep-going] [-v]

For every target (tests/integration/targets/<name>, an ansible-test style role)
a fresh emulator is started (``python3 tools/one_emulator --port 0 --speed 50``),
ONE_URL/ONE_USERNAME/ONE_PASSWORD are exported, the role is played on localhost
with this Python as the module interpreter, and the emulator is stopped.
The pseudo-target ``examples`` plays the EXAMPLES of every one_* module as written.
Exit status: 0 when every target passed.
"""

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TARGETS = os.path.join(HERE, 'targets')
BUILD = os.path.join(REPO, '.build', 'collections')
# EXAMPLES run in this order (later examples use what earlier ones made)
EXAMPLE_ORDER = ['one_host', 'one_vnet', 'one_image', 'one_template',
                 'one_host_info', 'one_vnet_info', 'one_image_info', 'one_template_info']


def collections_path():
    """<repo>/.build/collections plus the directory holding the ansible package's ansible_collections."""
    link = os.path.join(BUILD, 'ansible_collections', 'nebulavoip', 'cloud')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.join('..', '..', '..', '..'), link)
    paths = [BUILD]
    try:
        import ansible_collections  # noqa: F401  pylint: disable=unused-import
        for entry in list(getattr(sys.modules['ansible_collections'], '__path__', [])):
            parent = os.path.dirname(os.path.abspath(entry))
            if parent != os.path.abspath(BUILD) and parent not in paths:
                paths.append(parent)
    except ImportError:
        pass
    return os.pathsep.join(paths)


class Emulator:
    def __init__(self, speed=50):
        self.password = secrets.token_hex(8)
        cmd = [sys.executable, os.path.join(REPO, 'tools', 'one_emulator'), '--port', '0', '--speed', str(speed),
               '--password', self.password, '--quiet']
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith('ready'):
            self.stop()
            raise RuntimeError(f'emulator did not start: {line!r} {self.proc.stderr.read()[-2000:]}')
        self.url = line.split()[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def playbook_env(emu):
    env = dict(os.environ)
    env.update({
        'ONE_URL': emu.url,
        'ONE_USERNAME': 'oneadmin',
        'ONE_PASSWORD': emu.password,
        'ANSIBLE_COLLECTIONS_PATH': collections_path(),
        'ANSIBLE_ROLES_PATH': TARGETS,
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': '0',
    })
    env.pop('ONE_AUTH', None)
    return env


def ansible_playbook():
    candidate = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    return candidate if os.path.exists(candidate) else 'ansible-playbook'


def run_playbook(path, emu, verbose):
    cmd = [ansible_playbook(), '-i', 'localhost,', '-c', 'local',
           '-e', f'ansible_python_interpreter={sys.executable}', path]
    if verbose:
        cmd.append('-' + 'v' * verbose)
    return subprocess.run(cmd, env=playbook_env(emu), cwd=REPO, capture_output=True, text=True, check=False)


def examples_playbook(directory):
    tasks = []
    for name in EXAMPLE_ORDER:
        path = os.path.join(REPO, 'plugins', 'modules', name + '.py')
        source = open(path).read()
        match = re.search(r"^EXAMPLES = r'''(.*?)'''", source, re.S | re.M)
        tasks.extend(yaml.safe_load(match.group(1)) or [])
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]
    out = os.path.join(directory, 'examples.yml')
    with open(out, 'w') as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    return out


def target_playbook(directory, target):
    out = os.path.join(directory, target + '.yml')
    with open(out, 'w') as handle:
        yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False, 'roles': [target]}], handle)
    return out


def discover():
    names = []
    for name in sorted(os.listdir(TARGETS)):
        if name.startswith('setup_') or not os.path.isdir(os.path.join(TARGETS, name, 'tasks')):
            continue
        aliases = os.path.join(TARGETS, name, 'aliases')
        if os.path.exists(aliases) and 'disabled' in open(aliases).read().split():
            continue
        names.append(name)
    return names + ['examples']


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('targets', nargs='*')
    parser.add_argument('--keep-going', action='store_true', help='run every target even after a failure')
    parser.add_argument('-v', '--verbose', action='count', default=0)
    args = parser.parse_args(argv)
    targets = args.targets or discover()
    failed = []
    with tempfile.TemporaryDirectory(prefix='one-integration-') as tmp:
        for target in targets:
            started = time.time()
            emu = Emulator()
            try:
                path = examples_playbook(tmp) if target == 'examples' else target_playbook(tmp, target)
                proc = run_playbook(path, emu, args.verbose)
            finally:
                emu.stop()
            took = time.time() - started
            recap = re.findall(r'localhost\s+:\s+(ok=.*)', proc.stdout)
            status = 'PASS' if proc.returncode == 0 else 'FAIL'
            print(f'{status} {target:<20} {took:6.1f}s  {recap[-1].split("  ")[0] if recap else ""}'.rstrip(), flush=True)
            if proc.returncode != 0 or args.verbose:
                sys.stdout.write(proc.stdout[-12000:])
                sys.stdout.write(proc.stderr[-4000:])
            if proc.returncode != 0:
                failed.append(target)
                if not args.keep_going:
                    break
    print(f'{len(targets) - len(failed)} passed, {len(failed)} failed' + (f': {", ".join(failed)}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
