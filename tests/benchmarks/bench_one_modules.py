# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: create, re-run and delete N vnets / images / templates with
nebulavoip.cloud's modules and with community.general's, on tools/one_emulator.

    .venv/bin/python tests/benchmarks/bench_one_modules.py [--count 20] [--speed 50]

Prints, per module and phase: XML-RPC calls (counted by the emulator), tasks
reported changed, failures, and wall time of the ansible-playbook run. Each
collection gets a fresh emulator per resource kind. A benchmark prints figures;
it asserts nothing.
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
_spec = importlib.util.spec_from_file_location('it_run', os.path.join(REPO, 'tests', 'integration', 'run.py'))
it_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(it_run)


def ours(kind, i, state='present'):
    name = f'bench-{kind}-{i}'
    if state == 'absent':
        return 'nebulavoip.cloud.one_' + kind, {'name': name, 'state': 'absent'}
    if kind == 'vnet':
        return 'nebulavoip.cloud.one_vnet', {'name': name, 'vn_mad': 'dummy', 'bridge': 'br0',
                                             'ars': [{'type': 'IP4', 'ip': f'10.0.{i}.10', 'size': 10}]}
    if kind == 'image':
        return 'nebulavoip.cloud.one_image', {'name': name, 'size': 8, 'datastore': '1'}
    return 'nebulavoip.cloud.one_template', {'name': name, 'cpu': '1', 'memory': 64}


def community(kind, i, state='present'):
    name = f'bench-{kind}-{i}'
    if state == 'absent':
        return 'community.general.one_' + kind, {'name': name, 'state': 'absent'}
    if kind == 'vnet':
        return 'community.general.one_vnet', {
            'name': name, 'template': f'VN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.0.{i}.10",SIZE="10"]'}
    if kind == 'image':
        return 'community.general.one_image', {'name': name, 'create': True, 'datastore_id': 1,
                                               'template': 'TYPE="DATABLOCK"\nSIZE="8"'}
    return 'community.general.one_template', {'name': name, 'template': 'CPU="1"\nMEMORY="64"'}


def playbook(path, builder, kind, count, state):
    tasks = []
    for i in range(count):
        module, args = builder(kind, i, state)
        tasks.append({'name': f'{module} {i}', module: args, 'ignore_errors': True})
    with open(path, 'w') as handle:
        yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], handle, sort_keys=False)


def stats(emu):
    answer = xmlrpc.client.ServerProxy(emu.url).emulator.stats('oneadmin:' + emu.password)
    return answer[1] if isinstance(answer, list) else answer


def reset(emu):
    xmlrpc.client.ServerProxy(emu.url).emulator.reset_stats('oneadmin:' + emu.password)


def run_phase(emu, path):
    reset(emu)
    env = it_run.playbook_env(emu)
    cmd = [it_run.ansible_playbook(), '-i', 'localhost,', '-c', 'local', '-e', f'ansible_python_interpreter={sys.executable}', path]
    started = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    took = time.time() - started
    recap = re.search(r'localhost\s+:\s+ok=(\d+)\s+changed=(\d+).*?failed=(\d+).*?ignored=(\d+)', proc.stdout)
    changed = int(recap.group(2)) if recap else -1
    failed = int(recap.group(4)) if recap else -1
    return {'calls': stats(emu)['total'], 'changed': changed, 'failed': failed, 'seconds': took}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=20)
    parser.add_argument('--speed', type=float, default=50)
    parser.add_argument('--kinds', default='vnet,image,template')
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix='one-bench-') as tmp:
        for kind in args.kinds.split(','):
            for label, builder in (('nebulavoip.cloud', ours), ('community.general', community)):
                emu = it_run.Emulator(speed=args.speed)
                try:
                    for phase, state in (('create', 'present'), ('re-run', 'present'), ('delete', 'absent')):
                        path = os.path.join(tmp, f'{label}-{kind}-{phase}.yml')
                        playbook(path, builder, kind, args.count, state)
                        result = run_phase(emu, path)
                        rows.append((kind, phase, label, result))
                        print(f'{kind:<9}{phase:<8}{label:<19}calls={result["calls"]:<5}changed={result["changed"]:<4}'
                              f'failed={result["failed"]:<4}{result["seconds"]:7.2f}s', flush=True)
                finally:
                    emu.stop()
    print()
    print(f'| resource | phase | collection | XML-RPC calls | changed | failed | wall time (s) |  (N={args.count})')
    print('|---|---|---|---:|---:|---:|---:|')
    for kind, phase, label, r in rows:
        print(f'| {kind} | {phase} | {label} | {r["calls"]} | {r["changed"]} | {r["failed"]} | {r["seconds"]:.2f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
