# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Virtual machine helpers shared by one_vm, one_vm_info and the opennebula inventory.

Pure logic (no XML-RPC here):

* :func:`describe_vm` -- the structured facts of a VM document (``one.vmpool.infoextended``);
* :func:`raw_monitoring` / :func:`describe_monitoring` -- the MONITORING element of a VM document
  (either of pyone's forms) as facts (``one_vm_info``'s ``monitoring``);
* :func:`classify` -- where a VM rests or is heading (running, poweredoff ... failure);
* :func:`route` -- the oned actions that take a VM from one resting state to another;
* :func:`plan_vm` -- the ordered operations (actions, resize, NIC hotplug, context,
  user template) that make one existing VM match the desired state;
* name patterns (``client-%i``), NIC matching, memory sizes.
"""

import re
import xml.etree.ElementTree as ET

from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_template
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_states import LCM_STATE, VM_STATE, vm_state_name
from ansible_collections.nebulavoip.cloud.plugins.module_utils.opennebula import OneError, to_data

# resting places of a VM (the names are the module's state choices)
RUNNING = 'running'
POWEROFF = 'poweredoff'
SUSPENDED = 'suspended'
STOPPED = 'stopped'
UNDEPLOYED = 'undeployed'
ABSENT = 'absent'
PENDING = 'pending'
HOLD = 'hold'
FAILURE = 'failure'
UNKNOWN = 'unknown'

# LCM states (ACTIVE) by the resting place they lead to
_LCM_TO = {}
for _codes, _dest in (
        ((0, 1, 2, 4, 7, 8, 9, 15, 17, 19, 20, 21, 22, 24, 25, 26, 31, 32, 35, 57, 58, 59, 60, 62, 66, 69, 71), RUNNING),
        ((18, 27, 33, 34, 43, 51, 52, 53, 63, 65, 70), POWEROFF),
        ((6, 28, 45, 54, 55, 56), SUSPENDED),
        ((5, 10, 68), STOPPED),
        ((29, 30, 64, 67), UNDEPLOYED),
        ((11, 12, 23), ABSENT)):
    for _code in _codes:
        _LCM_TO[_code] = _dest

_VM_STATE_TO = {0: (RUNNING, True), 1: (PENDING, True), 2: (HOLD, False), 4: (STOPPED, False), 5: (SUSPENDED, False),
                6: (ABSENT, False), 7: (FAILURE, False), 8: (POWEROFF, False), 9: (UNDEPLOYED, False), 10: (PENDING, True),
                11: (FAILURE, False)}

# action -> resting place it leads to ('wait' is no call: PENDING -> RUNNING by the scheduler)
ACTION_RESULT = {
    'wait': RUNNING, 'resume': RUNNING, 'release': RUNNING, 'reboot': RUNNING, 'reboot-hard': RUNNING,
    'poweroff': POWEROFF, 'poweroff-hard': POWEROFF, 'suspend': SUSPENDED, 'stop': STOPPED,
    'undeploy': UNDEPLOYED, 'undeploy-hard': UNDEPLOYED, 'terminate': ABSENT, 'terminate-hard': ABSENT,
}

# where each kind of change is accepted by oned (RUNNING for resize only with hot resize)
CHANGE_STATES = {
    'update': None,  # the user template: any state
    'detach': (RUNNING, POWEROFF, UNDEPLOYED),
    'attach': (RUNNING, POWEROFF, UNDEPLOYED),
    'context': (RUNNING, POWEROFF, UNDEPLOYED),
    'resize': (POWEROFF, UNDEPLOYED, PENDING, HOLD),
}
CHANGE_ORDER = ('update', 'detach', 'attach', 'context', 'resize')


class VmPlanError(ValueError):
    """The desired state cannot be reached (message says why and what to do)."""


def _int(value, default=None):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _float(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------
# states
# --------------------------------------------------------------------------
def classify(state, lcm_state):
    """``(place, transient)``: where a VM rests (or is heading) given STATE and LCM_STATE."""
    state = int(state)
    lcm_state = int(lcm_state or 0)
    if state == 3:
        if lcm_state == 3:
            return RUNNING, False
        if LCM_STATE.is_failure(lcm_state):
            return FAILURE, False
        if lcm_state in (13, 14, 16):
            return UNKNOWN, False
        return _LCM_TO.get(lcm_state, UNKNOWN), lcm_state in _LCM_TO
    return _VM_STATE_TO.get(state, (UNKNOWN, False))


def classify_doc(doc):
    if doc is None:
        return ABSENT, False
    return classify(doc.get('STATE'), doc.get('LCM_STATE'))


def next_action(cur, target, hard=False):
    """The next oned action from resting place ``cur`` towards ``target`` (None when there)."""
    if cur == target:
        return None
    if target == ABSENT:
        return 'terminate-hard' if hard or cur in (FAILURE, UNKNOWN) else 'terminate'
    if cur == FAILURE:
        raise VmPlanError('failure')
    if cur == PENDING:
        return 'wait'
    if cur == UNKNOWN:
        if target == RUNNING:
            return None
        cur = RUNNING
    if target == RUNNING:
        return 'release' if cur == HOLD else 'resume'
    if target == POWEROFF:
        return ('poweroff-hard' if hard else 'poweroff') if cur == RUNNING else next_action(cur, RUNNING, hard)
    if target == SUSPENDED:
        return 'suspend' if cur == RUNNING else next_action(cur, RUNNING, hard)
    if target == STOPPED:
        return 'stop' if cur in (RUNNING, SUSPENDED) else next_action(cur, RUNNING, hard)
    if target == UNDEPLOYED:
        return ('undeploy-hard' if hard else 'undeploy') if cur in (RUNNING, POWEROFF) else next_action(cur, RUNNING, hard)
    raise VmPlanError(f'unknown target state {target!r}')


def route(cur, target, hard=False):
    """``[(action, place after it), ...]`` from ``cur`` to ``target``."""
    steps = []
    while len(steps) < 6:
        action = next_action(cur, target, hard)
        if action is None:
            return steps
        cur = ACTION_RESULT[action]
        steps.append((action, cur))
    raise VmPlanError(f'no route from {cur} to {target}')  # pragma: no cover - the table always converges


# --------------------------------------------------------------------------
# sizes, names, NICs
# --------------------------------------------------------------------------
_SIZE_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$', re.IGNORECASE)


def size_mb(value):
    """``2048``, ``'2048'``, ``'2G'``, ``'512 MB'``, ``'1.5GiB'`` -> megabytes (int)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    match = _SIZE_RE.match(str(value))
    if not match:
        raise ValueError(f'invalid size {value!r}: use megabytes or a unit like 512M, 2G, 1T')
    number, unit = float(match.group(1)), match.group(2).upper()
    factor = {'K': 1.0 / 1024, '': 1, 'M': 1, 'G': 1024, 'T': 1024 * 1024}[unit]
    return round(number * factor)


