#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: voip_qos_analyze
short_description: Measure VoIP call quality (throughput, delay, jitter, loss, MOS) from a capture
description:
  - Reads a pcap or pcapng capture on the host the module runs on and reports SIP calls and
    registrations, every RTP stream with the same figures as Wireshark's RTP stream analysis
    (C(tshark -q -z rtp,streams)), the figures Wireshark-based QoS studies report (throughput,
    delay as mean inter-arrival time, jitter, packet loss), ETSI TIPHON grades, the ITU-T G.114
    delay class and an E-model (ITU-T G.107) R-factor and MOS.
  - Pure Python; the capture is streamed, so memory does not grow with its size. When numpy is
    installed for the Python that runs the module, classic pcap files take a faster vectorised
    path with the same figures (set E(NEBULAVOIP_QOS_PURE=1) to disable it).
  - Never changes anything on the host except the optional report files in O(dest).
version_added: "0.1.0"
author:
  - NebulaVoIP maintainers (@nebulavoip)
options:
  pcap:
    description: Path of the capture (pcap in either byte order with micro- or nanosecond timestamps, or pcapng).
    type: path
    required: true
  rtp_heuristic:
    description:
      - Treat any UDP datagram that looks like RTP version 2 as RTP, as C(tshark --enable-heuristic rtp_udp)
        does. Use it for captures without SIP/SDP signalling.
      - When false, only the media announced by SDP in the capture is analysed, each from the packet that announces it on
        (an offer before its answer), as tshark's C(rtp,streams) finds it.
    type: bool
    default: false
  delay_ms:
    description:
      - A known one-way mouth-to-ear delay in milliseconds used by the E-model and the G.114 class.
      - Without it the engine uses half the RTCP round-trip time when the capture has RTCP reports,
        otherwise 0 ms (and says so in C(one_way_delay_source)).
    type: float
  dest:
    description:
      - Directory (created if missing) to write C(qos.json), C(streams.csv), C(calls.csv),
        C(registrations.csv) and C(series.csv) into. Nothing is written when omitted.
    type: path
notes:
  - Supports check mode; the result is the same in check mode, and O(dest) is not written in check mode.
  - See docs/qos.md in the collection for the exact definitions and how they map to Wireshark, TIPHON and the E-model.
attributes:
  check_mode:
    description: Can run in check mode; the analysis runs, C(dest) is not written.
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
"""

EXAMPLES = r"""
- name: Analyse the capture of a test call
  nebulavoip.cloud.voip_qos_analyze:
    pcap: /var/tmp/call.pcap
    dest: /var/tmp/qos
  register: qos

- name: Capture without signalling, known one-way delay of 40 ms
  nebulavoip.cloud.voip_qos_analyze:
    pcap: /var/tmp/rtp-only.pcapng
    rtp_heuristic: true
    delay_ms: 40

- name: Show the mean MOS of the audio streams
  ansible.builtin.debug:
    msg: "{{ qos.summary.by_media.audio.mos_mean }}"
