# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM planning logic of one_vm: states, routes, plans, NIC matching, facts from recorded oned answers."""


import html
import os
import re

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_vm as v
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_states import LCM_STATE

# the OpenNebula 7.2 reference data (like tests/tools/conftest.py): $ONE_REFERENCE_DIR or ../shared/opennebula-7.2
_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
GOLDEN = os.path.join(os.environ.get('ONE_REFERENCE_DIR', os.path.join(_REPO, '..', 'shared', 'opennebula-7.2')), 'golden')
STABLE = (v.RUNNING, v.POWEROFF, v.SUSPENDED, v.STOPPED, v.UNDEPLOYED, v.PENDING, v.HOLD)
TARGETS = (v.RUNNING, v.POWEROFF, v.SUSPENDED, v.STOPPED, v.UNDEPLOYED, v.ABSENT)


def doc(state=3, lcm=3, **template):
    out = {'ID': '7', 'NAME': 'vm7', 'STATE': str(state), 'LCM_STATE': str(lcm),
           'TEMPLATE': {'CPU': '0.5', 'VCPU': '1', 'MEMORY': '128'}, 'USER_TEMPLATE': {}}
    out['TEMPLATE'].update(template)
    return out


def verbs(ops):
    return [o.arg if o.kind == 'action' else o.kind for o in ops]


def test_every_lcm_code_of_oned_7_2_is_classified():
    for code in LCM_STATE.codes:
        place, transient = v.classify(3, code)
        assert place in (v.RUNNING, v.POWEROFF, v.SUSPENDED, v.STOPPED, v.UNDEPLOYED, v.ABSENT, v.FAILURE, v.UNKNOWN), code
        if LCM_STATE.is_failure(code):
            assert (place, transient) == (v.FAILURE, False), code


@pytest.mark.parametrize('lcm,place', [(36, v.FAILURE), (39, v.FAILURE), (18, v.POWEROFF), (29, v.UNDEPLOYED), (10, v.STOPPED),
                                       (6, v.SUSPENDED), (12, v.ABSENT), (23, v.ABSENT), (25, v.RUNNING), (65, v.POWEROFF),
                                       (69, v.RUNNING), (70, v.POWEROFF), (71, v.RUNNING)])
def test_transient_lcm_states_lead_where_oned_takes_them(lcm, place):
    assert v.classify(3, lcm)[0] == place


def test_route_reaches_every_target_from_every_resting_state():
    for cur in STABLE:
        for target in TARGETS:
            steps = v.route(cur, target)
            end = steps[-1][1] if steps else cur
            assert end == target or (cur == target), (cur, target, steps)
            assert len(steps) <= 3


@pytest.mark.parametrize('cur,target,expected', [
    (v.POWEROFF, v.STOPPED, ['resume', 'stop']),
    (v.SUSPENDED, v.POWEROFF, ['resume', 'poweroff']),
    (v.SUSPENDED, v.STOPPED, ['stop']),
    (v.UNDEPLOYED, v.SUSPENDED, ['resume', 'suspend']),
    (v.POWEROFF, v.UNDEPLOYED, ['undeploy']),
    (v.HOLD, v.POWEROFF, ['release', 'poweroff']),
    (v.PENDING, v.RUNNING, ['wait']),
    (v.FAILURE, v.ABSENT, ['terminate-hard']),
])
def test_route_uses_the_actions_oned_accepts(cur, target, expected):
    assert [a for a, _p in v.route(cur, target)] == expected


def test_hard_variants():
    assert [a for a, _p in v.route(v.RUNNING, v.POWEROFF, hard=True)] == ['poweroff-hard']
    assert [a for a, _p in v.route(v.RUNNING, v.ABSENT, hard=True)] == ['terminate-hard']


def test_resize_of_a_running_vm_is_refused_without_allow_restart():
    changes = {'resize': ('MEMORY="256"\n', 'resize MEMORY 128 -> 256', False)}
    with pytest.raises(v.VmPlanError, match='allow_restart'):
        v.plan_vm(doc(), v.RUNNING, changes)
    assert verbs(v.plan_vm(doc(), v.RUNNING, changes, allow_restart=True)) == ['poweroff', 'resize', 'resume']