def name_regex(pattern):
    """Compiled regex for a name, ``%i`` standing for a number (group 1)."""
    if '%i' not in pattern:
        return re.compile('^' + re.escape(pattern) + '$')
    parts = [re.escape(p) for p in pattern.split('%i')]
    return re.compile('^' + r'(\d+)'.join(parts) + '$')


def name_index(pattern, name):
    """The number ``%i`` stands for in ``name`` (None when not a pattern or no match)."""
    if '%i' not in pattern:
        return None
    match = name_regex(pattern).match(name or '')
    if not match:
        return None
    return int(match.group(1))


def fill_name(pattern, index):
    return pattern.replace('%i', str(index))


def free_indexes(pattern, used_names, count, start=1):
    """``count`` indexes not used by ``used_names`` (lowest first)."""
    used = {name_index(pattern, n) for n in used_names}
    out = []
    index = start
    while len(out) < count:
        if index not in used:
            out.append(index)
        index += 1
    return out


def desired_nic(spec):
    """A ``networks`` item (module option) -> NIC vector for oned."""
    nic = {}
    extra = spec.get('attributes') or {}
    for key, value in extra.items():
        nic[one_template.canonical_name(key)] = one_template.scalar_to_str(value)
    if spec.get('name'):
        nic['NETWORK'] = spec['name']
    if spec.get('id') is not None:
        nic['NETWORK_ID'] = str(spec['id'])
    if spec.get('uname'):
        nic['NETWORK_UNAME'] = spec['uname']
    if spec.get('ip'):
        nic['IP'] = spec['ip']
    if spec.get('ip6'):
        nic['IP6'] = spec['ip6']
    if not nic.get('NETWORK') and not nic.get('NETWORK_ID'):
        raise ValueError(f'networks: each item needs a network name or id, got {spec!r}')
    return nic


def _nic_matches(want, have):
    if want.get('NETWORK_ID') not in (None, '') and str(have.get('NETWORK_ID')) != str(want['NETWORK_ID']):
        return False
    if want.get('NETWORK') and have.get('NETWORK') != want['NETWORK']:
        return False
    if want.get('IP') and have.get('IP') != want['IP']:
        return False
    if want.get('IP6') and want['IP6'] not in (have.get('IP6'), have.get('IP6_GLOBAL'), have.get('IP6_ULA')):
        return False
    return True


def match_nics(wanted, current):
    """``(to_attach, to_detach)``: desired NIC vectors without a current NIC, current NICs not desired.

    Matching is by network (name or ID) and, when given, the fixed address;
    desired NICs with a fixed address are matched first.
    """
    free = list(current)
    attach = []
    order = sorted(range(len(wanted)), key=lambda i: 0 if (wanted[i].get('IP') or wanted[i].get('IP6')) else 1)
    matched = {}
    for i in order:
        for have in free:
            if _nic_matches(wanted[i], have):
                matched[i] = have
                free.remove(have)
                break
    for i, want in enumerate(wanted):
        if i not in matched:
            attach.append(want)
    return attach, free


def nic_label(nic):
    name = nic.get('NETWORK') or 'network {}'.format(nic.get('NETWORK_ID'))
    addr = nic.get('IP') or nic.get('IP6') or nic.get('IP6_GLOBAL')
    return f'{name} ({addr})' if addr else name


# --------------------------------------------------------------------------
# facts
# --------------------------------------------------------------------------
def _template(doc):
    tmpl = doc.get('TEMPLATE')
    return tmpl if isinstance(tmpl, dict) else {}


def _user_template(doc):
    tmpl = doc.get('USER_TEMPLATE')
    return tmpl if isinstance(tmpl, dict) else {}


def vm_nics(doc):
    return [n for n in one_template.as_list(_template(doc).get('NIC')) if isinstance(n, dict)]


def vm_labels(doc):
    labels = _user_template(doc).get('LABELS')
    if not isinstance(labels, str):
        return []
    return [x.strip() for x in labels.split(',') if x.strip()]


def vm_history(doc):
    records = doc.get('HISTORY_RECORDS')
    if not isinstance(records, dict):
        return []
    return [h for h in one_template.as_list(records.get('HISTORY')) if isinstance(h, dict)]


def _nonempty(value):
    return value if isinstance(value, str) and value else None