"""

RETURN = r"""
calls:
  description: SIP calls (INVITE dialogs) by Call-ID, in order of their first INVITE.
  returned: always
  type: list
  elements: dict
  contains:
    call_id: {description: 'The Call-ID.', type: str}
    caller: {description: 'User part of the From header.', type: str}
    callee: {description: 'User part of the To header.', type: str}
    final_status: {description: 'Final response code to the INVITE (2xx if answered; 487 if cancelled without one).', type: int}
    final_reason: {description: 'Reason phrase of that response.', type: str}
    answered: {description: 'Whether a 2xx answered the INVITE.', type: bool}
    auth_challenges: {description: '401/407 challenges the INVITE received.', type: int}
    cancelled: {description: 'Whether a CANCEL was seen.', type: bool}
    start_time_s: {description: 'Time of the first INVITE, seconds from the first packet.', type: float}
    setup_ringing_ms: {description: 'INVITE to first 180/183, ms (null when none).', type: float}
    setup_answer_ms: {description: 'INVITE to 200 OK, ms (null when unanswered).', type: float}
    duration_s: {description: '200 OK to BYE (or last message), seconds.', type: float}
    streams: {description: 'The call''s RTP streams as "src>dst ssrc".', type: list, elements: str}
    media: {description: 'Aggregated figures per media kind (audio, video), same keys as C(qos).', type: dict}
    qos:
      description: The call's aggregated figures (paper names) and TIPHON grades; null if it had no media.
      type: dict
      contains:
        streams: {description: 'Number of streams.', type: int}
        packets: {description: 'RTP packets received.', type: int}
        expected: {description: 'RTP packets expected from the sequence numbers.', type: int}
        lost: {description: 'Expected minus received.', type: int}
        throughput_kbps: {description: 'Bytes (IP/UDP/RTP) x 8 over the media span, kbit/s.', type: float}
        delay_ms: {description: 'Paper delay, the mean inter-arrival time.', type: float}
        jitter_ms: {description: 'Paper jitter, mean absolute transit-time variation.', type: float}
        packet_loss_pct: {description: 'Lost over expected, percent.', type: float}
        rfc3550_mean_jitter_ms: {description: 'Packet-weighted Wireshark mean jitter.', type: float}
        rfc3550_max_jitter_ms: {description: 'Largest Wireshark max jitter.', type: float}
        one_way_delay_ms: {description: 'Reserved for a measured one-way delay (null).', type: float}
        mos_min: {description: 'Lowest stream MOS.', type: float}
        mos_mean: {description: 'Mean stream MOS.', type: float}
        tiphon: {description: 'TIPHON grades (see C(streams[].tiphon)).', type: dict}
registrations:
  description: REGISTER transactions per user (the To user).
  returned: always
  type: list
  elements: dict
  contains:
    user: {description: 'The registering user.', type: str}
    attempts: {description: 'REGISTER requests (retransmissions and proxy legs counted once).', type: int}
    challenged: {description: '401/407 answers.', type: int}
    succeeded: {description: '2xx answers.', type: int}
    failed: {description: 'Other final answers (3xx-6xx).', type: int}