def test_resize_on_the_way_to_poweroff_needs_no_restart():
    changes = {'resize': ('MEMORY="256"\n', 'resize', False)}
    assert verbs(v.plan_vm(doc(), v.POWEROFF, changes)) == ['poweroff', 'resize']


def test_hot_resize_is_used_when_the_vm_allows_it():
    running = doc(HOT_RESIZE={'CPU_HOT_ADD_ENABLED': 'YES', 'MEMORY_HOT_ADD_ENABLED': 'YES'}, MEMORY_MAX='1024', VCPU_MAX='4')
    assert v.hot_resize_ok(running, {'MEMORY': 512, 'VCPU': 2})
    assert not v.hot_resize_ok(running, {'MEMORY': 2048})
    changes = {'resize': ('MEMORY="512"\n', 'resize', True)}
    assert verbs(v.plan_vm(running, v.RUNNING, changes)) == ['resize']


def test_nic_changes_of_a_suspended_vm_need_allow_restart():
    changes = {'attach': [('NIC=[NETWORK="b"]\n', 'attach')]}
    with pytest.raises(v.VmPlanError, match='allow_restart'):
        v.plan_vm(doc(5, 0), v.SUSPENDED, changes)
    assert verbs(v.plan_vm(doc(5, 0), v.SUSPENDED, changes, allow_restart=True)) == ['resume', 'attach', 'suspend']


def test_changes_are_made_in_a_state_that_accepts_them():
    changes = {'update': ('A="1"\n', 'update'), 'attach': [('NIC=[NETWORK="b"]\n', 'attach')]}
    assert verbs(v.plan_vm(doc(4, 0), v.RUNNING, changes)) == ['update', 'resume', 'attach']
    assert verbs(v.plan_vm(doc(8, 0), v.RUNNING, changes)) == ['update', 'attach', 'resume']


def test_failed_vm_fails_the_plan_with_oned_error_unless_removed():
    failed = doc(3, 36)
    failed['USER_TEMPLATE'] = {'ERROR': 'Thu Nov 26 13:52:44 2026: DEPLOY: host01:vm7:dummy'}
    with pytest.raises(v.VmPlanError, match=r'ACTIVE/BOOT_FAILURE: .*DEPLOY: host01'):
        v.plan_vm(failed, v.RUNNING, {})
    assert verbs(v.plan_vm(failed, v.ABSENT, {})) == ['terminate-hard']


def test_rebooted():
    assert verbs(v.plan_vm(doc(), v.RUNNING, {}, reboot=True)) == ['reboot']
    assert verbs(v.plan_vm(doc(), v.RUNNING, {}, reboot=True, hard=True)) == ['reboot-hard']
    assert verbs(v.plan_vm(doc(8, 0), v.RUNNING, {}, reboot=True)) == ['resume']


def test_transient_vm_is_settled_first():
    ops = v.plan_vm(doc(3, 18), v.RUNNING, {})
    assert verbs(ops) == ['settle', 'resume']
    assert not v.is_change(ops[0])


def test_no_op_plan_is_empty():
    assert v.plan_vm(doc(), v.RUNNING, {}) == []
    assert [o for o in v.plan_vm(doc(1, 0), v.RUNNING, {}) if v.is_change(o)] == []


def test_nic_matching_by_network_and_fixed_address():
    current = [{'NIC_ID': '0', 'NETWORK': 'a', 'NETWORK_ID': '0', 'IP': '10.0.0.5'},
               {'NIC_ID': '1', 'NETWORK': 'b', 'NETWORK_ID': '1', 'IP': '10.1.0.5'}]
    attach, detach = v.match_nics([{'NETWORK': 'a'}, {'NETWORK': 'b'}], current)
    assert (attach, detach) == ([], [])
    attach, detach = v.match_nics([{'NETWORK': 'a', 'IP': '10.0.0.9'}], current)
    assert attach == [{'NETWORK': 'a', 'IP': '10.0.0.9'}]
    assert [d['NIC_ID'] for d in detach] == ['0', '1']
    attach, detach = v.match_nics([{'NETWORK_ID': '1'}], current)
    assert attach == [] and [d['NIC_ID'] for d in detach] == ['0']


