# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""one_system_info: version parsing and configuration selection."""
from __future__ import annotations

from ansible_collections.nebulavoip.cloud.plugins.modules.one_system_info import select_config, version_info


def test_version_info_splits_the_version():
    assert version_info('7.2.0') == {'major': 7, 'minor': 2, 'micro': 0}
    assert version_info('6.10') == {'major': 6, 'minor': 10, 'micro': 0}


def test_select_config_is_case_insensitive_and_skips_unknown_names():
    config = {'PORT': 2633, 'DB': {'BACKEND': 'sqlite'}, 'LISTEN_ADDRESS': '0.0.0.0'}
    assert select_config(config, ['port', 'Db', 'NOPE']) == {'PORT': 2633, 'DB': {'BACKEND': 'sqlite'}}
    assert select_config(config, ['all']) == config
    assert select_config(None, ['PORT']) == {}
