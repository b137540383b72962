# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oned_conf: values edited in place in oned.conf syntax, comments and layout kept, idempotent."""
from __future__ import annotations

import pytest
from ansible_collections.nebulavoip.cloud.plugins.modules.oned_conf import ConfError, merge, parse

SAMPLE = '''# header comment
LOG = [
  SYSTEM      = "file",
  DEBUG_LEVEL = 3,
  USE_VMS_LOCATION = "NO"
]

SCRIPTS_REMOTE_DIR=/var/tmp/one

DB = [ BACKEND = "sqlite",
       TIMEOUT = 2500 ]

# DB = [ BACKEND = "mysql" ]

VNC_PORTS = [
    START    = 5900,
    RESERVED = "32768:65536"
    # RESERVED = "6800, 6801"
]

PORT = 2633
LISTEN_ADDRESS = "0.0.0.0"

VM_MAD = [
    NAME           = "kvm",
    KEEP_SNAPSHOTS = "yes"
]

VM_MAD = [
    NAME           = "qemu",
    KEEP_SNAPSHOTS = "yes"
]
'''


def test_parse_finds_every_top_level_attribute():
    names = [a['name'] for a in parse(SAMPLE)]
    assert names == ['LOG', 'SCRIPTS_REMOTE_DIR', 'DB', 'VNC_PORTS', 'PORT', 'LISTEN_ADDRESS', 'VM_MAD', 'VM_MAD']


def test_equal_values_change_nothing_even_when_quoted_differently():
    new, changes = merge(SAMPLE, {'PORT': '2633', 'SCRIPTS_REMOTE_DIR': '/var/tmp/one', 'DB': {'BACKEND': 'sqlite', 'TIMEOUT': 2500}})
    assert new == SAMPLE
    assert changes == []


def test_single_attribute_value_replaced_on_its_line():
    new, changes = merge(SAMPLE, {'LISTEN_ADDRESS': '127.0.0.1', 'PORT': 2634})
    assert 'LISTEN_ADDRESS = "127.0.0.1"\n' in new
    assert 'PORT = 2634\n' in new
    assert changes == [{'name': 'LISTEN_ADDRESS', 'before': '0.0.0.0', 'after': '127.0.0.1'},
                       {'name': 'PORT', 'before': '2633', 'after': '2634'}]
    assert len(new.splitlines()) == len(SAMPLE.splitlines())


def test_vector_sub_attribute_replaced_and_inner_comment_kept():
    new = merge(SAMPLE, {'VNC_PORTS': {'START': 6000}})[0]
    assert '    START    = 6000,\n    RESERVED = "32768:65536"\n    # RESERVED = "6800, 6801"\n]' in new


def test_missing_sub_attribute_added_inside_the_vector():
    new, changes = merge(SAMPLE, {'DB': {'BACKEND': 'mysql', 'SERVER': 'localhost'}})
    assert 'DB = [ BACKEND = "mysql",\n       TIMEOUT = 2500,\n       SERVER = "localhost" ]' in new
    assert '# DB = [ BACKEND = "mysql" ]' in new
    assert {'name': 'DB.SERVER', 'before': None, 'after': 'localhost'} in changes


def test_repeated_vectors_selected_by_name():
    new = merge(SAMPLE, {'VM_MAD': {'NAME': 'qemu', 'KEEP_SNAPSHOTS': 'no'}})[0]
    kvm, qemu = new.split('VM_MAD = [')[1:]
    assert 'KEEP_SNAPSHOTS = "yes"' in kvm
    assert 'KEEP_SNAPSHOTS = "no"' in qemu


def test_repeated_vector_without_name_is_refused():
    with pytest.raises(ConfError, match='give its NAME'):
        merge(SAMPLE, {'VM_MAD': {'KEEP_SNAPSHOTS': 'no'}})


def test_unknown_attributes_are_appended_once():
    settings = {'MANAGER_TIMER': 15, 'NEW_VECTOR': {'A': 1, 'B': 'x'}}
    new = merge(SAMPLE, settings)[0]
    assert new.startswith(SAMPLE)
    assert new.endswith('MANAGER_TIMER = 15\nNEW_VECTOR = [\n  A = 1,\n  B = "x" ]\n')
    again, changes = merge(new, settings)
    assert again == new and changes == []


def test_every_edit_is_idempotent():
    settings = {'LOG': {'DEBUG_LEVEL': 2}, 'DB': {'BACKEND': 'mysql', 'PASSWD': 'secret'}, 'LISTEN_ADDRESS': '::',
                'VM_MAD': {'NAME': 'kvm', 'KEEP_SNAPSHOTS': 'no'}}
    new = merge(SAMPLE, settings)[0]
    assert merge(new, settings) == (new, [])
    comments = [line for line in SAMPLE.splitlines() if line.lstrip().startswith('#')]
    assert [line for line in new.splitlines() if line.lstrip().startswith('#')] == comments


def test_kind_mismatch_is_refused():
    with pytest.raises(ConfError, match='is a vector'):
        merge(SAMPLE, {'DB': 'sqlite'})
    with pytest.raises(ConfError, match='single attribute'):
        merge(SAMPLE, {'PORT': {'X': 1}})


def test_quotes_in_values_are_refused():
    with pytest.raises(ConfError, match='double quotes'):
        merge(SAMPLE, {'LISTEN_ADDRESS': 'a"b'})