streams:
  description: RTP streams keyed by source, destination and SSRC, with Wireshark's figures and ours.
  returned: always
  type: list
  elements: dict
  contains:
    src: {description: 'Source as "ip:port".', type: str}
    dst: {description: 'Destination as "ip:port".', type: str}
    ssrc: {description: 'SSRC as "0x%08X".', type: str}
    payload_type: {description: 'The stream''s main payload type (not comfort noise or DTMF).', type: int}
    payload_types: {description: 'Every payload type seen.', type: list, elements: int}
    payload: {description: 'Payload names as tshark lists them.', type: str}
    codec: {description: 'Codec name (rtpmap or static table).', type: str}
    clock_rate: {description: 'RTP clock rate used for jitter (0 = none, e.g. telephone-event).', type: int}
    media: {description: 'audio, video or unknown.', type: str}
    call_id: {description: 'Call-ID of the SDP that announced it (null for heuristic streams).', type: str}
    start_time_s: {description: 'First packet, seconds from the capture''s first packet.', type: float}
    end_time_s: {description: 'Last packet, seconds from the capture''s first packet.', type: float}
    duration_s: {description: 'Last minus first packet time, seconds.', type: float}
    packets: {description: 'Packets received (Wireshark Pkts).', type: int}
    expected: {description: 'last seq + 65536 x wraps - first seq + 1.', type: int}
    lost: {description: 'expected - packets, negative when duplicates outnumber losses (as Wireshark).', type: int}
    loss_pct: {description: 'lost x 100 / expected.', type: float}
    seq_errors: {description: 'Packets whose sequence number was not the previous + 1.', type: int}
    duplicates_or_late: {description: '-lost when lost is negative, else null.', type: int}
    wrong_timestamps: {description: 'Packets whose RTP timestamp was before the stream''s first.', type: int}
    markers: {description: 'Packets with the marker bit.', type: int}
    problems: {description: 'Wireshark''s "Problems?" flag (wrong sequence or timestamp).', type: bool}
    min_delta_ms: {description: 'Wireshark minimum delta.', type: float}
    mean_delta_ms: {description: 'Wireshark mean delta.', type: float}
    max_delta_ms: {description: 'Wireshark maximum delta.', type: float}
    min_jitter_ms: {description: 'Wireshark minimum jitter (null when the clock is unknown).', type: float}
    mean_jitter_ms: {description: 'Wireshark mean jitter (RFC 3550).', type: float}
    max_jitter_ms: {description: 'Wireshark maximum jitter (RFC 3550).', type: float}
    bitrate_kbps: {description: '(RTP + IP/UDP header) bytes x 8 over the duration, kbit/s.', type: float}
    bytes: {description: 'RTP plus 28 (IPv4) or 48 (IPv6) header bytes, summed.', type: int}
    r_factor: {description: 'E-model R (R0 93.2); null for video or unknown codecs.', type: float}
    mos: {description: 'MOS from R; null for video or unknown codecs.', type: float}
    e_model: {description: 'E-model inputs (codec_family, ie, bpl, burst_ratio, delay_ms) and outputs.', type: dict}
    one_way_delay_ms: {description: 'One-way delay used (given, or RTCP RTT/2), null if unknown.', type: float}
    one_way_delay_source: {description: 'Where the one-way delay came from.', type: str}
    g114_class: {description: 'ITU-T G.114 class of the one-way delay (null if unknown).', type: str}
    rtcp:
      description: RTCP reports about this SSRC (reports, fraction_lost_max, cumulative_lost, jitter_max_ms, rtt_mean_ms, rtt_max_ms) or null.
      type: dict
    paper: {description: 'The paper''s figures (throughput_kbps, delay_ms, jitter_ms, packet_loss_pct) and their methods.', type: dict}
    tiphon: {description: 'TIPHON indices (4..1) and categories for delay, jitter, packet_loss and their mean index.', type: dict}
    series: {description: 'Per-second rows (second, packets, bitrate_kbps, max_jitter_ms, lost).', type: list, elements: dict}
    video: {description: Video streams only - frames (distinct timestamps) and frame_rate., type: dict, returned: for video streams}
summary:
  description: Totals for the capture.
  returned: always
  type: dict
  contains:
    capture: {description: 'File name of the capture.', type: str}
    frames: {description: 'Packets read.', type: int}
    udp_packets: {description: 'UDP datagrams decoded.', type: int}
    sip_messages: {description: 'SIP messages parsed.', type: int}
    duration_s: {description: 'Capture span, seconds.', type: float}
    calls: {description: 'Calls seen.', type: int}
    calls_answered: {description: 'Calls answered with 2xx.', type: int}
    streams: {description: 'RTP streams.', type: int}
    skipped: {description: 'Packets skipped, by reason (fragments, truncated, not RTP...).', type: dict}
    rtp_heuristic: {description: 'The option''s value.', type: bool}
    e_model_r0: {description: 'The E-model''s starting R (93.2).', type: float}
    by_media: {description: 'Aggregated figures per media kind, same keys as C(calls[].qos).', type: dict}
    overall: {description: 'Aggregated figures over all streams, same keys as C(calls[].qos).', type: dict}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_engine import QosError, analyze


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pcap=dict(type="path", required=True),
            rtp_heuristic=dict(type="bool", default=False),
            delay_ms=dict(type="float"),
            dest=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["delay_ms"] is not None and p["delay_ms"] < 0:
        module.fail_json(msg="delay_ms must not be negative")
    try:
        report = analyze(p["pcap"], rtp_heuristic=p["rtp_heuristic"], delay_ms=p["delay_ms"],
                         dest=None if module.check_mode else p["dest"])
    except QosError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **report)


if __name__ == "__main__":
    main()
