# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import qos_grades as q


@pytest.mark.parametrize("ms,grade", [(0, 4), (149.9, 4), (150, 3), (300, 3), (300.1, 2), (450, 2), (451, 1)])
def test_tiphon_delay_bands(ms, grade):
    assert q.tiphon_delay(ms) == grade


@pytest.mark.parametrize("ms,grade", [(0, 4), (0.5, 3), (75, 3), (76, 2), (125, 2), (126, 1), (300, 1)])
def test_tiphon_jitter_bands(ms, grade):
    assert q.tiphon_jitter(ms) == grade


@pytest.mark.parametrize("pct,grade", [(0, 4), (3, 3), (3.1, 2), (15, 2), (16, 1), (40, 1)])
def test_tiphon_loss_bands(pct, grade):
    assert q.tiphon_loss(pct) == grade


def test_tiphon_index_and_category():
    t = q.tiphon(20, 1, 0)
    assert t["index"] == pytest.approx(11 / 3.0, abs=0.001) and t["index_category"] == "satisfying"
    assert q.tiphon(20, 0, 0)["index_category"] == "very satisfying"


def test_g114_classes():
    assert [q.g114_class(d) for d in (100, 150, 151, 400, 401)] == [
        "acceptable", "acceptable", "acceptable with care", "acceptable with care", "unacceptable"]


def test_e_model_g711_without_impairment_is_r93_mos_441():
    em = q.e_model("PCMA", 8, 0.0, 0.0)
    assert em["r_factor"] == 93.2 and em["mos"] == pytest.approx(4.41, abs=0.01)


def test_e_model_delay_and_loss_terms():
    # Id at 200 ms: 0.024*200 + 0.11*(200-177.3) = 7.297
    assert q.e_model("PCMU", 0, 0.0, 200.0)["r_factor"] == pytest.approx(93.2 - 7.297, abs=0.01)
    # G.729: Ie 11, Bpl 19, 2 % random loss -> Ie,eff = 11 + 84*2/(2+19) = 19.0
    assert q.e_model("G729", 18, 2.0, 0.0)["r_factor"] == pytest.approx(93.2 - 19.0, abs=0.01)
    # burstier loss hurts more
    assert q.e_model("PCMA", 8, 5.0, 0, burst_r=2.0)["r_factor"] < q.e_model("PCMA", 8, 5.0, 0)["r_factor"]


def test_mos_limits():
    assert q.r_to_mos(-5) == 1.0 and q.r_to_mos(120) == 4.5
    assert q.e_model("unknown-codec", 120, 0, 0)["mos"] is None