def describe_vm(doc):
    """Structured facts of a VM document (full or pool form)."""
    tmpl = _template(doc)
    user = _user_template(doc)
    state, lcm = int(doc.get('STATE', 0)), int(doc.get('LCM_STATE', 0))
    nics = []
    ipv4, ipv6 = [], []
    for nic in vm_nics(doc):
        ip6 = _nonempty(nic.get('IP6')) or _nonempty(nic.get('IP6_GLOBAL'))
        item = {
            'nic_id': _int(nic.get('NIC_ID')),
            'network': nic.get('NETWORK'),
            'network_id': _int(nic.get('NETWORK_ID')),
            'ip': _nonempty(nic.get('IP')),
            'ip6': ip6,
            'ip6_global': _nonempty(nic.get('IP6_GLOBAL')),
            'ip6_ula': _nonempty(nic.get('IP6_ULA')),
            'ip6_link': _nonempty(nic.get('IP6_LINK')),
            'mac': nic.get('MAC'),
        }
        nics.append(item)
        if item['ip']:
            ipv4.append(item['ip'])
        for key in ('ip6', 'ip6_ula'):
            if item[key] and item[key] not in ipv6:
                ipv6.append(item[key])
    history = vm_history(doc)
    host = history[-1].get('HOSTNAME') if history else None
    host_id = _int(history[-1].get('HID')) if history else None
    place, transient = classify(state, lcm)
    attributes = {k: v for k, v in one_template.normalize(user).items() if k not in ('LABELS', 'ERROR', 'SCHED_MESSAGE')}
    disks = []
    for disk in one_template.as_list(tmpl.get('DISK')):
        if isinstance(disk, dict):
            disks.append({'disk_id': _int(disk.get('DISK_ID')), 'image': disk.get('IMAGE'), 'image_id': _int(disk.get('IMAGE_ID')),
                          'size': _int(disk.get('SIZE')), 'target': disk.get('TARGET')})
    out = {
        'id': int(doc['ID']),
        'name': doc.get('NAME'),
        'state': VM_STATE.name(state),
        'lcm_state': LCM_STATE.name(lcm),
        'state_name': vm_state_name(state, lcm),
        'state_code': state,
        'lcm_state_code': lcm,
        'status': place,
        'transient': transient,
        'host': host if host else None,
        'host_id': host_id,
        'template_id': _int(tmpl.get('TEMPLATE_ID')),
        'labels': vm_labels(doc),
        'cpu': _float(tmpl.get('CPU')),
        'vcpu': _int(tmpl.get('VCPU')),
        'memory': _int(tmpl.get('MEMORY')),
        'disks': disks,
        'nics': nics,
        'ipv4': ipv4,
        'ipv6': ipv6,
        'first_ip': ipv4[0] if ipv4 else (ipv6[0] if ipv6 else None),
        'attributes': attributes,
        'error': _nonempty(user.get('ERROR')),
        'sched_message': _nonempty(user.get('SCHED_MESSAGE')),
        'owner': doc.get('UNAME'),
        'group': doc.get('GNAME'),
        'uid': _int(doc.get('UID')),
        'gid': _int(doc.get('GID')),
        'start_time': _int(doc.get('STIME')),
        'deploy_id': _nonempty(doc.get('DEPLOY_ID')),
    }
    return out


def state_text(doc):
    """``ACTIVE/BOOT_FAILURE`` style text of a VM document."""
    if doc is None:
        return 'DONE (gone)'
    state, lcm = int(doc.get('STATE', 0)), int(doc.get('LCM_STATE', 0))
    if state == 3:
        return f'ACTIVE/{LCM_STATE.name(lcm)}'
    return VM_STATE.name(state)


def failure_text(doc):
    """Why a VM in a failure state failed: state names and oned's ERROR text."""
    user = _user_template(doc)
    error = _nonempty(user.get('ERROR')) or 'oned reported no ERROR text'
    return f'VM {doc.get("NAME")!r} (ID {doc.get("ID")}) is in {state_text(doc)}: {error}'


# --------------------------------------------------------------------------
# monitoring (the VM document's MONITORING element)
# --------------------------------------------------------------------------
# oned 7.2 element -> fact, converter. CPU is a percentage of one CPU (100 = one core busy),
# MEMORY the memory the VM uses in KiB, the NET*/DISK* counters are cumulative (bytes, operations).
MONITORING_FACTS = (
    ('TIMESTAMP', 'timestamp', int),
    ('CPU', 'cpu', float),
    ('MEMORY', 'memory', int),
    ('NETRX', 'net_rx_bytes', int),
    ('NETTX', 'net_tx_bytes', int),
    ('DISKRDBYTES', 'disk_read_bytes', int),
    ('DISKWRBYTES', 'disk_write_bytes', int),
    ('DISKRDIOPS', 'disk_read_ops', int),
    ('DISKWRIOPS', 'disk_write_ops', int),
)
_MONITORING_SKIP = ('ID',)  # the VM's own ID
_BINDING_NOISE = ('anytypeobjs_', 'custom_attrs', 'gds_collector_', 'gds_elementtree_node_', 'original_tagname_',
                  'parent_object_', 'ns_prefix_', 'valueOf_', 'mixedclass_', 'content_')


def _xml_value(elem):
    """An element parsed from an ``xs:any`` string: text for a leaf, a dict (lists for repeats) otherwise."""
    children = list(elem)
    if not children:
        return (elem.text or '').strip()
    out = {}
    for child in children:
        value = _xml_value(child)
        if child.tag in out:
            if not isinstance(out[child.tag], list):
                out[child.tag] = [out[child.tag]]
            out[child.tag].append(value)
        else:
            out[child.tag] = value
    return out


def raw_monitoring(element):
    """The MONITORING element of a VM document as ``{oned name: value}``.

    ``element`` is what pyone parsed, in either of oned's forms: ``one.vm.info`` (vm.xsd: typed
    fields, numbers as ``Decimal``) or a pool listing (vm_pool.xsd: ``xs:any``, the children kept
    as XML strings in ``anytypeobjs_``); a plain dict is taken as it is. Empty -> ``{}``.
    """
    if element is None or element == '':
        return {}
    if isinstance(element, dict):
        return to_data(element)
    out = {}
    for item in getattr(element, 'anytypeobjs_', None) or []:
        if not isinstance(item, str):
            continue
        try:
            node = ET.fromstring(item)
        except ET.ParseError:
            continue
        value = _xml_value(node)
        if node.tag not in out:
            out[node.tag] = value
        elif isinstance(out[node.tag], list):
            out[node.tag].append(value)
        else:
            out[node.tag] = [out[node.tag], value]
    for key, value in (to_data(element) or {}).items() if hasattr(element, '__dict__') else ():
        if key not in _BINDING_NOISE:
            out[key] = value
    return out


