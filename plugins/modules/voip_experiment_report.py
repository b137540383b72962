#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: voip_experiment_report
short_description: Build the paper's tables (4.1.1-4.1.3, 4.4.1-4.4.2) from the run directories of one experiment
description:
  - Reads the run directories that the C(nebulavoip.cloud.voip_qos) and C(nebulavoip.cloud.voip_loadtest) roles left under
    O(report_dir) (one per VM size and impairment profile, and one load run per VM size) and writes the experiment's report
    into C(<report_dir>/<experiment_id>/).
  - A QoS run is read from its C(report.json) (written by M(nebulavoip.cloud.voip_report)), or from its C(summary.csv) when
    the JSON is missing or unreadable. The figures are those of the legs the SIP server's capture received, both directions
    (C(direction=both)); the voice figures are the audio streams of the voice calls, the video figures the video streams of the
    video calls. The calls of every run of one VM size and distance are pooled into one cell.
  - A load run is read from its C(load_table_cloud.csv) and C(load_table_server.csv) (in the run directory or in its C(load/)
    subdirectory), columns C(Users), C(CPU usage (%)), C(RAM usage (%)), C(Disk usage (%)).
  - C(table_4_1_1.csv) - voice calls, one row per VM size and distance - VM size, Distance, Profile, Calls (answered, with
    figures), Failed calls, Throughput (kbit/s, mean per call), Delay (ms, the paper's mean inter-arrival time), Jitter (ms,
    the paper's mean variation of delay), Packet loss (%), RFC 3550 jitter (ms), MOS (E-model), TIPHON index, Status.
  - C(table_4_1_2.csv) - the same for the video calls, without MOS and with the call's throughput including its audio.
  - C(table_4_1_3.csv) - voice against video per VM size, every distance pooled, with video's throughput over voice's.
  - C(table_4_4_1.csv) and C(table_4_4_2.csv) - the cloud host's and the SIP server's resource usage - VM size, Users,
    CPU usage (%), RAM usage (%), Disk usage (%).
  - C(experiment.json) - every figure - the runs and their status, the cells, the tables with their captions, the plots'
    series and the conclusion with the numbers it quotes.
  - C(index.html) - one self-contained page (inline CSS and SVG, no script, nothing loaded from the network) with the
    tables, plots of jitter, packet loss, throughput (and voice MOS) against distance per VM size and media, CPU and RAM
    against users per VM size, a caption under every table saying how the figures were made and how the setup differs from
    the paper's (O(notes), the impairment profile of every distance), and a conclusion on voice against video computed from
    the figures.
  - A run whose directory is missing or holds no usable figures is listed as missing or incomplete (in the page, in
    C(experiment.json) and as a warning) and its cells stay empty; the module fails only on bad input or when no run has any
    data.
  - Meant to run on the controller. Writes a file only when its content changes, so the same inputs give C(changed=false).
version_added: "0.1.0"
author:
  - NebulaVoIP maintainers (@nebulavoip)
options:
  report_dir:
    description: The directory that holds the run directories (C(reports/)); the report goes to its subdirectory O(experiment_id).
    type: path
    required: true
  experiment_id:
    description:
      - Name of the experiment and of the output directory C(<report_dir>/<experiment_id>/) (created). A plain name
        (letters, digits, C(_), C(.), C(-)) that is not one of the run IDs.
    type: str
    required: true
  runs:
    description: The runs of the experiment, in any order. Tables are sorted by VM size (memory, CPU, disk) and distance.
    type: list
    elements: dict
    required: true
    suboptions:
      run_id:
        description: The run's directory name under O(report_dir).
        type: str
        required: true
      kind:
        description: C(qos) for a voip_qos run (voice and video calls at one distance), C(load) for a voip_loadtest run.
        type: str
        required: true
        choices: [qos, load]
      vm_memory_mb:
        description: Memory of the SIP server VM during the run, in MB (1024, 3072, 5120 for the paper's 1, 3, 5 GB).
        type: int
        required: true
      vm_cpu:
        description: CPU of the SIP server VM during the run (part of the VM size when given).
        type: float
      vm_disk_mb:
        description: Disk of the SIP server VM in MB (part of the VM size when given).
        type: int
      vm_label:
        description: Name of the VM size in the tables. Default - C(<memory/1024> GB) followed by C(/ <cpu> vCPU) and C(/ <disk> GB disk) when given.
        type: str
      profile:
        description: With O(runs[].kind=qos), the impairment profile of the run (a key of O(profiles) when O(profiles) is given).
        type: str
      distance:
        description:
          - With O(runs[].kind=qos), the distance the profile stands for, for example C(5 m). Default - the profile's
            C(distance) in O(profiles), else the profile's name. Plots use metres when every distance starts with a number,
            else the order of the runs.
        type: str
  profiles:
    description:
      - The impairment profiles, name to a dict with C(delay_ms), C(jitter_ms), C(loss_pct) and C(distance) (other keys are
        ignored). Shown in the captions of the QoS tables and in the setup section.
    type: dict
    default: {}
  title:
    description: Title of the HTML page.
    type: str
    default: NebulaVoIP - the paper's experiment
  notes:
    description:
      - How this setup differs from the paper's (for example the emulated cloud, containers as VMs, impairment profiles for
        distance); each note is shown under every table and in the setup section.
    type: list
    elements: str
    default: []
notes:
  - The table logic lives in C(plugins/module_utils/voip_experiment.py); the HTML, SVG and CSV helpers are those of
    C(plugins/module_utils/voip_report.py).
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: partial
    details: The diff shows the CSV tables and experiment.json; index.html only by its size.
"""

EXAMPLES = r"""
- name: The paper's tables from the runs of one experiment
  nebulavoip.cloud.voip_experiment_report:
    report_dir: "{{ playbook_dir }}/../reports"
    experiment_id: exp-20250101T000000Z
    runs:
      - {run_id: exp-20250101T000000Z-1024mb-d01m, kind: qos, vm_memory_mb: 1024, vm_cpu: 1, profile: d01m}
      - {run_id: exp-20250101T000000Z-1024mb-d30m, kind: qos, vm_memory_mb: 1024, vm_cpu: 1, profile: d30m}
      - {run_id: exp-20250101T000000Z-1024mb-load, kind: load, vm_memory_mb: 1024, vm_cpu: 1}
      - {run_id: exp-20250101T000000Z-5120mb-d01m, kind: qos, vm_memory_mb: 5120, vm_cpu: 1, profile: d01m}
      - {run_id: exp-20250101T000000Z-5120mb-d30m, kind: qos, vm_memory_mb: 5120, vm_cpu: 1, profile: d30m}
      - {run_id: exp-20250101T000000Z-5120mb-load, kind: load, vm_memory_mb: 5120, vm_cpu: 1}
    profiles:
      d01m: {distance: 1 m, delay_ms: 2, jitter_ms: 1, loss_pct: 0}
      d30m: {distance: 30 m, delay_ms: 100, jitter_ms: 30, loss_pct: 8}
    notes:
      - The cloud is emulated (tools/one_emulator); each VM is a container whose limits are the VM's size.
      - Distance is stood for by an impairment profile (delay, jitter, loss) on the caller's link.
  delegate_to: localhost
  run_once: true
  register: experiment

- name: Say which runs are missing
  ansible.builtin.debug:
    msg: "{{ experiment.missing }}"
  when: experiment.missing | length > 0
"""

RETURN = r"""
experiment_dir:
  description: The directory the report was written to.
  returned: always
  type: str
  sample: reports/exp-20250101T000000Z
index_html:
  description: Path of index.html.
  returned: always
  type: str
experiment_json:
  description: Path of experiment.json.
  returned: always
  type: str
tables:
  description: Path of each table's CSV file, by table number.
  returned: always
  type: dict
  sample: {"4.1.1": "reports/exp-1/table_4_1_1.csv", "4.1.2": "reports/exp-1/table_4_1_2.csv"}
rows:
  description: Number of rows of each table, by table number.
  returned: always
  type: dict
  sample: {"4.1.1": 21, "4.1.2": 21, "4.1.3": 6, "4.4.1": 15, "4.4.2": 15}
written:
  description: The files that were written (in check mode, that would be written) because their content changed.
  returned: always
  type: list
  elements: str
  sample: [experiment.json, index.html, table_4_1_1.csv]
runs:
  description:
    - Every run with its status - C(ok), C(partial) (some of its figures), C(incomplete) (its directory holds no usable
      figures) or C(missing) (no directory).
  returned: always
  type: list
  elements: dict
  contains:
    run_id:
      description: The run's directory name.
      type: str
    kind:
      description: qos or load.
      type: str
    status:
      description: ok, partial, incomplete or missing.
      type: str
    reason:
      description: What is missing (null when ok).
      type: str
missing:
  description: The run IDs whose status is not C(ok).
  returned: always
  type: list
  elements: str
conclusion:
  description: The sentences of the voice-against-video conclusion, computed from the figures.
  returned: always
  type: list
  elements: str
figures:
  description: Number of inline SVG plots in index.html.
  returned: always
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nebulavoip.cloud.plugins.module_utils.voip_experiment import (
    ExperimentError,
    build_experiment,
    normalise_runs,
    render_files,
)
from ansible_collections.nebulavoip.cloud.plugins.module_utils.voip_report import write_files

DIFF_FILES_BY_SIZE = ("index.html",)


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (IOError, OSError, UnicodeDecodeError):
        return None


def _diff(directory, files, names):
    out = []
    for name in names:
        path = os.path.join(directory, name)
        before = _read(path)
        if name in DIFF_FILES_BY_SIZE:
            out.append({"before_header": path, "after_header": path,
                        "before": "" if before is None else "(%d bytes)\n" % len(before.encode("utf-8")),
                        "after": "(%d bytes)\n" % len(files[name].encode("utf-8"))})
        else:
            out.append({"before_header": path, "after_header": path, "before": before or "", "after": files[name]})
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            report_dir=dict(type="path", required=True),
            experiment_id=dict(type="str", required=True),
            runs=dict(type="list", elements="dict", required=True, options=dict(
                run_id=dict(type="str", required=True),
                kind=dict(type="str", required=True, choices=["qos", "load"]),
                vm_memory_mb=dict(type="int", required=True),
                vm_cpu=dict(type="float"),
                vm_disk_mb=dict(type="int"),
                vm_label=dict(type="str"),
                profile=dict(type="str"),
                distance=dict(type="str"),
            )),
            profiles=dict(type="dict", default={}),
            title=dict(type="str", default="NebulaVoIP - the paper's experiment"),
            notes=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    report_dir = p["report_dir"]
    if not os.path.isdir(report_dir):
        module.fail_json(msg="report_dir %s is not a directory" % report_dir)
    try:
        runs = normalise_runs(p["runs"], p["profiles"])
        experiment = build_experiment(report_dir, p["experiment_id"], runs, p["profiles"], p["title"], p["notes"])
    except ExperimentError as exc:
        module.fail_json(msg=str(exc))
    files, figures = render_files(experiment)
    out_dir = os.path.join(report_dir, experiment["experiment_id"])
    try:
        if not module.check_mode and not os.path.isdir(out_dir):
            os.makedirs(out_dir)
        names = write_files(out_dir, files, check_mode=True)
        diff = _diff(out_dir, files, names) if module._diff else None
        if not module.check_mode:
            names = write_files(out_dir, files)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot write the experiment report into %s: %s" % (out_dir, exc))
    for run in experiment["runs"]:
        if run["status"] != "ok":
            module.warn("run %s (%s) is %s: %s" % (run["run_id"], run["kind"], run["status"], run["reason"]))
        for warning in run["warnings"]:
            module.warn("run %s: %s" % (run["run_id"], warning))
    result = dict(
        changed=bool(names),
        experiment_dir=out_dir,
        index_html=os.path.join(out_dir, "index.html"),
        experiment_json=os.path.join(out_dir, "experiment.json"),
        tables=dict((key, os.path.join(out_dir, table["file"])) for key, table in sorted(experiment["tables"].items())),
        rows=dict((key, len(table["rows"])) for key, table in sorted(experiment["tables"].items())),
        written=names,
        runs=[dict((k, run[k]) for k in ("run_id", "kind", "status", "reason")) for run in experiment["runs"]],
        missing=[m["run_id"] for m in experiment["missing"]],
        conclusion=experiment["conclusion"]["text"],
        figures=figures,
    )
    if diff is not None:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
