# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenNebula 7.2 state tables.

Taken from the enumerations of oned 7.2 (VirtualMachine.h, Host.h, Image.h,
VirtualNetwork.h, Datastore.h) and the comments of the XSDs shipped with it
(host.xsd, image.xsd, datastore.xsd), cross-checked against recorded oned
answers. Codes oned no longer uses are kept, flagged as removed, so that an
old document still decodes to a name instead of crashing.
"""


class StateTable:
    """A code <-> name table for one state enumeration."""

    def __init__(self, kind, entries, *, removed=(), failures=None, transient=None, stable=None):
        self.kind = kind
        self._by_code = dict(entries)
        self._by_name = {name: code for code, name in entries}
        self.removed = frozenset(removed)
        self.failures = frozenset(failures or ())
        self.transient = frozenset(transient or ())
        self.stable = frozenset(stable if stable is not None else
                                (c for c in self._by_code if c not in self.transient and c not in self.removed))

    @property
    def codes(self):
        return sorted(self._by_code)

    def name(self, code):
        """Name of a code (int or numeric string); ``UNKNOWN_<code>`` for codes oned never had."""
        try:
            code = int(code)
        except (TypeError, ValueError):
            raise ValueError(f'{self.kind} state code must be an integer, got {code!r}') from None
        return self._by_code.get(code, 'UNKNOWN_%d' % code)

    def code(self, name):
        """Code of a state name (case-insensitive); ValueError for an unknown name."""
        key = str(name).strip().upper()
        if key not in self._by_name:
            raise ValueError('unknown {} state {!r}; known: {}'.format(self.kind, name, ', '.join(sorted(self._by_name))))
        return self._by_name[key]

    def is_removed(self, code):
        return int(code) in self.removed

    def is_failure(self, code):
        return int(code) in self.failures

    def is_transient(self, code):
        return int(code) in self.transient

    def is_stable(self, code):
        return int(code) in self.stable

    def __contains__(self, code):
        try:
            return int(code) in self._by_code
        except (TypeError, ValueError):
            return False

    def __len__(self):
        return len(self._by_code)


# --- Virtual machines: STATE (DispatchManager) -----------------------------
VM_STATE = StateTable('VM', [
    (0, 'INIT'),
    (1, 'PENDING'),
    (2, 'HOLD'),
    (3, 'ACTIVE'),
    (4, 'STOPPED'),
    (5, 'SUSPENDED'),
    (6, 'DONE'),
    (7, 'FAILED'),            # removed (OpenNebula 4.x); never sent by 7.2
    (8, 'POWEROFF'),
    (9, 'UNDEPLOYED'),
    (10, 'CLONING'),
    (11, 'CLONING_FAILURE'),
], removed=(7,), failures=(7, 11), transient=(0, 1, 3, 10))

# --- Virtual machines: LCM_STATE (LifeCycleManager), meaningful when ACTIVE -
_LCM = [
    (0, 'LCM_INIT'),
    (1, 'PROLOG'),
    (2, 'BOOT'),
    (3, 'RUNNING'),
    (4, 'MIGRATE'),
    (5, 'SAVE_STOP'),
    (6, 'SAVE_SUSPEND'),
    (7, 'SAVE_MIGRATE'),
    (8, 'PROLOG_MIGRATE'),
    (9, 'PROLOG_RESUME'),
    (10, 'EPILOG_STOP'),
    (11, 'EPILOG'),
    (12, 'SHUTDOWN'),
    (13, 'CANCEL'),                          # removed
    (14, 'FAILURE'),                         # removed
    (15, 'CLEANUP_RESUBMIT'),
    (16, 'UNKNOWN'),
    (17, 'HOTPLUG'),
    (18, 'SHUTDOWN_POWEROFF'),
    (19, 'BOOT_UNKNOWN'),
    (20, 'BOOT_POWEROFF'),
    (21, 'BOOT_SUSPENDED'),
    (22, 'BOOT_STOPPED'),
    (23, 'CLEANUP_DELETE'),
    (24, 'HOTPLUG_SNAPSHOT'),
    (25, 'HOTPLUG_NIC'),
    (26, 'HOTPLUG_SAVEAS'),
    (27, 'HOTPLUG_SAVEAS_POWEROFF'),
    (28, 'HOTPLUG_SAVEAS_SUSPENDED'),
    (29, 'SHUTDOWN_UNDEPLOY'),
    (30, 'EPILOG_UNDEPLOY'),
    (31, 'PROLOG_UNDEPLOY'),
    (32, 'BOOT_UNDEPLOY'),
    (33, 'HOTPLUG_PROLOG_POWEROFF'),
    (34, 'HOTPLUG_EPILOG_POWEROFF'),
    (35, 'BOOT_MIGRATE'),
    (36, 'BOOT_FAILURE'),
    (37, 'BOOT_MIGRATE_FAILURE'),
    (38, 'PROLOG_MIGRATE_FAILURE'),
    (39, 'PROLOG_FAILURE'),
    (40, 'EPILOG_FAILURE'),
    (41, 'EPILOG_STOP_FAILURE'),
    (42, 'EPILOG_UNDEPLOY_FAILURE'),
    (43, 'PROLOG_MIGRATE_POWEROFF'),
    (44, 'PROLOG_MIGRATE_POWEROFF_FAILURE'),
    (45, 'PROLOG_MIGRATE_SUSPEND'),
    (46, 'PROLOG_MIGRATE_SUSPEND_FAILURE'),
    (47, 'BOOT_UNDEPLOY_FAILURE'),
    (48, 'BOOT_STOPPED_FAILURE'),
    (49, 'PROLOG_RESUME_FAILURE'),
    (50, 'PROLOG_UNDEPLOY_FAILURE'),
    (51, 'DISK_SNAPSHOT_POWEROFF'),
    (52, 'DISK_SNAPSHOT_REVERT_POWEROFF'),
    (53, 'DISK_SNAPSHOT_DELETE_POWEROFF'),
    (54, 'DISK_SNAPSHOT_SUSPENDED'),
    (55, 'DISK_SNAPSHOT_REVERT_SUSPENDED'),  # removed
    (56, 'DISK_SNAPSHOT_DELETE_SUSPENDED'),
    (57, 'DISK_SNAPSHOT'),
    (58, 'DISK_SNAPSHOT_REVERT'),            # removed
    (59, 'DISK_SNAPSHOT_DELETE'),
    (60, 'PROLOG_MIGRATE_UNKNOWN'),
    (61, 'PROLOG_MIGRATE_UNKNOWN_FAILURE'),
    (62, 'DISK_RESIZE'),
    (63, 'DISK_RESIZE_POWEROFF'),
    (64, 'DISK_RESIZE_UNDEPLOYED'),
    (65, 'HOTPLUG_NIC_POWEROFF'),
    (66, 'HOTPLUG_RESIZE'),
    (67, 'HOTPLUG_SAVEAS_UNDEPLOYED'),
    (68, 'HOTPLUG_SAVEAS_STOPPED'),
    (69, 'BACKUP'),
    (70, 'BACKUP_POWEROFF'),
    (71, 'RESTORE'),
]
_LCM_REMOVED = (13, 14, 55, 58)
_LCM_FAILURES = tuple(c for c, n in _LCM if n.endswith('FAILURE'))
# RUNNING and UNKNOWN are where an ACTIVE VM rests; every *_FAILURE waits for
# the operator (recover) and is therefore stable too.
LCM_STATE = StateTable('LCM', _LCM, removed=_LCM_REMOVED, failures=_LCM_FAILURES,
                       transient=tuple(c for c, n in _LCM if c not in _LCM_REMOVED and c not in (3, 16)
                                       and c not in _LCM_FAILURES))

# --- Hosts (host.xsd) -----------------------------------------------------
HOST_STATE = StateTable('HOST', [
    (0, 'INIT'),
    (1, 'MONITORING_MONITORED'),
    (2, 'MONITORED'),
    (3, 'ERROR'),
    (4, 'DISABLED'),
    (5, 'MONITORING_ERROR'),
    (6, 'MONITORING_INIT'),
    (7, 'MONITORING_DISABLED'),
    (8, 'OFFLINE'),
], failures=(3, 5), transient=(0, 1, 5, 6, 7))

# --- Images (image.xsd) ---------------------------------------------------
IMAGE_STATE = StateTable('IMAGE', [
    (0, 'INIT'),
    (1, 'READY'),
    (2, 'USED'),
    (3, 'DISABLED'),
    (4, 'LOCKED'),
    (5, 'ERROR'),
    (6, 'CLONE'),
    (7, 'DELETE'),
    (8, 'USED_PERS'),
    (9, 'LOCKED_USED'),
    (10, 'LOCKED_USED_PERS'),
], failures=(5,), transient=(0, 4, 6, 7, 9, 10))

# --- Virtual networks (VirtualNetwork.h) ----------------------------------
VNET_STATE = StateTable('VNET', [
    (0, 'INIT'),
    (1, 'READY'),
    (2, 'LOCK_CREATE'),
    (3, 'LOCK_DELETE'),
    (4, 'DONE'),
    (5, 'ERROR'),
    (6, 'UPDATE_FAILURE'),
], failures=(5, 6), transient=(0, 2, 3))

# --- Datastores (datastore.xsd) -------------------------------------------
DATASTORE_STATE = StateTable('DATASTORE', [
    (0, 'READY'),
    (1, 'DISABLED'),
], transient=())

# Other enumerations the modules speak.
IMAGE_TYPE = StateTable('IMAGE_TYPE', [
    (0, 'OS'), (1, 'CDROM'), (2, 'DATABLOCK'), (3, 'KERNEL'), (4, 'RAMDISK'), (5, 'CONTEXT'), (6, 'BACKUP'),
], transient=())
DATASTORE_TYPE = StateTable('DATASTORE_TYPE', [(0, 'IMAGE'), (1, 'SYSTEM'), (2, 'FILE'), (3, 'BACKUP')], transient=())
HOST_STATUS = StateTable('HOST_STATUS', [(0, 'ENABLED'), (1, 'DISABLED'), (2, 'OFFLINE')], transient=())

TABLES = {
    'vm': VM_STATE,
    'lcm': LCM_STATE,
    'host': HOST_STATE,
    'image': IMAGE_STATE,
    'vnet': VNET_STATE,
    'datastore': DATASTORE_STATE,
}


def vm_state_name(state, lcm_state=None):
    """oned's own short state: the LCM state name when ACTIVE, else the VM state name."""
    if int(state) == 3 and lcm_state is not None:
        return LCM_STATE.name(lcm_state)
    return VM_STATE.name(state)


def is_failure(lcm_state):
    """True for every LCM ``*_FAILURE`` state (BOOT_FAILURE, PROLOG_FAILURE, ...)."""
    return LCM_STATE.is_failure(lcm_state)


def vm_is_failure(state, lcm_state):
    """True when a VM sits in a failure: CLONING_FAILURE, or ACTIVE with a *_FAILURE LCM state."""
    state = int(state)
    if state == 3:
        return LCM_STATE.is_failure(lcm_state)
    return VM_STATE.is_failure(state)