def describe_monitoring(raw, memory_mb=None):
    """Facts of a MONITORING element (:func:`raw_monitoring`), ``{}`` when oned has recorded none.

    ``cpu`` (% of one CPU), ``memory`` (KiB), ``timestamp`` (epoch seconds of the record; absent in
    the short form of ``one.vmpool.info``), the NET/DISK counters when present, ``memory_pct``
    (``memory`` over the VM's MEMORY when ``memory_mb`` is given) and ``extra``: any other element
    (``STATE``, ``DISK_SIZE``, ``GUEST_IP`` ... as oned names them).
    """
    out = {}
    for name, fact, conv in MONITORING_FACTS:
        value = raw.get(name)
        if value in (None, '') or isinstance(value, (dict, list)):
            continue
        try:
            out[fact] = conv(float(value)) if conv is int else conv(value)
        except (TypeError, ValueError, OverflowError):
            continue
    if not out:
        return {}
    known = {m[0] for m in MONITORING_FACTS} | set(_MONITORING_SKIP)
    extra = {k: v for k, v in sorted(raw.items()) if k not in known and v not in (None, '', [], {})}
    if extra:
        out['extra'] = extra
    if out.get('memory') is not None and memory_mb:
        out['memory_pct'] = round(out['memory'] * 100.0 / (float(memory_mb) * 1024.0), 2)
    return out


# --------------------------------------------------------------------------
# desired vs current, for one existing VM
# --------------------------------------------------------------------------
def hot_resize_ok(doc, want):
    """Whether oned can resize this RUNNING VM in place (HOT_RESIZE enabled and within *_MAX)."""
    tmpl = _template(doc)
    hot = tmpl.get('HOT_RESIZE')
    if not isinstance(hot, dict):
        return False
    cpu_ok = str(hot.get('CPU_HOT_ADD_ENABLED', 'NO')).upper() == 'YES'
    mem_ok = str(hot.get('MEMORY_HOT_ADD_ENABLED', 'NO')).upper() == 'YES'
    if 'VCPU' in want or 'CPU' in want:
        if not cpu_ok:
            return False
        vmax = _int(tmpl.get('VCPU_MAX'))
        if 'VCPU' in want and (vmax is None or int(want['VCPU']) > vmax):
            return False
    if 'MEMORY' in want:
        mmax = _int(tmpl.get('MEMORY_MAX'))
        if not mem_ok or mmax is None or int(want['MEMORY']) > mmax:
            return False
    return True


def capacity_changes(doc, cpu=None, vcpu=None, memory=None):
    """``{'CPU': (old, new), ...}`` for the capacity values that differ."""
    tmpl = _template(doc)
    out = {}
    if cpu is not None and _float(tmpl.get('CPU')) != float(cpu):
        out['CPU'] = (_float(tmpl.get('CPU')), float(cpu))
    if vcpu is not None and _int(tmpl.get('VCPU')) != int(vcpu):
        out['VCPU'] = (_int(tmpl.get('VCPU')), int(vcpu))
    if memory is not None and _int(tmpl.get('MEMORY')) != int(memory):
        out['MEMORY'] = (_int(tmpl.get('MEMORY')), int(memory))
    return out