@pytest.mark.parametrize('text,mb', [(2048, 2048), ('2048', 2048), ('2G', 2048), ('512 MB', 512), ('1.5GiB', 1536), ('1T', 1048576)])
def test_size_mb(text, mb):
    assert v.size_mb(text) == mb


def test_size_mb_rejects_garbage():
    with pytest.raises(ValueError):
        v.size_mb('lots')


def test_name_patterns():
    assert v.name_regex('client-%i').match('client-12')
    assert not v.name_regex('client-%i').match('client-x')
    assert v.name_regex('a.b').match('a.b') and not v.name_regex('a.b').match('axb')
    assert v.name_index('client-%i', 'client-12') == 12
    assert v.free_indexes('client-%i', ['client-1', 'client-3'], 3) == [2, 4, 5]


def _golden_doc(path):
    """pyone's parse of one recorded answer (a VM or a pool)."""
    pyone = pytest.importorskip('pyone')
    full = os.path.join(GOLDEN, path)
    if not os.path.exists(full):
        pytest.skip('golden recording not available')
    text = open(full).read()
    xml = html.unescape(re.search(r'<value><string>(.*)</string></value>', text, re.S).group(1))
    return pyone.bindings.parseString(xml.encode('utf-8'))


def _golden_vms(path):
    from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import to_data
    return [to_data(vm) for vm in _golden_doc(path).VM]


def test_describe_vm_of_a_recorded_infoextended_answer():
    vms = {d['ID']: v.describe_vm(d) for d in _golden_vms('vms/016_one.vmpool.infoextended.response.xml')}
    vm5 = vms[5]
    assert vm5['name'] == 'vm-life'
    assert (vm5['state'], vm5['lcm_state'], vm5['status']) == ('ACTIVE', 'RUNNING', 'running')
    assert vm5['host'] == 'host01'
    assert vm5['template_id'] == 0
    assert vm5['labels'] == ['golden', 'tests']
    assert vm5['ipv4'] == ['10.0.0.15'] and vm5['first_ip'] == '10.0.0.15'
    assert vm5['nics'][0]['network'] == 'net-ip4'
    assert vm5['attributes']['GOLDEN'] == 'append'
    assert vm5['cpu'] == 0.5 and vm5['memory'] == 128


def test_describe_vm_of_a_recorded_boot_failure():
    from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import to_data
    vm = to_data(_golden_doc('failure_injection/016_one.vm.info_BOOT_FAILURE.response.xml'))
    described = v.describe_vm(vm)
    assert described['lcm_state'] == 'BOOT_FAILURE' and described['status'] == 'failure'
    assert 'DEPLOY' in described['error']
    assert 'ACTIVE/BOOT_FAILURE' in v.failure_text(vm) and 'DEPLOY' in v.failure_text(vm)


# --------------------------------------------------------------------------
# monitoring: the MONITORING element in oned 7.2's two forms
# --------------------------------------------------------------------------
def test_monitoring_of_a_recorded_vm_info_answer_gives_cpu_memory_timestamp_and_counters():
    vm = _golden_doc('vms/018_one.vm.info_with_MONITORING.response.xml')
    mon = v.describe_monitoring(v.raw_monitoring(vm.MONITORING), 128)
    assert mon == {'timestamp': 1795701083, 'cpu': 0.0, 'memory': 77332, 'memory_pct': 59.0,
                   'net_rx_bytes': 1283, 'net_tx_bytes': 1183, 'disk_read_bytes': 303, 'disk_write_bytes': 370,
                   'disk_read_ops': 419, 'disk_write_ops': 434}
    assert isinstance(mon['cpu'], float) and isinstance(mon['memory'], int)


