#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: voip_report
short_description: Assemble the page of a VoIP run (report.json, summary.csv, index.html) from its parts
description:
  - Reads the results that the C(nebulavoip.cloud.voip_qos) role fetched into a run directory
    (one subdirectory per host with C(qos.json) from M(nebulavoip.cloud.voip_qos_analyze), the CSV files,
    the user agents' C(caller-N/result.json), C(impairment.json) and C(impairment-stats.json)), keeps the QoS
    part of the page in C(qos_section.json) and writes the run's files.
  - A run directory can hold the work of several roles. Each keeps its part of the page in
    C(<run_dir>/<name>_section.json) - its sections, the dict C(report.json) gets under C(<name>) and its page
    parameters (M(nebulavoip.cloud.voip_load) writes C(load_section.json)). Every such file is read and rendered,
    so whichever role assembles the page last, C(index.html) and C(report.json) carry every part.
  - C(report.json) - the calls (user-agent outcome merged with the SIP dialog of the capture by
    Call-ID; a failed call carries its reason), every RTP stream, the impairment per host and the
    run parameters; the other parts' data under their names (for example C(load)) and their names in C(parts).
  - C(summary.csv) - one row per call, media kind and direction (C(both), C(caller->callee),
    C(callee->caller)) with throughput, delay, jitter, packet loss, MOS and TIPHON grades (when there is a QoS part).
  - C(index.html) - one self-contained page (inline CSS and SVG, no script, nothing loaded from
    the network) with the run parameters on top, the tables, MOS per call and per-stream plots
    of jitter, loss and bitrate over time (TIPHON grades shown as colours), then the other parts' sections.
  - Meant to run on the controller (C(delegate_to=localhost)). Writes a file only when its
    content changes, so the same inputs give C(changed=false).
version_added: "0.1.0"
author:
  - NebulaVoIP maintainers (@nebulavoip)
options:
  run_dir:
    description:
      - The run directory, C(reports/<run_id>/). Its subdirectories are the hosts of the QoS run, except hidden
        ones, C(load/) and any C(<name>/) beside a C(<name>_section.json) (another role's files, such as the load
        test's samples); the files directly in it are the parts and the outputs.
    type: path
    required: true
  qos:
    description:
      - Build the QoS part from the host subdirectories and write it as C(qos_section.json) (when there is any host).
      - V(false) for a role that only adds its own part (the load test) - the QoS part then comes from
        C(qos_section.json) as the C(nebulavoip.cloud.voip_qos) role left it, with that role's parameters.
    type: bool
    default: true
  params:
    description:
      - The run's parameters, shown on top of the page and stored in C(report.json) (for example
        C(run_id), the impairment profile per host, the client pairs, the VM size).
      - The keys C(run_id), C(server) (inventory name of the capture host to use) and
        C(addresses) (inventory name to IP address, used to label streams and directions) are read.
    type: dict
    default: {}
  title:
    description: Title of the HTML page.
    type: str
    default: NebulaVoIP call quality
  capture_host:
    description:
      - The host whose C(qos.json) gives the streams and calls. Default - C(params.server) when it
        has a capture, else the first host (sorted) that has one.
    type: str
  sections:
    description:
      - Extra sections for the page, after the QoS ones unless their O(sections[].order) is below 70. The body is
        trusted HTML.
      - Each is kept as a part of the page, in C(<key>_section.json) (or in the part of that name when it exists),
        so that a later run of this module keeps it.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: Anchor of the section (a section with the same key replaces it).
        type: str
        required: true
      title:
        description: Heading of the section.
        type: str
        required: true
      body:
        description: HTML of the section.
        type: str
        required: true
      order:
        description: Sort key; the QoS sections use 10 to 60.
        type: int
        default: 70
notes:
  - Supports check mode - it then reports which files it would write.
  - The HTML, SVG and CSV rendering lives in C(plugins/module_utils/voip_report.py) as a small
    sections API that other reports of the collection reuse.
  - A part file is a JSON object with C(format) (1), C(name), C(sections) (a list of objects with C(key), C(title), C(body) and
    C(order)), C(report) (any JSON value, or null) and C(params) (an object); a single section object is accepted too.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Assemble the report of a run on the controller
  nebulavoip.cloud.voip_report:
    run_dir: "{{ playbook_dir }}/reports/{{ run_id }}"
    params:
      run_id: "{{ run_id }}"
      server: sip1
      addresses: {sip1: 192.0.2.10, client1: 192.0.2.21, client2: 192.0.2.22}
      impairments: {client1: wifi_far}
      vm_size: 2 vCPU / 2 GiB
  delegate_to: localhost
  run_once: true
  register: report

- name: The load test's part joined to a QoS run's page (the QoS part stays as voip_qos wrote it)
  nebulavoip.cloud.voip_report:
    run_dir: "{{ playbook_dir }}/reports/{{ run_id }}"
    qos: false
    params:
      load_users: [2, 4, 6, 8, 10]
  delegate_to: localhost

- name: Add a section of one's own
  nebulavoip.cloud.voip_report:
    run_dir: reports/20250101T000000Z-none
    sections:
      - key: notes
        title: Notes
        body: "<p>Access point 10 m away, one wall.</p>"
        order: 5
  delegate_to: localhost
"""

RETURN = r"""
run_dir:
  description: The run directory.
  returned: always
  type: str
report_json:
  description: Path of report.json.
  returned: always
  type: str
summary_csv:
  description: Path of summary.csv.
  returned: always
  type: str
index_html:
  description: Path of index.html.
  returned: always
  type: str
written:
  description: The files that were written (in check mode, that would be written) because their content changed.
  returned: always
  type: list
  elements: str
  sample: [index.html, qos_section.json, report.json, summary.csv]
hosts:
  description: The host directories read (none with O(qos=false)).
  returned: always
  type: list
  elements: str
parts:
  description: The parts of the page - the names of the C(<name>_section.json) files, this task's included.
  returned: always
  type: list
  elements: str
  sample: [load, qos]
sections:
  description: The keys of the page's sections in page order.
  returned: always
  type: list
  elements: str
  sample: [calls, summary, mos, streams, stream_table, impairment, load]
capture_host:
  description: The host whose capture gave the calls and the streams (null without any capture, or without a QoS part).
  returned: always
  type: str
calls:
  description: The calls, as in report.json.
  returned: always
  type: list
  elements: dict
  contains:
    call_id:
      description: SIP Call-ID (null when no call was created).
      type: str
    group:
      description: Name of the call group of voip_qos_calls (null for calls seen only in the capture).
      type: str
    kind:
      description: voice or video.
      type: str
    codec:
      description: Audio codec the caller offered.
      type: str
    caller:
      description: Caller user.
      type: str
    callee:
      description: Callee user.
      type: str
    status:
      description: answered or failed.
      type: str
    reason:
      description: Why the call failed (the SIP final response and the user agent's reason); null when answered.
      type: str
    sip:
      description: SIP figures of the dialog in the capture - final_status, final_reason, setup_answer_ms, duration_s and so on.
      type: dict
    user_agent:
      description: What the calling user agent saw - established, close_reason, duration_s.
      type: dict
    media:
      description: Per media kind (audio, video) and direction (both, caller->callee, callee->caller) the aggregated figures.
      type: dict
    streams:
      description: The call's streams with direction, from and to host, packets, loss, jitter, bitrate and MOS.
      type: list
      elements: dict
summary:
  description: Counts (calls, answered, failed, streams), the capture's summary and the figures by media.
  returned: always
  type: dict
rows:
  description: Number of rows of summary.csv.
  returned: always
  type: int
figures:
  description: Number of inline SVG plots in index.html.
  returned: always
  type: int
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nebulavoip.cloud.plugins.module_utils.voip_report import (
    QOS_PART,
    SECTION_SUFFIX,
    assemble_run,
    build_qos_report,
    load_run,
    qos_sections,
    read_section_files,
    section_doc,
    summary_rows,
    to_json,
    write_files,
)


def add_sections(parts, sections):
    """Put the sections of the task into parts (a part per section key, or into the part of that name); return the names touched."""
    touched = []
    for sec in sections:
        name = sec["key"]
        doc = parts.get(name) or section_doc(name, [])
        doc["sections"] = [s for s in doc["sections"] if s["key"] != name] + section_doc(name, [sec])["sections"]
        parts[name] = doc
        if name not in touched:
            touched.append(name)
    return touched


def main():
    module = AnsibleModule(
        argument_spec=dict(
            run_dir=dict(type="path", required=True),
            params=dict(type="dict", default={}),
            title=dict(type="str", default="NebulaVoIP call quality"),
            capture_host=dict(type="str"),
            qos=dict(type="bool", default=True),
            sections=dict(type="list", elements="dict", default=[], options=dict(
                key=dict(type="str", required=True, no_log=False),
                title=dict(type="str", required=True),
                body=dict(type="str", required=True),
                order=dict(type="int", default=70),
            )),
        ),
        supports_check_mode=True,
    )
    p = module.params
    run_dir = p["run_dir"]
    if not os.path.isdir(run_dir):
        module.fail_json(msg="run_dir %s is not a directory" % run_dir)
    try:
        parts = read_section_files(run_dir)
        hosts = load_run(run_dir) if p["qos"] else {}
    except (IOError, OSError, ValueError) as exc:
        module.fail_json(msg="cannot read the results in %s: %s" % (run_dir, exc))
    if p["capture_host"] and p["capture_host"] not in hosts:
        module.fail_json(msg="capture_host %s has no directory in %s" % (p["capture_host"], run_dir))
    own = {}
    qos_report = None
    if p["qos"] and hosts:
        qos_report = build_qos_report(hosts, p["params"], p["capture_host"])
        parts[QOS_PART] = section_doc(QOS_PART, qos_sections(qos_report), qos_report, p["params"])
        own[QOS_PART + SECTION_SUFFIX] = to_json(parts[QOS_PART])
    for name in add_sections(parts, p["sections"]):
        own[name + SECTION_SUFFIX] = to_json(parts[name])
    files, page = assemble_run(p["title"], p["params"], parts, qos_report=qos_report)
    files.update(own)
    try:
        written = write_files(run_dir, files, module.check_mode)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot write the report into %s: %s" % (run_dir, exc))
    report = json.loads(files["report.json"])
    module.exit_json(
        changed=bool(written),
        run_dir=run_dir,
        report_json=os.path.join(run_dir, "report.json"),
        summary_csv=os.path.join(run_dir, "summary.csv"),
        index_html=os.path.join(run_dir, "index.html"),
        written=written,
        hosts=sorted(hosts),
        parts=sorted(parts),
        sections=[s["key"] for s in page.ordered()],
        capture_host=report["capture_host"],
        calls=report["calls"],
        summary=report["summary"],
        rows=len(summary_rows(report)),
        figures=page.figures(),
    )


if __name__ == "__main__":
    main()
