# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: nebulavoip.cloud.one_vm against community.general.one_vm on tools/one_emulator.

    .venv/bin/python tests/benchmarks/bench_one_vm.py [--sizes 1,10,50] [--speed 50] [--boot-failure-timeout 15]

For every N and both modules, on a fresh emulator: create a set of N VMs (exact_count N),
re-run the same task (a no-op), then remove the set (exact_count 0). Once per module: a VM
whose deploy fails (BOOT_FAILURE injected) -- how long until the task ends, how many calls,
whether the VM's ID is reported. Prints XML-RPC calls (counted by the emulator), changed,
failed and the wall time of the module's main() (each phase runs in a fresh Python process
through ansible's patch_module_args; --playbook times whole ansible-playbook runs instead).
A benchmark prints figures; it asserts nothing.
"""

import argparse
import importlib.util
import json
import os
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

TEMPLATE = 'NAME="bench-tpl"\nCPU="0.1"\nVCPU="1"\nMEMORY="64"\nNIC=[NETWORK="bench-net"]\nCONTEXT=[NETWORK="YES"]\n'
NETWORK = 'NAME="bench-net"\nVN_MAD="bridge"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.50.0.10",SIZE="250"]\n'


def task(impl, count, wait_timeout=300):
    if impl == 'nebulavoip':
        return 'nebulavoip.cloud.one_vm', {'name': 'bench-%i', 'template': 'bench-tpl', 'exact_count': count,
                                           'labels': ['bench'], 'wait_timeout': wait_timeout}
    return 'community.general.one_vm', {'template_name': 'bench-tpl', 'exact_count': count, 'count_labels': ['bench'],
                                        'labels': ['bench'], 'attributes': {'name': 'bench-#'}, 'wait_timeout': wait_timeout}


def rpc(emu, method, *args):
    answer = getattr(xmlrpc.client.ServerProxy(emu.url), method)(f'oneadmin:{emu.password}', *args)
    if not answer[0]:
        raise RuntimeError(f'{method}: {answer[1]}')
    return answer[1]


def fixtures(emu):
    hid = rpc(emu, 'one.host.allocate', 'bench-host', 'dummy', 'dummy', -1)
    rpc(emu, 'one.vn.allocate', NETWORK, -1)
    rpc(emu, 'one.template.allocate', TEMPLATE)
    for _i in range(200):
        if '<STATE>2</STATE>' in rpc(emu, 'one.host.info', hid):
            return
        time.sleep(0.05)
    raise RuntimeError('the benchmark host never became MONITORED')


DIRECT = r"""
import contextlib, importlib, io, json, sys, time
from ansible.module_utils.testing import patch_module_args
fqcn, args = sys.argv[1], json.loads(sys.argv[2])
namespace, collection, name = fqcn.split('.')
mod = importlib.import_module(f'ansible_collections.{namespace}.{collection}.plugins.modules.{name}')
out = io.StringIO()
started = time.time()
with patch_module_args(args), contextlib.redirect_stdout(out):
    try:
        mod.main()
    except SystemExit:
        pass
took = time.time() - started
print(json.dumps({'seconds': took, 'result': json.loads(out.getvalue())}))
"""


def run_direct(emu, module, args):
    """Run the module's main() once in a fresh interpreter; return (seconds of main(), result)."""
    env = it_run.playbook_env(emu)
    env['PYTHONPATH'] = os.pathsep.join(p for p in [env['ANSIBLE_COLLECTIONS_PATH'], env.get('PYTHONPATH', '')] if p)
    proc = subprocess.run([sys.executable, '-c', DIRECT, module, json.dumps(args)], env=env, capture_output=True, text=True, check=False)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f'{module} did not answer: {proc.stdout[-2000:]} {proc.stderr[-2000:]}') from None
    res = data['result']
    return data['seconds'], {'changed': res.get('changed'), 'failed': res.get('failed', False), 'msg': res.get('msg', ''),
                             'ids': res.get('created_ids', res.get('instances_ids', []))}


def run_phase(emu, directory, module, args, playbook=False):
    if not playbook:
        rpc(emu, 'emulator.reset_stats')
        took, result = run_direct(emu, module, args)
        calls = rpc(emu, 'emulator.stats')
        return {'calls': calls['total'], 'by_method': calls['calls'], 'seconds': took, **result}
    return run_playbook_phase(emu, directory, module, args)


