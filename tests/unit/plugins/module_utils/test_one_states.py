# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""State tables match oned 7.2 and the recorded answers."""


import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_states as s


def test_vm_state_table_is_complete_0_to_11_with_failed_removed():
    assert s.VM_STATE.codes == list(range(12))
    assert s.VM_STATE.name(8) == 'POWEROFF'
    assert s.VM_STATE.name(11) == 'CLONING_FAILURE'
    assert s.VM_STATE.is_removed(7) and not s.VM_STATE.is_removed(8)


def test_lcm_table_is_complete_0_to_71_and_beyond_pyone():
    assert s.LCM_STATE.codes == list(range(72))
    assert s.LCM_STATE.name(3) == 'RUNNING'
    assert s.LCM_STATE.name(36) == 'BOOT_FAILURE'
    assert s.LCM_STATE.name(39) == 'PROLOG_FAILURE'
    assert s.LCM_STATE.name(69) == 'BACKUP'
    assert s.LCM_STATE.name(71) == 'RESTORE'
    assert sorted(s.LCM_STATE.removed) == [13, 14, 55, 58]


def test_lcm_names_match_pyone_where_pyone_knows_them():
    pyone = pytest.importorskip('pyone')
    for member in pyone.LCM_STATE:
        assert s.LCM_STATE.name(member.value) == member.name


def test_every_failure_lcm_state_is_a_failure_and_nothing_else():
    failures = {c for c in s.LCM_STATE.codes if s.is_failure(c)}
    named = {c for c in s.LCM_STATE.codes if s.LCM_STATE.name(c).endswith('FAILURE')}
    assert failures == named
    assert {36, 37, 38, 39, 40, 41, 42, 44, 46, 47, 48, 49, 50, 61} <= failures
    assert not s.is_failure(3)


def test_name_code_round_trip_every_table():
    for table in s.TABLES.values():
        for code in table.codes:
            assert table.code(table.name(code)) == code
        assert table.code(table.name(table.codes[-1]).lower()) == table.codes[-1]


def test_unknown_code_and_name():
    assert s.LCM_STATE.name(99) == 'UNKNOWN_99'
    with pytest.raises(ValueError):
        s.HOST_STATE.code('NOPE')
    with pytest.raises(ValueError):
        s.HOST_STATE.name('x')


def test_stable_and_transient_sets_partition_live_codes():
    for table in s.TABLES.values():
        live = set(table.codes) - table.removed
        assert table.stable | table.transient == live
        assert not table.stable & table.transient


def test_vm_short_state_uses_lcm_only_when_active():
    assert s.vm_state_name(3, 36) == 'BOOT_FAILURE'
    assert s.vm_state_name(8, 0) == 'POWEROFF'
    assert s.vm_is_failure(3, 39) and s.vm_is_failure(11, 0) and not s.vm_is_failure(3, 3)


def test_host_image_vnet_datastore_states_from_xsd_and_recordings():
    assert s.HOST_STATE.name(2) == 'MONITORED' and s.HOST_STATE.name(8) == 'OFFLINE'
    assert s.HOST_STATE.is_failure(3) and s.HOST_STATE.is_transient(6)
    assert s.IMAGE_STATE.name(1) == 'READY' and s.IMAGE_STATE.is_failure(5) and s.IMAGE_STATE.is_transient(4)
    assert s.IMAGE_STATE.name(10) == 'LOCKED_USED_PERS'
    # a vnet allocate answers STATE 2 (LOCK_CREATE), then READY 1
    assert s.VNET_STATE.name(2) == 'LOCK_CREATE' and s.VNET_STATE.name(1) == 'READY'
    assert s.VNET_STATE.is_failure(6)
    assert s.DATASTORE_STATE.name(1) == 'DISABLED'
    assert 5 in s.HOST_STATE and 'x' not in s.HOST_STATE and len(s.HOST_STATE) == 9
