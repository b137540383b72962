# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base module helpers: permissions, the plan, pyone bindings -> structured dicts."""

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_base as b

pyone_bindings = pytest.importorskip('pyone.bindings')

# a vnpool.info answer as recorded from oned 7.2 (one network, trimmed of nothing but other networks)
VNPOOL = (
    '<VNET_POOL><VNET><ID>2</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>'
    '<NAME>net-ip46</NAME><PERMISSIONS><OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A>'
    '<GROUP_U>1</GROUP_U><GROUP_M>0</GROUP_M><GROUP_A>0</GROUP_A><OTHER_U>0</OTHER_U><OTHER_M>0</OTHER_M>'
    '<OTHER_A>0</OTHER_A></PERMISSIONS><CLUSTERS><ID>0</ID></CLUSTERS><BRIDGE><![CDATA[br2]]></BRIDGE>'
    '<BRIDGE_TYPE><![CDATA[linux]]></BRIDGE_TYPE><STATE><![CDATA[1]]></STATE><PREV_STATE><![CDATA[1]]></PREV_STATE>'
    '<PARENT_NETWORK_ID/><VN_MAD><![CDATA[bridge]]></VN_MAD><PHYDEV/><VLAN_ID/><OUTER_VLAN_ID/>'
    '<VLAN_ID_AUTOMATIC>0</VLAN_ID_AUTOMATIC><OUTER_VLAN_ID_AUTOMATIC>0</OUTER_VLAN_ID_AUTOMATIC>'
    '<USED_LEASES>0</USED_LEASES><VROUTERS></VROUTERS><UPDATED_VMS></UPDATED_VMS><OUTDATED_VMS></OUTDATED_VMS>'
    '<UPDATING_VMS></UPDATING_VMS><ERROR_VMS></ERROR_VMS><TEMPLATE><BRIDGE><![CDATA[br2]]></BRIDGE>'
    '<LABELS><![CDATA[voip,lan]]></LABELS><SECURITY_GROUPS><![CDATA[0]]></SECURITY_GROUPS>'
    '<VN_MAD><![CDATA[bridge]]></VN_MAD></TEMPLATE><AR_POOL><AR><AR_ID><![CDATA[0]]></AR_ID>'
    '<GLOBAL_PREFIX><![CDATA[2001:db8:2::]]></GLOBAL_PREFIX><IP><![CDATA[10.2.0.10]]></IP>'
    '<MAC><![CDATA[02:00:0a:02:00:0a]]></MAC><SHARED><![CDATA[NO]]></SHARED><SIZE><![CDATA[8]]></SIZE>'
    '<TYPE><![CDATA[IP4_6]]></TYPE></AR></AR_POOL></VNET></VNET_POOL>')


@pytest.mark.parametrize('mode,args', [
    ('0640', [1, 1, 0, 1, 0, 0, 0, 0, 0]),
    ('640', [1, 1, 0, 1, 0, 0, 0, 0, 0]),
    ('0o777', [1, 1, 1, 1, 1, 1, 1, 1, 1]),
    ('0000', [0] * 9),
    ('0401', [1, 0, 0, 0, 0, 0, 0, 0, 1]),
])
def test_octal_to_chmod_args(mode, args):
    assert b.octal_to_chmod_args(mode) == args


@pytest.mark.parametrize('bad', ['0800', '12', 'rw-r', '07777'])
def test_bad_permissions_are_refused(bad):
    with pytest.raises(ValueError, match='three octal digits'):
        b.octal_to_chmod_args(bad)


def test_permissions_round_trip_through_oned_element():
    perms = dict(zip(['OWNER_U', 'OWNER_M', 'OWNER_A', 'GROUP_U', 'GROUP_M', 'GROUP_A', 'OTHER_U', 'OTHER_M', 'OTHER_A'],
                     b.octal_to_chmod_args('0754')))
    assert b.perms_to_octal(perms) == '0754'
    assert b.normalize_octal('754') == '0754'


def test_plan_is_empty_until_a_step_and_applies_in_order():
    plan = b.Plan()
    assert not plan
    done = []
    plan.add('A', '1', '2', lambda: done.append('a'), 'set A')
    plan.do(lambda: done.append('b'), 'call b')
    assert plan and plan.actions == ['set A', 'call b']
    assert (plan.before, plan.after) == ({'A': '1'}, {'A': '2'})
    plan.apply()
    assert done == ['a', 'b']


def test_pool_binding_becomes_structured_vnet():
    pool = pyone_bindings.parseString(VNPOOL.encode())
    vnets = [b.to_data(v) for v in b.as_list(pool.VNET)]
    got = b.describe_vnet(vnets[0])
    assert got['id'] == 2 and got['name'] == 'net-ip46'
    assert got['state'] == 'READY'
    assert got['permissions'] == '0640'
    assert got['clusters'] == [0]
    assert got['labels'] == ['voip', 'lan']
    assert got['security_groups'] == [0]
    assert got['ars'] == [{'ar_id': 0, 'global_prefix': '2001:db8:2::', 'ip': '10.2.0.10', 'mac': '02:00:0a:02:00:0a',
                           'shared': 'NO', 'size': 8, 'type': 'IP4_6'}]
    assert got['template']['BRIDGE'] == 'br2'


def test_ids_of_single_and_many():
    assert b.ids_of({'ID': 3}) == [3]
    assert b.ids_of({'ID': [1, '2']}) == [1, 2]
    assert b.ids_of(None) == []


def test_host_status_from_state():
    assert [b.host_status(s) for s in (2, 4, 7, 8, 3)] == ['enabled', 'disabled', 'disabled', 'offline', 'enabled']
