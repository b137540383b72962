# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""one_vm_info: the monitoring facts, from the pool listing or (refresh_monitoring) from one.vm.info."""
from __future__ import annotations

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_base
from ansible_collections.nebulavoip.cloud.plugins.modules import one_vm_info
from ansible_collections.nebulavoip.cloud.tests.unit.plugins.modules.utils import run_module

pyone = pytest.importorskip('pyone')


def _mon(cpu, memory, ts, netrx=1283):
    return ('<MONITORING><CPU><![CDATA[%s]]></CPU><DISKRDBYTES><![CDATA[303]]></DISKRDBYTES><DISKRDIOPS><![CDATA[419]]></DISKRDIOPS>'
            '<DISKWRBYTES><![CDATA[370]]></DISKWRBYTES><DISKWRIOPS><![CDATA[434]]></DISKWRIOPS><ID><![CDATA[5]]></ID>'
            '<MEMORY><![CDATA[%s]]></MEMORY><NETRX><![CDATA[%s]]></NETRX><NETTX><![CDATA[1183]]></NETTX>'
            '<TIMESTAMP><![CDATA[%s]]></TIMESTAMP></MONITORING>' % (cpu, memory, netrx, ts))


def _vm(vid, name, monitoring):
    """A VM document as oned 7.2 writes it (element order of the recording, trimmed)."""
    return ('<VM><ID>%d</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>%s</NAME>'
            '<LAST_POLL>0</LAST_POLL><STATE>3</STATE><LCM_STATE>3</LCM_STATE><PREV_STATE>3</PREV_STATE><PREV_LCM_STATE>3</PREV_LCM_STATE>'
            '<RESCHED>0</RESCHED><STIME>1795701060</STIME><ETIME>0</ETIME><DEPLOY_ID>host01:%s:dummy</DEPLOY_ID>%s<SCHED_ACTIONS/>'
            '<TEMPLATE><CPU><![CDATA[0.5]]></CPU><MEMORY><![CDATA[128]]></MEMORY><VCPU><![CDATA[1]]></VCPU></TEMPLATE>'
            '<USER_TEMPLATE><LABELS><![CDATA[server]]></LABELS></USER_TEMPLATE><HISTORY_RECORDS/></VM>') % (vid, name, name, monitoring)


class FakeOne:
    """The two calls one_vm_info makes, answered with pyone's parse of oned-shaped documents."""

    def __init__(self, pool, infos, records=None):
        self.calls = 0
        self.log = []
        self._pool, self._infos, self._records = pool, infos, records or {}
        outer = self

        class Pool:
            @staticmethod
            def infoextended(*args):
                outer.calls += 1
                outer.log.append(('one.vmpool.infoextended',) + args)
                return pyone.bindings.parseString(outer._pool.encode())

        class Vm:
            @staticmethod
            def info(vid):
                outer.calls += 1
                outer.log.append(('one.vm.info', vid))
                return pyone.bindings.parseString(outer._infos[vid].encode())

            @staticmethod
            def monitoring(vid):
                outer.calls += 1
                outer.log.append(('one.vm.monitoring', vid))
                return pyone.bindings.parseString(('<MONITORING_DATA>%s</MONITORING_DATA>' % outer._records.get(vid, '')).encode())

        self.vmpool, self.vm = Pool, Vm


@pytest.fixture
def fake(monkeypatch):
    # the pool holds the record stored with VM 5's document (older) and none for VM 6;
    # one.vm.info answers with the newest records, as oned 7.2 does
    pool = '<VM_POOL>%s%s</VM_POOL>' % (_vm(6, 'sip-2', '<MONITORING/>'), _vm(5, 'sip-1', _mon(0, 77332, 1795701083)))
    infos = {5: _vm(5, 'sip-1', _mon('95.5', 131072, 1795701114, netrx=9999)), 6: _vm(6, 'sip-2', _mon(3, 65536, 1795701114))}
    records = {5: ''.join(_mon(cpu, 65536, ts) for cpu, ts in ((10, 1795701050), (20, 1795701080), (40, 1795701110)))}
    client = FakeOne(pool, infos, records)
    monkeypatch.setattr(one_base, 'connect_from_params', lambda params: client)
    return client


def test_every_vm_has_monitoring_from_the_pool_listing_in_one_call(monkeypatch, fake):
    res = run_module(monkeypatch, one_vm_info, {'label': 'server'})
    assert not res.get('failed'), res
    by_name = {vm['name']: vm for vm in res['vms']}
    assert by_name['sip-1']['monitoring'] == {
        'timestamp': 1795701083, 'cpu': 0.0, 'memory': 77332, 'memory_pct': 59.0, 'net_rx_bytes': 1283, 'net_tx_bytes': 1183,
        'disk_read_bytes': 303, 'disk_write_bytes': 370, 'disk_read_ops': 419, 'disk_write_ops': 434}
    assert by_name['sip-2']['monitoring'] == {}
    assert res['xmlrpc_calls'] == 1 and [c[0] for c in fake.log] == ['one.vmpool.infoextended']


def test_refresh_monitoring_reads_the_newest_record_of_each_selected_vm(monkeypatch, fake):
    res = run_module(monkeypatch, one_vm_info, {'name': 'sip-1', 'refresh_monitoring': True})
    assert not res.get('failed'), res
    [vm] = res['vms']
    assert vm['monitoring']['timestamp'] == 1795701114
    assert vm['monitoring']['cpu'] == 95.5 and vm['monitoring']['memory'] == 131072
    assert vm['monitoring']['memory_pct'] == 100.0 and vm['monitoring']['net_rx_bytes'] == 9999
    assert res['xmlrpc_calls'] == 2 and fake.log[1] == ('one.vm.info', 5)  # only the selected VM is read


def test_refresh_monitoring_fills_a_vm_the_listing_has_no_record_for(monkeypatch, fake):
    res = run_module(monkeypatch, one_vm_info, {'refresh_monitoring': True})
    by_name = {vm['name']: vm['monitoring'] for vm in res['vms']}
    assert by_name['sip-2']['cpu'] == 3.0 and by_name['sip-2']['memory_pct'] == 50.0
    assert [vm['id'] for vm in res['vms']] == [5, 6] and res['xmlrpc_calls'] == 3


def test_monitoring_since_returns_the_records_of_that_time_on_oldest_first(monkeypatch, fake):
    res = run_module(monkeypatch, one_vm_info, {'label': 'server', 'monitoring_since': 1795701080})
    assert not res.get('failed'), res
    by_name = {vm['name']: vm for vm in res['vms']}
    history = by_name['sip-1']['monitoring_history']
    assert [(r['timestamp'], r['cpu']) for r in history] == [(1795701080, 20.0), (1795701110, 40.0)]
    assert history[0]['memory_pct'] == 50.0
    assert by_name['sip-2']['monitoring_history'] == []
    assert res['xmlrpc_calls'] == 3 and sorted(c for c in fake.log if c[0] == 'one.vm.monitoring') == [
        ('one.vm.monitoring', 5), ('one.vm.monitoring', 6)]
    assert 'monitoring_history' not in run_module(monkeypatch, one_vm_info, {'name': 'sip-1'})['vms'][0]