def run_playbook_phase(emu, directory, module, args):
    path = os.path.join(directory, 'phase.yml')
    play = [{'hosts': 'localhost', 'gather_facts': False,
             'tasks': [{'name': 'phase', module: args, 'register': 'out', 'ignore_errors': True},
                       {'ansible.builtin.debug': {'msg': "RESULT={{ {'changed': out.changed | default(false), 'failed': out.failed | default(false), "
                                                         "'msg': out.msg | default(''), 'ids': out.created_ids | default(out.instances_ids "
                                                         "| default([])) } | to_json }}"}}]}]
    with open(path, 'w') as handle:
        yaml.safe_dump(play, handle)
    rpc(emu, 'emulator.reset_stats')
    started = time.time()
    proc = it_run.run_playbook(path, emu, 0)
    took = time.time() - started
    calls = rpc(emu, 'emulator.stats')
    result = {}
    for line in proc.stdout.splitlines():
        if 'RESULT=' in line:
            text = line.split('RESULT=', 1)[1].strip().rstrip('"')
            try:
                result = json.loads(text.encode().decode('unicode_escape'))
            except ValueError:
                result = {'raw': text}
    return {'calls': calls['total'], 'by_method': calls['calls'], 'seconds': took, **result}


def baseline(emu, directory, playbook):
    """Seconds of an ansible-playbook run that does nothing (ansible's own start-up); 0 for main() timing."""
    if not playbook:
        return 0.0
    return run_playbook_phase(emu, directory, 'ansible.builtin.debug', {'msg': 'baseline'})['seconds']


def line(impl, n, phase, res, base):
    top = ', '.join(f'{k.replace("one.", "")}={v}' for k, v in sorted(res['by_method'].items(), key=lambda kv: -kv[1])[:4])
    print(f'{impl:<18} N={n:<3} {phase:<14} calls={res["calls"]:<5} changed={res.get("changed")!s:<5} '
          f'failed={res.get("failed")!s:<5} {res["seconds"]:6.2f}s' + (f' (task ~{max(0.0, res["seconds"] - base):5.1f}s)' if base else '')
          + f'  [{top}]', flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='1,10,50')
    parser.add_argument('--speed', type=float, default=50)
    parser.add_argument('--boot-failure-timeout', type=int, default=15,
                        help='wait_timeout of the BOOT_FAILURE phase (community.general waits for all of it)')
    parser.add_argument('--only', choices=['nebulavoip', 'community'], help='run one implementation')
    parser.add_argument('--playbook', action='store_true', help='time whole ansible-playbook runs instead of main()')
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(',') if s]
    impls = [args.only] if args.only else ['nebulavoip', 'community']
    summary = []
    with tempfile.TemporaryDirectory(prefix='bench-one-vm-') as tmp:
        for n in sizes:
            for impl in impls:
                emu = it_run.Emulator(speed=args.speed)
                try:
                    fixtures(emu)
                    base = baseline(emu, tmp, args.playbook)
                    module, targs = task(impl, n)
                    for phase, a in (('create', targs), ('no-op', targs), ('remove', dict(targs, exact_count=0))):
                        res = run_phase(emu, tmp, module, a, args.playbook)
                        line(impl, n, phase, res, base)
                        summary.append((impl, n, phase, res['calls'], round(res['seconds'], 2), round(max(0.0, res['seconds'] - base), 2) if base else '-'))
                finally:
                    emu.stop()
        for impl in impls:
            emu = it_run.Emulator(speed=args.speed)
            try:
                fixtures(emu)
                base = baseline(emu, tmp, args.playbook)
                rpc(emu, 'emulator.fail_next', 'deploy', 1, '')
                module, targs = task(impl, 1, wait_timeout=args.boot_failure_timeout)
                res = run_phase(emu, tmp, module, targs, args.playbook)
                line(impl, 1, 'boot-failure', res, base)
                print(f'{"":<18} message: {str(res.get("msg"))[:200]!r}; IDs reported: {res.get("ids")}', flush=True)
                summary.append((impl, 1, 'boot-failure', res['calls'], round(res['seconds'], 2), round(max(0.0, res['seconds'] - base), 2) if base else '-'))
            finally:
                emu.stop()
    print('\nimpl               N    phase          calls   seconds     task_s (--playbook: minus an empty playbook)')
    for impl, n, phase, calls, secs, task_s in summary:
        print(f'{impl:<18} {n:<4} {phase:<14} {calls:<7} {secs:<11} {task_s}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
