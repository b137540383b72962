# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grades people can read: ETSI TIPHON categories, ITU-T G.114 delay class, E-model (G.107) R and MOS."""


# R0 - Is with the default parameters of ITU-T G.107 (the recommended starting value).
R_DEFAULT = 93.2

TIPHON_NAMES = {4: "very good (sangat bagus)", 3: "good (bagus)", 2: "fair (sedang)", 1: "poor (jelek)"}

# Ie (equipment impairment) and Bpl (packet-loss robustness), ITU-T G.113 Appendix I values.
CODEC_IMPAIRMENT = {
    "g711": (0.0, 25.1),   # G.711 with packet-loss concealment
    "g722": (0.0, 25.1),   # assumed like G.711 (no narrow-band Ie defined)
    "g729": (11.0, 19.0),  # G.729A + VAD
    "g723": (15.0, 16.1),  # G.723.1 6.3 kbit/s + VAD
    "gsm": (20.0, 10.0),   # GSM full rate (Bpl assumed)
    "ilbc": (10.0, 32.0),  # assumed
    "opus": (0.0, 25.1),   # assumed like G.711 with PLC
    "amr": (5.0, 10.0),    # assumed
}


def codec_family(name, pt=None):
    n = (name or "").lower().replace(".", "").replace("-", "")
    if pt in (0, 8) or n.startswith(("pcmu", "pcma", "g711")):
        return "g711"
    if pt == 9 or n.startswith("g722"):
        return "g722"
    if pt == 18 or n.startswith("g729"):
        return "g729"
    if pt == 4 or n.startswith("g723"):
        return "g723"
    if pt == 3 or n.startswith("gsm"):
        return "gsm"
    for fam in ("ilbc", "opus", "amr"):
        if n.startswith(fam):
            return fam
    return None


def tiphon_delay(ms):
    if ms is None:
        return None
    if ms < 150:
        return 4
    if ms <= 300:
        return 3
    if ms <= 450:
        return 2
    return 1


def tiphon_jitter(ms):
    if ms is None:
        return None
    if ms <= 0:
        return 4
    if ms <= 75:
        return 3
    if ms <= 125:
        return 2
    return 1


def tiphon_loss(pct):
    if pct is None:
        return None
    if pct <= 0:
        return 4
    if pct <= 3:
        return 3
    if pct <= 15:
        return 2
    return 1


def tiphon_index_name(index):
    if index is None:
        return None
    if index >= 3.8:
        return "very satisfying"
    if index >= 3:
        return "satisfying"
    if index >= 2:
        return "less satisfying"
    return "poor"


def tiphon(delay_ms, jitter_ms, loss_pct):
    grades = {"delay": tiphon_delay(delay_ms), "jitter": tiphon_jitter(jitter_ms), "packet_loss": tiphon_loss(loss_pct)}
    vals = [v for v in grades.values() if v is not None]
    index = round(sum(vals) / float(len(vals)), 3) if vals else None
    return {
        "delay": grades["delay"], "jitter": grades["jitter"], "packet_loss": grades["packet_loss"],
        "delay_category": TIPHON_NAMES.get(grades["delay"]), "jitter_category": TIPHON_NAMES.get(grades["jitter"]),
        "packet_loss_category": TIPHON_NAMES.get(grades["packet_loss"]),
        "index": index, "index_category": tiphon_index_name(index),
    }


def g114_class(one_way_ms):
    if one_way_ms is None:
        return None
    if one_way_ms <= 150:
        return "acceptable"
    if one_way_ms <= 400:
        return "acceptable with care"
    return "unacceptable"


def delay_impairment(d):
    idd = 0.024 * d
    if d > 177.3:
        idd += 0.11 * (d - 177.3)
    return idd


def effective_ie(ie, bpl, ppl, burst_r=1.0):
    if ppl <= 0:
        return ie
    burst_r = max(burst_r, 1e-9)
    return ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)


def r_to_mos(r):
    if r is None:
        return None
    if r < 0:
        return 1.0
    if r > 100:
        return 4.5
    return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)


def e_model(codec_name, pt, loss_pct, one_way_ms, burst_r=1.0, r0=R_DEFAULT):
    """Simplified G.107: R = R0 - Id - Ie,eff (R0 = 93.2). Returns dict; r/mos None for unknown codecs."""
    fam = codec_family(codec_name, pt)
    if fam is None:
        return {"r_factor": None, "mos": None, "codec_family": None, "ie": None, "bpl": None,
                "burst_ratio": round(burst_r, 3), "delay_ms": one_way_ms}
    ie, bpl = CODEC_IMPAIRMENT[fam]
    d = one_way_ms or 0.0
    r = r0 - delay_impairment(d) - effective_ie(ie, bpl, max(loss_pct or 0.0, 0.0), burst_r)
    return {"r_factor": round(r, 2), "mos": round(r_to_mos(r), 2), "codec_family": fam, "ie": ie, "bpl": bpl,
            "burst_ratio": round(burst_r, 3), "delay_ms": round(d, 3)}
