# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base classes of the nebulavoip.cloud OpenNebula modules.

One lifecycle for every resource (netbox.netbox / community.docker style):

1. read the current object (one pool call: a no-op run costs one XML-RPC call,
   two when a cluster is named);
2. compute the differences once, as a :class:`Plan` of steps -- each step
   knows its before/after values and the XML-RPC call that makes it true;
3. check mode stops here; otherwise the steps run in order;
4. ``changed``, ``diff`` and the predicted result all come from the plan, so a
   check run reports exactly what the real run then does.

Modules subclass :class:`OneResourceModule` (arg spec + desired state +
``plan_create``/``plan_update``) or :class:`OneInfoModule`.
"""

import re
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_template
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_states import HOST_STATE, IMAGE_STATE, IMAGE_TYPE, VNET_STATE
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_template import TemplateError
from ansible_collections.nebulavoip.cloud.plugins.module_utils.opennebula import (
    HAS_PYONE,
    PYONE_IMPORT_ERROR,
    OneError,
    connect_from_params,
    one_argument_spec,
    to_data,
)


# --------------------------------------------------------------------------
# pyone bindings -> plain data
# --------------------------------------------------------------------------
def as_list(value):
    return one_template.as_list(value)


def ids_of(container):
    """IDs of an ``<X><ID>..</ID></X>`` collection (VMS, CLUSTERS ...)."""
    if not container:
        return []
    return [int(i) for i in as_list(container.get('ID'))]


# --------------------------------------------------------------------------
# permissions
# --------------------------------------------------------------------------
_PERM_KEYS = ('OWNER_U', 'OWNER_M', 'OWNER_A', 'GROUP_U', 'GROUP_M', 'GROUP_A', 'OTHER_U', 'OTHER_M', 'OTHER_A')


def perms_to_octal(perms):
    """``PERMISSIONS`` element -> ``'0640'`` style string (u=4, m=2, a=1)."""
    if not perms:
        return None
    digits = []
    for who in ('OWNER', 'GROUP', 'OTHER'):
        digits.append(str(4 * int(perms.get(who + '_U', 0)) + 2 * int(perms.get(who + '_M', 0))
                          + int(perms.get(who + '_A', 0))))
    return '0' + ''.join(digits)


def octal_to_chmod_args(mode):
    """``'640'``/``'0640'`` -> the nine 0/1 arguments of ``one.*.chmod``."""
    text = str(mode).strip()
    if text.startswith('0o'):
        text = text[2:]
    if len(text) == 4 and text[0] == '0':
        text = text[1:]
    if not re.match(r'^[0-7]{3}$', text):
        raise ValueError(f'permissions must be three octal digits like "0640" (use=4, manage=2, admin=1), got {mode!r}')
    args = []
    for digit in text:
        d = int(digit)
        args.extend([(d >> 2) & 1, (d >> 1) & 1, d & 1])
    return args


def normalize_octal(mode):
    return '0' + ''.join(str(4 * a + 2 * b + c) for a, b, c in zip(*[iter(octal_to_chmod_args(mode))] * 3))


# --------------------------------------------------------------------------
# the plan
# --------------------------------------------------------------------------
class Step:
    __slots__ = ('action', 'after', 'before', 'key', 'what')

    def __init__(self, key, before, after, action, what):
        self.key = key
        self.before = before
        self.after = after
        self.action = action
        self.what = what


class Plan:
    """Differences computed once; check mode and diff fall out of it."""

    def __init__(self):
        self.steps = []
        self.before = {}
        self.after = {}

    def add(self, key, before, after, action, what=None):
        self.steps.append(Step(key, before, after, action, what or key))
        if key is not None:
            self.before.setdefault(key, before)
            self.after[key] = after

    def do(self, action, what):
        """A step with no diff entry of its own (the diff was recorded with add(key, ..., None))."""
        self.steps.append(Step(None, None, None, action, what))

    def __bool__(self):
        return bool(self.steps)

    __nonzero__ = __bool__

    @property
    def actions(self):
        return [s.what for s in self.steps]

    def apply(self):
        for step in self.steps:
            if step.action is not None:
                step.action()


# --------------------------------------------------------------------------
# module base
# --------------------------------------------------------------------------
class OneModule:
    """AnsibleModule + client + error mapping + wait_for."""

    def __init__(self, argument_spec, **kwargs):
        spec = one_argument_spec()
        spec.update(argument_spec)
        kwargs.setdefault('supports_check_mode', True)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self._one = None
        self._cache = {}

    # -- client -----------------------------------------------------------
    @property
    def one(self):
        if self._one is None:
            self._one = connect_from_params(self.params)
        return self._one

    @property
    def calls(self):
        return self._one.calls if self._one is not None else 0

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **kwargs)

    def warn(self, msg):
        self.module.warn(msg)

    def execute(self):
        """Run the module: every OneError / TemplateError becomes one clear msg."""
        if not HAS_PYONE:
            self.fail(missing_required_lib('pyone'), exception=PYONE_IMPORT_ERROR)
        failure = None
        try:
            result = self.run()
        except OneError as exc:
            failure = {'msg': str(exc), 'error': {'kind': exc.kind, 'code': exc.code, 'method': exc.method,
                                                  'message': exc.detail}}
        except (TemplateError, ValueError) as exc:
            failure = {'msg': str(exc)}
        if failure is not None:
            # outside the except block: a mapped error is one clear msg, not a traceback
            self.module.fail_json(xmlrpc_calls=self.calls, **failure)
        result.setdefault('xmlrpc_calls', self.calls)
        self.module.exit_json(**result)

    def run(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- waiting ----------------------------------------------------------
    def wait_for(self, fetch, done, failed=None, what='the object', timeout=None):
        """Poll ``fetch()`` until ``done(obj)``; ``failed(obj)`` returns an error text to stop with.

        Returns the last object. Fails the module on timeout with the last state seen.
        """
        timeout = self.params.get('wait_timeout') if timeout is None else timeout
        deadline = time.time() + float(timeout or 0)
        delay = 0.05
        while True:
            obj = fetch()
            if failed is not None:
                error = failed(obj)
                if error:
                    self.fail(error, **{'object': obj} if isinstance(obj, dict) else {})
            if done(obj):
                return obj
            if time.time() >= deadline:
                self.fail(f'timed out after {timeout}s waiting for {what}', last_seen=obj)
            time.sleep(min(delay, max(0.0, deadline - time.time())))
            delay = min(delay * 2, 1.0)

    # -- lookups (cached; only called when a name must become an ID) -------
    def pool(self, pool_name, element, *args):
        key = (pool_name, args)
        if key not in self._cache:
            method = getattr(self.one, pool_name).info
            self._cache[key] = [to_data(o) for o in as_list(getattr(method(*args), element, None))]
        return self._cache[key]

    def resolve(self, kind, ref):
        """ID of a cluster/datastore/user/group given by name or ID."""
        pools = {
            'cluster': ('clusterpool', 'CLUSTER', ()),
            'datastore': ('datastorepool', 'DATASTORE', ()),
            'user': ('userpool', 'USER', ()),
            'group': ('grouppool', 'GROUP', ()),
        }
        if ref is None:
            return None
        text = str(ref).strip()
        if re.match(r'^-?\d+$', text):
            return int(text)
        pool_name, element, args = pools[kind]
        matches = [o for o in self.pool(pool_name, element, *args) if o.get('NAME') == text]
        if not matches:
            self.fail(f'{kind} {text!r} does not exist')
        return int(matches[0]['ID'])


class OneResourceModule(OneModule):
    """Lifecycle of one named OpenNebula object: present / absent (+ module-specific states)."""

    #: result key, e.g. ``vnet``
    RESOURCE = None
    #: human kind for messages, e.g. ``virtual network``
    KIND = None
    #: pyone namespaces: pool (``vnpool``), object (``vn``), pool element (``VNET``)
    POOL = None
    API = None
    ELEMENT = None
    POOL_ARGS = (-2, -1, -1)
    #: whether the object has owner/group/permissions
    OWNED = True

    def __init__(self, argument_spec, **kwargs):
        spec = {
            'name': {'type': 'str'},
            'id': {'type': 'int'},
            'state': {'type': 'str', 'default': 'present', 'choices': list(self.STATES)},
        }
        if self.OWNED:
            spec.update({
                'permissions': {'type': 'str'},
                'owner': {'type': 'str'},
                'group': {'type': 'str'},
            })
        spec.update(argument_spec)
        kwargs.setdefault('required_one_of', [('name', 'id')])
        super().__init__(spec, **kwargs)

    STATES = ('present', 'absent')

    # -- reading ----------------------------------------------------------
    @property
    def api(self):
        return getattr(self.one, self.API)

    def info(self, oid):
        return to_data(self.api.info(int(oid)))

    def find(self):
        """The current object (plain dict) or None. One pool call."""
        pool = getattr(self.one, self.POOL).info(*self.POOL_ARGS)
        objects = [to_data(o) for o in as_list(getattr(pool, self.ELEMENT, None))]
        if self.params.get('id') is not None:
            for obj in objects:
                if int(obj['ID']) == self.params['id']:
                    return obj
            if self.params.get('name') is None or self.params['state'] == 'absent':
                return None
            self.fail(f'{self.KIND} with ID {self.params["id"]} does not exist')
        name = self.params['name']
        matches = [o for o in objects if o.get('NAME') == name]
        if len(matches) > 1:
            self.fail(f'{len(matches)} {self.KIND}s are named {name!r} (IDs {", ".join(str(m["ID"]) for m in matches)}); '
                      'select one with id')
        return matches[0] if matches else None

    # -- results ----------------------------------------------------------
    def describe(self, obj):
        """Structured dict of an object (override to add module-specific fields)."""
        return describe_common(obj)

    def label(self, obj):
        return f'{self.KIND} {obj.get("NAME")!r} (ID {obj.get("ID")})'

    # -- planning hooks -----------------------------------------------------
    def plan_create(self, plan, created):  # pragma: no cover - abstract
        """Add the create step; its action stores the new ID in ``created['id']``."""
        raise NotImplementedError

    def plan_update(self, plan, current):  # pragma: no cover - abstract
        raise NotImplementedError

    def plan_delete(self, plan, current):
        plan.add('state', 'present', 'absent', lambda: self.api.delete(int(current['ID'])), f'delete {self.label(current)}')

    def predicted(self, current, plan):
        """Best prediction of the object after the plan (check mode result)."""
        return self.describe(current) if current else None

    def after_apply(self, current, created_id):
        """Re-read (and wait) after changes; returns the final raw object."""
        oid = created_id if created_id is not None else current['ID']
        return self.info(oid)

    # -- owner / group / permissions (shared) ------------------------------
    def plan_ownership(self, plan, current, oid_fn):
        if not self.OWNED:
            return
        mode = self.params.get('permissions')
        if mode is not None:
            want = normalize_octal(mode)
            have = perms_to_octal(current.get('PERMISSIONS')) if current else None
            if want != have:
                plan.add('permissions', have, want,
                         lambda: self.api.chmod(oid_fn(), *octal_to_chmod_args(want)), f'chmod {want}')
        owner, group = self.params.get('owner'), self.params.get('group')
        uid = gid = -1
        before, after = {}, {}
        if owner is not None and not _same_ref(owner, current, 'UID', 'UNAME'):
            uid = self.resolve('user', owner)
            before['owner'], after['owner'] = (current or {}).get('UNAME'), owner
        if group is not None and not _same_ref(group, current, 'GID', 'GNAME'):
            gid = self.resolve('group', group)
            before['group'], after['group'] = (current or {}).get('GNAME'), group
        if uid != -1 or gid != -1:
            def chown(u=uid, g=gid):
                self.api.chown(oid_fn(), u, g)
            for key in after:
                plan.before.setdefault(key, before[key])
                plan.after[key] = after[key]
            plan.do(chown, 'chown')

    # -- the lifecycle ------------------------------------------------------
    def run(self):
        state = self.params['state']
        current = self.find()
        plan = Plan()
        created = {}
        if state == 'absent':
            if current is not None:
                self.check_delete(current)
                plan_before = self.describe(current)
                self.plan_delete(plan, current)
                plan.before, plan.after = plan_before, {}
        elif current is None:
            if not self.params.get('name'):
                self.fail(f'name is required to create a {self.KIND}')
            self.plan_create(plan, created)
            self.plan_ownership(plan, None, lambda: created['id'])
            plan.before = {}
        else:
            self.plan_update(plan, current)
            self.plan_ownership(plan, current, lambda: int(current['ID']))

        result = {'changed': bool(plan), 'actions': plan.actions}
        if plan and self.module._diff:
            name = self.params.get('name') or (current or {}).get('NAME')
            result['diff'] = {'before': plan.before, 'after': plan.after,
                              'before_header': f'{self.KIND} {name}', 'after_header': f'{self.KIND} {name}'}
        if self.check_mode or not plan:
            if state == 'absent':
                result[self.RESOURCE] = None
            elif current is None:
                result[self.RESOURCE] = self.predict_created()
            else:
                result[self.RESOURCE] = self.predict_updated(current, plan)
            if not plan and current is not None and state != 'absent':
                result[self.RESOURCE] = self.settle(current)
            return result
        plan.apply()
        if state == 'absent':
            self.wait_deleted(current)
            result[self.RESOURCE] = None
            return result
        final = self.after_apply(current, created.get('id'))
        result[self.RESOURCE] = self.describe(final)
        return result

    def check_delete(self, current):
        """Refuse a delete before planning it (override)."""

    def wait_deleted(self, current):
        """Wait until a deleted object is gone (when wait is set)."""
        if self.params.get('wait'):
            self.wait_gone(int(current['ID']))

    def wait_gone(self, oid):
        def fetch():
            try:
                return self.info(oid)
            except OneError as exc:
                if exc.is_not_found:
                    return None
                raise
        self.wait_for(fetch, lambda o: o is None, what=f'{self.KIND} {oid} to be deleted')

    def settle(self, current):
        """Result of a no-op run (override to wait on transient states)."""
        return self.describe(current)

    def predict_created(self):
        return None

    def predict_updated(self, current, plan):
        described = self.describe(current)
        for key, value in plan.after.items():
            if key in described and not isinstance(described[key], dict):
                described[key] = value
        return described


def _same_ref(ref, current, id_key, name_key):
    if not current:
        return False
    text = str(ref).strip()
    if re.match(r'^-?\d+$', text):
        return int(text) == int(current.get(id_key, -99))
    return text == current.get(name_key)


def describe_common(obj):
    out = {'id': int(obj['ID']), 'name': obj.get('NAME')}
    if 'UNAME' in obj:
        out.update({'uid': int(obj['UID']), 'gid': int(obj['GID']), 'owner': obj.get('UNAME'), 'group': obj.get('GNAME'),
                    'permissions': perms_to_octal(obj.get('PERMISSIONS'))})
    template = obj.get('TEMPLATE') or {}
    out['template'] = one_template.normalize(template)
    labels = out['template'].get('LABELS')
    out['labels'] = [x for x in labels.split(',') if x] if isinstance(labels, str) else []
    return out


# --------------------------------------------------------------------------
# _info modules
# --------------------------------------------------------------------------
class OneInfoModule(OneModule):
    """Select objects of a pool by ID, name, name regex or label."""

    POOL = None
    ELEMENT = None
    POOL_ARGS = (-2, -1, -1)
    RESULT = None

    def __init__(self, argument_spec=None, **kwargs):
        spec = {
            'ids': {'type': 'list', 'elements': 'int', 'aliases': ['id']},
            'name': {'type': 'str'},
            'name_regex': {'type': 'str'},
            'label': {'type': 'str'},
        }
        spec.update(argument_spec or {})
        kwargs.setdefault('mutually_exclusive', [('name', 'name_regex')])
        super().__init__(spec, **kwargs)

    def describe(self, obj):
        return describe_common(obj)

    def run(self):
        pool = getattr(self.one, self.POOL).info(*self.POOL_ARGS)
        objects = [to_data(o) for o in as_list(getattr(pool, self.ELEMENT, None))]
        ids = self.params.get('ids')
        name = self.params.get('name')
        regex = self.params.get('name_regex')
        label = self.params.get('label')
        try:
            pattern = re.compile(regex) if regex else None
        except re.error as exc:
            self.fail(f'invalid name_regex {regex!r}: {exc}')
        selected = []
        for obj in objects:
            if ids and int(obj['ID']) not in ids:
                continue
            if name is not None and obj.get('NAME') != name:
                continue
            if pattern is not None and not pattern.search(obj.get('NAME') or ''):
                continue
            described = self.describe(obj)
            if label is not None and label not in described.get('labels', []):
                continue
            selected.append(described)
        selected.sort(key=lambda o: o['id'])
        return {'changed': False, self.RESULT: selected}


# --------------------------------------------------------------------------
# structured results per resource (shared by the modules and the _info modules)
# --------------------------------------------------------------------------
def describe_ar(ar):
    out = {'ar_id': int(ar.get('AR_ID', -1))}
    for key, value in ar.items():
        if key in ('AR_ID', 'LEASES'):
            continue
        if key in ('SIZE', 'USED_LEASES'):
            try:
                value = int(value)
            except (TypeError, ValueError):
                pass
        out[key.lower()] = value
    return out


def describe_vnet(obj):
    out = describe_common(obj)
    out['state'] = VNET_STATE.name(obj.get('STATE', 0))
    out['vn_mad'] = obj.get('VN_MAD')
    out['bridge'] = obj.get('BRIDGE')
    out['clusters'] = ids_of(obj.get('CLUSTERS'))
    out['used_leases'] = int(obj.get('USED_LEASES') or 0)
    sgs = out['template'].get('SECURITY_GROUPS')
    out['security_groups'] = [int(x) for x in str(sgs).split(',') if x.strip()] if sgs else []
    out['ars'] = [describe_ar(ar) for ar in as_list((obj.get('AR_POOL') or {}).get('AR'))]
    return out


def describe_image(obj):
    out = describe_common(obj)
    out.update({
        'state': IMAGE_STATE.name(obj.get('STATE', 0)),
        'type': IMAGE_TYPE.name(obj.get('TYPE', 0)),
        'persistent': bool(int(obj.get('PERSISTENT') or 0)),
        'datastore': obj.get('DATASTORE'),
        'datastore_id': int(obj.get('DATASTORE_ID', -1)),
        'size': int(obj.get('SIZE') or 0),
        'path': obj.get('PATH'),
        'format': obj.get('FORMAT'),
        'running_vms': int(obj.get('RUNNING_VMS') or 0),
        'vms': ids_of(obj.get('VMS')),
    })
    return out


def host_status(state):
    state = int(state)
    if state in (4, 7):
        return 'disabled'
    if state == 8:
        return 'offline'
    return 'enabled'


def describe_host(obj):
    out = describe_common(obj)
    share = obj.get('HOST_SHARE') or {}
    out.update({
        'state': HOST_STATE.name(obj.get('STATE', 0)),
        'status': host_status(obj.get('STATE', 0)),
        'im_mad': obj.get('IM_MAD'),
        'vmm_mad': obj.get('VM_MAD'),
        'cluster': obj.get('CLUSTER'),
        'cluster_id': int(obj.get('CLUSTER_ID', -1)),
        'running_vms': int(share.get('RUNNING_VMS') or 0),
    })
    return out


def describe_template(obj):
    out = describe_common(obj)
    out['state'] = 'READY'
    return out