def format_number(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def context_changes(doc, context):
    """Desired CONTEXT keys whose values differ (``{KEY: value}``)."""
    if not context:
        return {}
    have = _template(doc).get('CONTEXT')
    have = one_template.normalize_vector(have) if isinstance(have, dict) else {}
    want = one_template.normalize_vector(context)
    return {k: v for k, v in want.items() if have.get(k) != v}


def user_template_changes(doc, labels=None, attributes=None):
    """``{NAME: value}`` to merge into USER_TEMPLATE (LABELS made the union with the desired labels)."""
    out = {}
    if attributes:
        user = _user_template(doc)
        for name in one_template.subset_differences(attributes, user):
            out[name] = one_template.normalize(attributes)[name]
    if labels:
        have = vm_labels(doc)
        missing = [x for x in labels if x not in have]
        if missing:
            out['LABELS'] = ','.join(have + missing)
    return out


class Op:
    """One operation on one VM: an oned action, or a change (update, resize, attach, detach, context)."""

    __slots__ = ('arg', 'kind', 'place', 'what')

    def __init__(self, kind, arg, place, what):
        self.kind = kind      # 'action' | 'settle' | 'update' | 'resize' | 'attach' | 'detach' | 'context'
        self.arg = arg
        self.place = place    # resting place expected once the operation is done
        self.what = what

    def __repr__(self):
        return f'Op({self.kind}, {self.what!r}, -> {self.place})'


def plan_vm(doc, target, changes, hard=False, allow_restart=False, reboot=False):
    """Ordered operations for one existing VM.

    ``changes`` maps a change kind (update, detach, attach, context, resize) to
    ``(arg, what)`` items (a list for attach/detach). Raises VmPlanError when
    the VM is in a failure state or needs a power cycle that is not allowed.
    """
    label = f'VM {doc.get("NAME")!r} (ID {doc.get("ID")})'
    place, transient = classify_doc(doc)
    ops = []
    if transient and place != PENDING:
        ops.append(Op('settle', None, place, f'wait for {label} to leave {state_text(doc)}'))
    if place == FAILURE and target != ABSENT:
        raise VmPlanError(failure_text(doc) + '; recover it (onevm recover) or set state=absent to remove it')
    if target == ABSENT:
        action = next_action(place, ABSENT, hard)
        if action:
            ops.append(Op('action', action, ABSENT, f'{action} {label}'))
        return ops
    steps = route(place, target, hard)
    restart = False
    resize = changes.get('resize')
    if resize:
        places = [place] + [p for _a, p in steps]
        ok = set(CHANGE_STATES['resize'])
        if resize[2]:  # hot resize possible
            ok.add(RUNNING)
        if not any(p in ok for p in places):
            if not allow_restart:
                raise VmPlanError(f'{label} is {state_text(doc)}: {resize[1]} needs a power cycle (oned resizes a running VM in place only '
                                  'with HOT_RESIZE enabled and within VCPU_MAX/MEMORY_MAX); set allow_restart=true to power it off '
                                  'and on again, or use state=poweredoff')
            steps = route(place, POWEROFF, hard) + route(POWEROFF, target, hard)
            restart = True
    places = [place] + [p for _a, p in steps]
    slots = {}
    for kind in CHANGE_ORDER:
        if not changes.get(kind):
            continue
        allowed = CHANGE_STATES[kind]
        if kind == 'resize':
            allowed = set(allowed) | ({RUNNING} if changes['resize'][2] else set())
        index = 0 if allowed is None else next((i for i, p in enumerate(places) if p in allowed), None)
        if index is None:
            if not allow_restart:
                raise VmPlanError(f'{label} is {state_text(doc)}: changing its NICs or CONTEXT needs it running or powered off; '
                                  'set allow_restart=true to resume it for the change')
            return _detour(label, place, target, changes, hard, ops)
        slots.setdefault(index, []).append(kind)
    for i, p in enumerate(places):
        for kind in slots.get(i, ()):
            _add_change(ops, kind, changes[kind], p)
        if i < len(steps):
            action, after = steps[i]
            ops.append(Op('action', action, after, f'{action} {label}' if action != 'wait' else f'wait for {label} to be RUNNING'))
    if reboot and not restart and place in (RUNNING, UNKNOWN):
        action = 'reboot-hard' if hard else 'reboot'
        ops.append(Op('action', action, RUNNING, f'{action} {label}'))
    return ops


def _detour(label, place, target, changes, hard, ops):
    """Changes that need a running VM while the route never runs it (suspended -> suspended)."""
    steps = route(place, RUNNING, hard) + route(RUNNING, target, hard)
    places = [place] + [p for _a, p in steps]
    running_at = places.index(RUNNING)
    for i, p in enumerate(places):
        if i == running_at:
            for kind in CHANGE_ORDER:
                if changes.get(kind):
                    _add_change(ops, kind, changes[kind], p)
        if i < len(steps):
            action, after = steps[i]
            ops.append(Op('action', action, after, f'{action} {label}'))
    return ops


def _add_change(ops, kind, change, place):
    if kind in ('attach', 'detach'):
        for arg, what in change:
            ops.append(Op(kind, arg, place, what))
    elif kind == 'resize':
        ops.append(Op(kind, change[0], place, change[1]))
    else:
        ops.append(Op(kind, change[0], place, change[1]))


def is_change(op):
    return op.kind not in ('settle',) and not (op.kind == 'action' and op.arg == 'wait')


# --------------------------------------------------------------------------
# predictions (check mode)
# --------------------------------------------------------------------------
PLACE_STATES = {
    RUNNING: ('ACTIVE', 'RUNNING'), POWEROFF: ('POWEROFF', 'LCM_INIT'), SUSPENDED: ('SUSPENDED', 'LCM_INIT'),
    STOPPED: ('STOPPED', 'LCM_INIT'), UNDEPLOYED: ('UNDEPLOYED', 'LCM_INIT'), ABSENT: ('DONE', 'LCM_INIT'),
    PENDING: ('PENDING', 'LCM_INIT'), HOLD: ('HOLD', 'LCM_INIT'),
}


def predict(described, place, cpu=None, vcpu=None, memory=None, labels=None):
    """A described VM as it will be after the plan (check mode result)."""
    out = dict(described)
    if place in PLACE_STATES:
        state, lcm = PLACE_STATES[place]
        out.update({'state': state, 'lcm_state': lcm, 'state_name': lcm if state == 'ACTIVE' else state,
                    'status': place, 'transient': False,
                    'state_code': VM_STATE.code(state), 'lcm_state_code': LCM_STATE.code(lcm)})
    if cpu is not None:
        out['cpu'] = float(cpu)
    if vcpu is not None:
        out['vcpu'] = int(vcpu)
    if memory is not None:
        out['memory'] = int(memory)
    if labels:
        out['labels'] = list(out.get('labels') or []) + [x for x in labels if x not in (out.get('labels') or [])]
    return out


def diff_view(described, attributes=None, context_doc=None, context=None):
    """The part of a VM a diff shows."""
    view = {
        'state': described.get('status'),
        'cpu': described.get('cpu'),
        'vcpu': described.get('vcpu'),
        'memory': described.get('memory'),
        'labels': described.get('labels') or [],
        'nics': [nic_label({'NETWORK': n.get('network'), 'NETWORK_ID': n.get('network_id'), 'IP': n.get('ip'), 'IP6': n.get('ip6')})
                 for n in described.get('nics') or []],
    }
    if attributes:
        have = described.get('attributes') or {}
        view['attributes'] = {k: have.get(k) for k in one_template.normalize(attributes)}
    if context:
        have = (context_doc or {})
        view['context'] = {k: have.get(k) for k in one_template.normalize_vector(context)}
    return view


def vm_context(doc):
    ctx = _template(doc).get('CONTEXT')
    return one_template.normalize_vector(ctx) if isinstance(ctx, dict) else {}


# --------------------------------------------------------------------------
# the lifecycle of a set of VMs (one_vm)
# --------------------------------------------------------------------------
class _Track:
    __slots__ = ('doc', 'error0', 'label', 'ops', 'polls', 'seen_transient', 'vid', 'waiting')

    def __init__(self, vid, label, ops, doc=None):
        self.vid = vid
        self.label = label
        self.ops = list(ops)
        self.waiting = None
        self.seen_transient = False
        self.polls = 0
        self.doc = doc
        self.error0 = _nonempty(_user_template(doc).get('ERROR')) if doc else None


class VmLifecycle:
    """Desired set of VMs -> plan -> (check mode stops) -> operations run in parallel with batched polls.

    ``mod`` is a :class:`OneModule` (``one``, ``params``, ``fail``, ``warn``, ``check_mode``).
    Reading costs one ``one.vmpool.infoextended`` call; waiting costs one
    ``one.vmpool.infoset`` call per poll round, whatever the number of VMs.
    """

    POLL_MIN = 0.05
    POLL_MAX = 1.0

    def __init__(self, mod, to_data, sleep, clock, connect_port=None):
        self.mod = mod
        self.p = mod.params
        self.to_data = to_data
        self.sleep = sleep
        self.clock = clock
        self.connect_port = connect_port
        self.deadline = None
        self.docs = {}
        self.created_ids = []
        self.removed_ids = []

    def fail(self, msg, **kwargs):
        kwargs.setdefault('xmlrpc_calls', self.mod.calls)
        self.mod.fail(msg, **kwargs)

    # -- reading ------------------------------------------------------------
    def read_pool(self):
        pool = self.mod.one.vmpool.infoextended(-2, -1, -1, -1)
        return [self.to_data(v) for v in one_template.as_list(getattr(pool, 'VM', None))]

    def poll(self, ids):
        """Fresh documents of ``ids`` in one call (``{id: doc}``; gone VMs are missing)."""
        ids = sorted(set(int(i) for i in ids))
        if not ids:
            return {}
        try:
            pool = self.mod.one.vmpool.infoset(','.join(str(i) for i in ids), True)
            docs = [self.to_data(v) for v in one_template.as_list(getattr(pool, 'VM', None))]
        except OneError as exc:
            if exc.kind != 'PROTOCOL':
                raise
            docs = self.read_pool()  # an oned without one.vmpool.infoset
        return {int(d['ID']): d for d in docs if int(d['ID']) in ids}

    # -- selection ----------------------------------------------------------
    def is_set(self):
        p = self.p
        return p.get('count') is not None or p.get('exact_count') is not None or '%i' in (p.get('name') or '') or not p.get('name')

    def select(self, docs):
        p = self.p
        if p.get('id') is not None:
            return [d for d in docs if int(d['ID']) == p['id']]
        out = docs
        if p.get('name'):
            regex = name_regex(p['name'])
            out = [d for d in out if regex.match(d.get('NAME') or '')]
        if p.get('labels') and (self.is_set() or p.get('state') == 'absent'):
            out = [d for d in out if all(x in vm_labels(d) for x in p['labels'])]
        if p.get('state') == 'absent' and p.get('attributes'):
            out = [d for d in out if not one_template.subset_differences(p['attributes'], _user_template(d))]
        return sorted(out, key=lambda d: int(d['ID']))

    # -- desired values -------------------------------------------------------
    def memory(self):
        return size_mb(self.p.get('memory'))

    def wanted_nics(self):
        if self.p.get('networks') is None:
            return None
        return [desired_nic(n) for n in self.p['networks']]

    def changes_for(self, doc):
        p = self.p
        changes = {}
        upd = user_template_changes(doc, p.get('labels'), p.get('attributes'))
        if upd:
            changes['update'] = (one_template.render(upd), 'update {} of VM {!r} (ID {})'.format(', '.join(sorted(upd)), doc.get('NAME'), doc['ID']))
        cap = capacity_changes(doc, p.get('cpu'), p.get('vcpu'), self.memory())
        if cap:
            text = ''.join(f'{k}="{format_number(new)}"\n' for k, (_old, new) in sorted(cap.items()))
            what = 'resize VM {!r} (ID {}): {}'.format(doc.get('NAME'), doc['ID'], ', '.join(
                f'{k} {format_number(old)} -> {format_number(new)}' for k, (old, new) in sorted(cap.items())))
            changes['resize'] = (text, what, hot_resize_ok(doc, {k: new for k, (_o, new) in cap.items()}))
        wanted = self.wanted_nics()
        if wanted is not None:
            attach, detach = match_nics(wanted, vm_nics(doc))
            if detach:
                changes['detach'] = [(int(n['NIC_ID']), 'detach NIC {} {} from VM {!r} (ID {})'.format(
                    n.get('NIC_ID'), nic_label(n), doc.get('NAME'), doc['ID'])) for n in detach]
            if attach:
                changes['attach'] = [(one_template.render({'NIC': n}), 'attach NIC {} to VM {!r} (ID {})'.format(nic_label(n), doc.get('NAME'), doc['ID']))
                                     for n in attach]
        ctx = context_changes(doc, p.get('context'))
        if ctx:
            changes['context'] = (one_template.render({'CONTEXT': ctx}), 'update CONTEXT {} of VM {!r} (ID {})'.format(
                ', '.join(sorted(ctx)), doc.get('NAME'), doc['ID']))
        if p.get('disk_size'):
            disks = [d for d in one_template.as_list(_template(doc).get('DISK')) if isinstance(d, dict)]
            for i, size in enumerate(p['disk_size']):
                if i < len(disks) and _int(disks[i].get('SIZE')) != size_mb(size):
                    self.mod.warn('disk_size is applied when a VM is created; disk {} of VM {!r} (ID {}) is {} MB, not {} MB'.format(
                        i, doc.get('NAME'), doc['ID'], disks[i].get('SIZE'), size_mb(size)))
        return changes

    # -- creation -------------------------------------------------------------
    def template_ref(self):
        """``(template ID, template body or None)``; reads the template pool only when needed."""
        ref = self.p.get('template')
        if ref is None or str(ref).strip() == '':
            self.fail('template is required to create VMs (name or ID of a VM template)')
        text = str(ref).strip()
        need_body = bool(self.p.get('disk_size') or self.p.get('context'))
        if text.isdigit() and not need_body:
            return int(text), None
        pool = self.mod.one.templatepool.info(-2, -1, -1)
        docs = [self.to_data(t) for t in one_template.as_list(getattr(pool, 'VMTEMPLATE', None))]
        if text.isdigit():
            matches = [d for d in docs if int(d['ID']) == int(text)]
        else:
            matches = [d for d in docs if d.get('NAME') == text]
        if not matches:
            self.fail(f'VM template {text!r} does not exist (or is not visible to this user)')
        if len(matches) > 1:
            self.fail('{} VM templates are named {!r} (IDs {}); give the template by ID'.format(
                len(matches), text, ', '.join(str(m['ID']) for m in matches)))
        return int(matches[0]['ID']), matches[0].get('TEMPLATE') or {}

    def extra_template(self, body):
        p = self.p
        extra = {}
        if p.get('cpu') is not None:
            extra['CPU'] = format_number(float(p['cpu']))
        if p.get('vcpu') is not None:
            extra['VCPU'] = str(int(p['vcpu']))
        if p.get('memory') is not None:
            extra['MEMORY'] = str(self.memory())
        nics = self.wanted_nics()
        if nics:
            extra['NIC'] = nics
        if p.get('disk_size'):
            disks = one_template.vectors(body, 'DISK')
            if len(p['disk_size']) > len(disks):
                self.fail('disk_size has {} sizes but the template has {} disks'.format(len(p['disk_size']), len(disks)))
            for i, size in enumerate(p['disk_size']):
                disks[i]['SIZE'] = str(size_mb(size))
            extra['DISK'] = disks
        if p.get('context'):
            base = one_template.vectors(body, 'CONTEXT')
            ctx = dict(base[0]) if base else {}
            ctx.update(one_template.normalize_vector(p['context']))
            extra['CONTEXT'] = ctx
        if p.get('attributes'):
            extra.update(one_template.normalize(p['attributes']))
        if p.get('labels'):
            extra['LABELS'] = ','.join(p['labels'])
        return one_template.render(extra)

    # -- the run --------------------------------------------------------------
    def run(self):
        p = self.p
        state = p['state']
        target = RUNNING if state in ('present', 'running', 'rebooted') else state
        reboot = state == 'rebooted'
        if p.get('id') is None and not p.get('name') and not p.get('labels') and not p.get('attributes'):
            self.fail('select the VMs with name (a %i pattern for a set), id, labels or attributes')
        docs = self.read_pool()
        members = self.select(docs)
        if p.get('id') is not None and not members and state != 'absent':
            self.fail(f'VM with ID {p["id"]} does not exist')

        keep, remove = list(members), []
        want = None
        if state == 'absent':
            keep, remove = [], list(members)
        elif p.get('id') is None:
            want = p['exact_count'] if p.get('exact_count') is not None else (p['count'] if p.get('count') is not None else 1)
            if p.get('exact_count') is not None and len(members) > want:
                pattern = p.get('name') or ''

                def rank(doc):
                    failed = classify_doc(doc)[0] == FAILURE
                    return (0 if failed else 1, -(name_index(pattern, doc.get('NAME')) or 0), -int(doc['ID']))
                ordered = sorted(members, key=rank)
                remove = ordered[:len(members) - want]
                keep = [d for d in members if d not in remove]
        n_create = max(0, (want or 0) - len(keep)) if want is not None else 0
        if n_create and not p.get('name'):
            self.fail('name is required to create VMs (a %i pattern like client-%i names a set)')

        # plan
        tracks, actions, errors = [], [], []
        before, after = {}, {}
        results = {}
        for doc in remove:
            try:
                ops = plan_vm(doc, ABSENT, {}, hard=p['hard'])
            except VmPlanError as exc:
                errors.append(str(exc))
                continue
            key = f'{doc.get("NAME")} (ID {doc["ID"]})'
            before[key] = diff_view(describe_vm(doc))
            after[key] = {'state': ABSENT}
            tracks.append(_Track(int(doc['ID']), key, ops, doc))
        for doc in keep:
            described = describe_vm(doc)
            try:
                changes = self.changes_for(doc)
                ops = plan_vm(doc, target, changes, hard=p['hard'], allow_restart=p['allow_restart'], reboot=reboot)
            except VmPlanError as exc:
                errors.append(str(exc))
                continue
            key = f'{doc.get("NAME")} (ID {doc["ID"]})'
            predicted = predict(described, target, p.get('cpu'), p.get('vcpu'), self.memory(), p.get('labels'))
            if p.get('networks') is not None and any(o.kind in ('attach', 'detach') for o in ops):
                predicted['nics'] = [{'network': n.get('NETWORK'), 'network_id': _int(n.get('NETWORK_ID')), 'ip': n.get('IP'), 'ip6': n.get('IP6')}
                                     for n in self.wanted_nics()]
            results[int(doc['ID'])] = (described, predicted)
            if any(is_change(o) for o in ops):
                ctx_doc = vm_context(doc)
                before[key] = diff_view(described, p.get('attributes'), ctx_doc, p.get('context'))
                pred_attrs = dict(described.get('attributes') or {})
                pred_attrs.update(one_template.normalize(p.get('attributes') or {}))
                ctx_after = dict(ctx_doc)
                ctx_after.update(one_template.normalize_vector(p.get('context') or {}))
                after[key] = diff_view(dict(predicted, attributes=pred_attrs), p.get('attributes'), ctx_after, p.get('context'))
                if reboot:
                    after[key]['rebooted'] = True
            if ops:
                tracks.append(_Track(int(doc['ID']), key, ops, doc))
        if errors:
            self.fail('; '.join(errors), vms=[describe_vm(d) for d in members])

        new_names = []
        if n_create:
            pattern = p['name']
            if '%i' in pattern:
                used = [d.get('NAME') for d in docs if name_regex(pattern).match(d.get('NAME') or '')]
                new_names = [fill_name(pattern, i) for i in free_indexes(pattern, used, n_create)]
            else:
                new_names = [pattern] * n_create
        template_id = None
        extra = ''
        if new_names:
            template_id, body = self.template_ref()
            extra = self.extra_template(body or {})
            for i, name in enumerate(new_names):
                key = f'{name} (new {i + 1})' if len(new_names) > 1 else f'{name} (new)'
                after[key] = {'state': target, 'template_id': template_id, 'cpu': p.get('cpu'), 'vcpu': p.get('vcpu'),
                              'memory': self.memory(), 'labels': p.get('labels') or [],
                              'nics': [nic_label(n) for n in (self.wanted_nics() or [])]}
                if p.get('attributes'):
                    after[key]['attributes'] = one_template.normalize(p['attributes'])

        for track in tracks:
            actions.extend(o.what for o in track.ops if is_change(o))
        actions.extend(f'instantiate template {template_id} as {name!r}' for name in new_names)
        changed = bool(new_names) or any(is_change(o) for t in tracks for o in t.ops)
        result = {'changed': changed, 'actions': actions}
        if changed and self.mod.module._diff:
            result['diff'] = {'before': before, 'after': after}

        if self.mod.check_mode:
            vms = [pred for _d, pred in results.values()]
            for name in new_names:
                vms.append(predict({'id': None, 'name': name, 'template_id': template_id, 'labels': [], 'nics': [], 'ipv4': [], 'ipv6': [],
                                    'first_ip': None, 'host': None, 'attributes': one_template.normalize(p.get('attributes') or {})},
                                   target, p.get('cpu'), p.get('vcpu'), self.memory(), p.get('labels')))
            return self.finish(result, sorted(vms, key=lambda v: (v['id'] is None, v['id'] or 0)), [int(d['ID']) for d in remove], [])

        self.deadline = self.clock() + float(p.get('wait_timeout') or 0)
        # create
        for name in new_names:
            try:
                vid = int(self.mod.one.template.instantiate(template_id, name, False, extra, False))
            except OneError as exc:
                self.fail_run(f'cannot create VM {name!r}: {exc}', tracks, error={'kind': exc.kind, 'code': exc.code, 'message': exc.detail})
            self.created_ids.append(vid)
            ops = [Op('action', a, after_place,
                      f'wait for VM {name!r} (ID {vid}) to be {after_place.upper()}' if a == 'wait' else f'{a} VM {name!r} (ID {vid})')
                   for a, after_place in route(PENDING, target, p['hard'])]
            tracks.append(_Track(vid, f'{name} (ID {vid})', ops))
        if not p.get('wait'):
            # intermediate steps still wait (oned refuses an action in a transient state); the last one does not
            for track in tracks:
                if track.ops:
                    last = track.ops[-1]
                    if last.kind == 'settle' or (last.kind == 'action' and last.arg == 'wait'):
                        track.ops.pop()
                    else:
                        track.ops[-1] = Op(last.kind, last.arg, None, last.what)
        self.execute(tracks)
        self.removed_ids = [int(d['ID']) for d in remove]

        final_ids = [int(d['ID']) for d in keep] + self.created_ids
        touched = {t.vid for t in tracks}
        fresh = self.poll([i for i in final_ids if i in touched]) if touched & set(final_ids) else {}
        by_id = {int(d['ID']): d for d in keep}
        by_id.update(fresh)
        vms = [describe_vm(by_id[i]) for i in sorted(final_ids) if i in by_id]
        if p.get('wait') and p.get('wait_for_ssh') and target == RUNNING:
            self.wait_ssh(vms)
        return self.finish(result, vms, self.removed_ids, self.created_ids)

    def finish(self, result, vms, removed, created):
        result['vms'] = vms
        result['removed_ids'] = removed
        result['created_ids'] = created
        if self.p.get('id') is not None or (self.p.get('name') and not self.is_set()):
            result['vm'] = vms[0] if len(vms) == 1 else None
        return result

    # -- executing ------------------------------------------------------------
    def issue(self, track, op):
        one = self.mod.one
        vid = track.vid
        if op.kind == 'action' and op.arg != 'wait':
            one.vm.action(op.arg, vid)
        elif op.kind == 'update':
            one.vm.update(vid, op.arg, 1)
        elif op.kind == 'resize':
            one.vm.resize(vid, op.arg, False)
        elif op.kind == 'attach':
            one.vm.attachnic(vid, op.arg)
        elif op.kind == 'detach':
            one.vm.detachnic(vid, op.arg)
        elif op.kind == 'context':
            one.vm.updateconf(vid, op.arg, 1)
        track.seen_transient = False
        track.polls = 0
        if op.place is None or op.kind == 'update' or (op.kind != 'action' and op.kind != 'settle' and op.place in (PENDING, HOLD)):
            track.waiting = None
        else:
            track.waiting = op

    def execute(self, tracks):
        delay = self.POLL_MIN
        while True:
            for track in tracks:
                while track.waiting is None and track.ops:
                    op = track.ops.pop(0)
                    try:
                        self.issue(track, op)
                    except OneError as exc:
                        self.fail_run(f'{op.what}: {exc}', tracks, error={'kind': exc.kind, 'code': exc.code, 'message': exc.detail})
            active = [t for t in tracks if t.waiting is not None]
            if not active:
                return
            docs = self.poll([t.vid for t in active])
            failures = []
            for track in active:
                doc = docs.get(track.vid)
                if doc is not None:
                    track.doc = doc
                track.polls += 1
                op = track.waiting
                place, transient = classify_doc(doc)
                if place == FAILURE and op.place != ABSENT:
                    failures.append(failure_text(doc))
                elif place == op.place and not transient:
                    track.waiting = None
                elif transient or (op.place == RUNNING and place == PENDING):
                    track.seen_transient = True
                elif track.seen_transient or track.polls > 3:
                    error = _nonempty(_user_template(doc).get('ERROR')) if doc else None
                    text = f'{op.what} did not complete: the VM is {state_text(doc)}'
                    if error and error != track.error0:
                        text += f': {error}'
                    failures.append(text)
            if failures:
                self.fail_run('; '.join(failures), tracks)
            if self.clock() >= self.deadline:
                lines = []
                for track in active:
                    doc = track.doc
                    line = f'{track.waiting.what}: last seen {state_text(doc)}'
                    sched = _nonempty(_user_template(doc).get('SCHED_MESSAGE')) if doc else None
                    if sched:
                        line += f' (scheduler: {sched})'
                    lines.append(line)
                self.fail_run('timed out after {}s; {}'.format(self.p.get('wait_timeout'), '; '.join(lines)), tracks,
                              last_seen={t.vid: state_text(t.doc) for t in active})
            progressed = any(t.waiting is None for t in active)
            delay = self.POLL_MIN if progressed else min(delay * 1.6, self.POLL_MAX)
            self.sleep(max(0.0, min(delay, self.deadline - self.clock())))

    def fail_run(self, msg, tracks, **extra):
        vms = [describe_vm(t.doc) for t in tracks if t.doc is not None]
        self.fail(msg, vms=vms, created_ids=self.created_ids, **extra)

    def wait_ssh(self, vms):
        port = int(self.p.get('ssh_port') or 22)
        waiting = {v['id']: v for v in vms}
        for vid, vm in list(waiting.items()):
            if not vm.get('first_ip'):
                self.fail(f'VM {vm["name"]!r} (ID {vid}) has no IP address to wait for SSH on', vms=vms, created_ids=self.created_ids)
        while waiting:
            for vid, vm in list(waiting.items()):
                if self.connect_port(vm['first_ip'], port, 1.0):
                    del waiting[vid]
            if not waiting:
                return
            if self.clock() >= self.deadline:
                self.fail('timed out after {}s waiting for SSH port {} on: {}'.format(
                    self.p.get('wait_timeout'), port, ', '.join(f'{v["name"]} ({v["first_ip"]})' for v in waiting.values())),
                    vms=vms, created_ids=self.created_ids)
            self.sleep(0.5)


def tcp_port_open(host, port, timeout):
    """Whether a TCP connection to host:port succeeds within timeout seconds."""
    import socket  # pylint: disable=import-outside-toplevel
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