def test_a_recorded_vm_info_answer_with_monitoring_becomes_plain_data():
    from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import to_data
    vm = to_data(_golden_doc('vms/018_one.vm.info_with_MONITORING.response.xml'))
    # vm.xsd types the counters as decimals: integers stay integers, fractions become floats
    assert vm['MONITORING']['MEMORY'] == 77332 and isinstance(vm['MONITORING']['MEMORY'], int)
    assert vm['MONITORING']['CPU'] == 0.0 and vm['MONITORING']['TIMESTAMP'] == 1795701083
    assert v.describe_vm(vm)['name'] == vm['NAME']


def test_monitoring_of_a_recorded_pool_listing_short_form_has_cpu_and_memory_only():
    pool = _golden_doc('vms/147_one.vmpool.info_state_any_with_done.response.xml')
    by_id = {int(doc.ID): v.describe_monitoring(v.raw_monitoring(doc.MONITORING)) for doc in pool.VM}
    assert by_id[5] == {'cpu': 95.0, 'memory': 159907}  # STATE is empty there, no TIMESTAMP in the short form
    assert by_id[1] == {} and by_id[6] == {}  # monitored (vm.info showed records), not in the listing


EXTENDED_POOL = (
    '<VM_POOL><VM><ID>5</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>sip-1</NAME>'
    '<LAST_POLL>1795701114</LAST_POLL><STATE>3</STATE><LCM_STATE>3</LCM_STATE><PREV_STATE>3</PREV_STATE>'
    '<PREV_LCM_STATE>3</PREV_LCM_STATE><RESCHED>0</RESCHED><STIME>1795701060</STIME><ETIME>0</ETIME><DEPLOY_ID>d</DEPLOY_ID>'
    '<MONITORING><CPU><![CDATA[12.5]]></CPU><DISKRDBYTES><![CDATA[677]]></DISKRDBYTES><DISK_SIZE><ID>0</ID><SIZE>12</SIZE></DISK_SIZE>'
    '<DISK_SIZE><ID>1</ID><SIZE>1</SIZE></DISK_SIZE><ID><![CDATA[5]]></ID><MEMORY><![CDATA[159907]]></MEMORY>'
    '<STATE><![CDATA[a]]></STATE><TIMESTAMP><![CDATA[1795701114]]></TIMESTAMP></MONITORING>'
    '<TEMPLATE><CPU><![CDATA[0.5]]></CPU><MEMORY><![CDATA[256]]></MEMORY></TEMPLATE><USER_TEMPLATE/></VM></VM_POOL>')


def test_monitoring_of_a_pool_listing_in_the_extended_form_keeps_other_elements_in_extra():
    pyone = pytest.importorskip('pyone')
    doc = pyone.bindings.parseString(EXTENDED_POOL.encode()).VM[0]
    raw = v.raw_monitoring(doc.MONITORING)  # xs:any in vm_pool.xsd: pyone keeps XML strings
    assert raw['CPU'] == '12.5' and raw['DISK_SIZE'] == [{'ID': '0', 'SIZE': '12'}, {'ID': '1', 'SIZE': '1'}]
    mon = v.describe_monitoring(raw, 256)
    assert mon['cpu'] == 12.5 and mon['memory'] == 159907 and mon['timestamp'] == 1795701114
    assert mon['disk_read_bytes'] == 677 and 'net_rx_bytes' not in mon
    assert mon['memory_pct'] == 61.0
    assert mon['extra'] == {'DISK_SIZE': [{'ID': '0', 'SIZE': '12'}, {'ID': '1', 'SIZE': '1'}], 'STATE': 'a'}


@pytest.mark.parametrize('element', [None, '', {}, {'STATE': ''}, {'CPU': 'n/a'}, {'MEMORY': 'inf'}])
def test_a_vm_without_a_monitoring_record_has_empty_monitoring(element):
    assert v.describe_monitoring(v.raw_monitoring(element), 128) == {}


def test_monitoring_from_a_plain_dict_converts_numbers():
    mon = v.describe_monitoring({'CPU': '150.25', 'MEMORY': '2048.0', 'TIMESTAMP': '1700000000'})
    assert mon == {'cpu': 150.25, 'memory': 2048, 'timestamp': 1700000000}  # 150 %: one and a half cores
