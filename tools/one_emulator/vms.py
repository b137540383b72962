"""Virtual machines: allocation, scheduler, dispatch/LCM state machine, monitoring."""

from __future__ import annotations

import random
import sys
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import states as S
from . import template as tpl
from . import xmlout as X
from .core import ADMIN, MANAGE, TIMING, USE, Base, ctime
from .errors import ACTION, INTERNAL, OneError

# attributes oned keeps in the VM TEMPLATE; everything else goes to USER_TEMPLATE
VM_ATTRS = {"CPU", "VCPU", "MEMORY", "DISK", "NIC", "NIC_ALIAS", "NIC_DEFAULT", "CONTEXT", "GRAPHICS", "INPUT", "OS", "FEATURES", "RAW",
            "PCI", "TOPOLOGY", "NUMA_NODE", "VMGROUP", "CPU_MODEL", "EMULATOR", "TEMPLATE_ID", "MEMORY_MAX", "VCPU_MAX",
            "MEMORY_RESIZE_MODE", "MEMORY_SLOTS", "SPICE_OPTIONS", "VIDEO", "CPU_COST", "MEMORY_COST", "DISK_COST", "AS_UID",
            "AS_GID", "VROUTER_ID", "SUBMIT_ON_HOLD", "HYPERVISOR", "TPM", "IOTHREADS"}
UPDATECONF_SECTIONS = ("OS", "FEATURES", "INPUT", "GRAPHICS", "RAW", "CONTEXT", "CPU_MODEL", "BACKUP_CONFIG", "VIDEO")
CONTEXT_NET_KEYS = ["DNS", "EXTERNAL", "GATEWAY", "IP", "IP6", "IP6_GATEWAY", "IP6_METHOD", "IP6_METRIC", "IP6_PREFIX_LENGTH", "IP6_ULA",
                    "MAC", "MASK", "METHOD", "METRIC", "MTU", "NETWORK", "ROUTES", "SEARCH_DOMAIN", "VLAN_ID", "VROUTER_IP",
                    "VROUTER_IP6", "VROUTER_MANAGEMENT"]
HISTORY_KEYS = ["OID", "SEQ", "HOSTNAME", "HID", "CID", "STIME", "ETIME", "VM_MAD", "TM_MAD", "DS_ID", "PLAN_ID", "ACTION_ID",
                "PSTIME", "PETIME", "RSTIME", "RETIME", "ESTIME", "EETIME", "ACTION", "UID", "GID", "REQUEST_ID"]
HISTORY_CDATA = {"VM_MAD", "TM_MAD"}
MONITOR_KEYS = ["CPU", "DISKRDBYTES", "DISKRDIOPS", "DISKWRBYTES", "DISKWRIOPS", "ID", "MEMORY", "NETRX", "NETTX", "TIMESTAMP"]
MAX_MONITORING_RECORDS = 60
SHORT_DISK_KEYS = ("DISK_ID", "DATASTORE", "DATASTORE_ID", "IMAGE", "IMAGE_ID", "SIZE", "TYPE", "CLONE", "CLONE_TARGET", "LN_TARGET",
                   "DISK_SNAPSHOT_TOTAL_SIZE")
SHORT_NIC_KEYS = ("IP", "IP6_GLOBAL", "IP6_ULA", "MAC", "NETWORK", "NETWORK_ID", "NIC_ID", "SECURITY_GROUPS")
SG_OUT = {"PROTOCOL": "ALL", "RULE_TYPE": "OUTBOUND", "SECURITY_GROUP_ID": "0", "SECURITY_GROUP_NAME": "default"}
SG_IN = {"PROTOCOL": "ALL", "RULE_TYPE": "INBOUND", "SECURITY_GROUP_ID": "0", "SECURITY_GROUP_NAME": "default"}


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


class VMsMixin(Base):  # pylint: disable=too-many-public-methods
    """one.vm.*, one.vmpool.*."""

    def _register(self) -> None:
        reg = self.register
        reg("one.vm.allocate", "ss|b", self.vm_allocate)
        reg("one.vm.info", "si|b", self.vm_info, False)
        reg("one.vm.action", "ssi", self.vm_action)
        reg("one.vm.deploy", "siib|is", self.vm_deploy)
        reg("one.vm.resize", "sisb", self.vm_resize)
        reg("one.vm.updateconf", "sis|i", self.vm_updateconf)
        reg("one.vm.update", "sisi", self.vm_update)
        reg("one.vm.rename", "sis", self.vm_rename)
        reg("one.vm.chmod", "siiiiiiiiii", self.vm_chmod)
        reg("one.vm.chown", "siii", self.vm_chown)
        reg("one.vm.recover", "sii", self.vm_recover)
        reg("one.vm.attachnic", "sis", self.vm_attachnic)
        reg("one.vm.detachnic", "sii", self.vm_detachnic)
        reg("one.vm.disksnapshotcreate", "siis", self.vm_disksnapshotcreate)
        reg("one.vm.monitoring", "si", self.vm_monitoring, False)
        reg("one.vm.lock", "sii|b", self.obj_lock_noop)  # type: ignore[attr-defined]
        reg("one.vm.unlock", "si", self.obj_unlock_noop)  # type: ignore[attr-defined]
        reg("one.vmpool.info", "siii|i", self.vmpool_info, False)
        reg("one.vmpool.infoextended", "siii|i", self.vmpool_infoextended, False)
        reg("one.vmpool.infoset", "ss|b", self.vmpool_infoset, False)
        reg("one.vmpool.monitoring", "si|i", self.vmpool_monitoring, False)

    # ------------------------------------------------------------------ documents
    def _history_xml(self, hist: Dict[str, Any], short: bool = False) -> str:
        if short:
            keys = ["OID", "SEQ", "HOSTNAME", "HID", "CID", "DS_ID", "VM_MAD", "TM_MAD", "ACTION"]
            return "<HISTORY>%s</HISTORY>" % "".join(
                X.cel(k, hist[k]) if k in ("HOSTNAME", "VM_MAD", "TM_MAD", "ACTION") else X.el(k, hist[k]) for k in keys)
        parts = [X.cel(k, hist[k]) if k in HISTORY_CDATA else "<%s>%s</%s>" % (k, X.esc(hist[k]), k) for k in HISTORY_KEYS]
        return "<HISTORY>%s</HISTORY>" % "".join(parts)

    def vm_xml(self, vm: Dict[str, Any]) -> str:
        """Full VM document (one.vm.info, one.vmpool.infoextended)."""
        mon = vm.get("monitoring") or []
        monitoring = X.wrap("MONITORING", [X.cel(k, mon[-1][k]) for k in MONITOR_KEYS]) if mon else "<MONITORING/>"
        snapshots = "".join(self._snapshots_xml(int(d), snaps) for d, snaps in sorted(vm.get("snapshots", {}).items()))
        return ("<VM><ID>%d</ID>%s%s%s<LAST_POLL>%d</LAST_POLL><STATE>%d</STATE><LCM_STATE>%d</LCM_STATE><PREV_STATE>%d</PREV_STATE>"
                "<PREV_LCM_STATE>%d</PREV_LCM_STATE><RESCHED>%d</RESCHED><STIME>%d</STIME><ETIME>%d</ETIME>%s%s<SCHED_ACTIONS/>%s%s%s%s"
                "<BACKUPS><BACKUP_CONFIG/><BACKUP_IDS/></BACKUPS></VM>") % (
            vm["id"], self.owner_xml(vm), X.el("NAME", vm["name"]), X.permissions(vm["perms"]), vm["last_poll"], vm["state"], vm["lcm"],
            vm["state"], vm["lcm"], vm["resched"], vm["stime"], vm["etime"], X.el("DEPLOY_ID", vm["deploy_id"]), monitoring,
            X.template("TEMPLATE", vm["template"]), X.template("USER_TEMPLATE", vm["user_template"]),
            X.wrap("HISTORY_RECORDS", [self._history_xml(h) for h in vm["history"]]), snapshots)

    @staticmethod
    def _snapshots_xml(disk_id: int, snaps: List[Dict[str, Any]]) -> str:
        """SNAPSHOTS of one disk (ACTIVE only on the active snapshot)."""
        head = ("<ALLOW_ORPHANS>NO</ALLOW_ORPHANS><CURRENT_BASE>-1</CURRENT_BASE><DISK_ID>%d</DISK_ID><NEXT_SNAPSHOT>%d</NEXT_SNAPSHOT>"
                % (disk_id, len(snaps)))
        keys = ("ACTIVE", "DATE", "ID", "NAME", "PARENT", "SIZE")
        body = ["<SNAPSHOT>%s</SNAPSHOT>" % "".join(X.el(k, s[k]) for k in keys if k != "ACTIVE" or s[k] == "YES") for s in snaps]
        return X.wrap("SNAPSHOTS", [head] + body)

    def vm_short_xml(self, vm: Dict[str, Any]) -> str:
        """Reduced VM document of one.vmpool.info."""
        # oned's short form always carries CPU, MEMORY and VCPU (empty when unset), as plain text
        parts = ["<%s>%s</%s>" % (k, X.esc(tpl.get_str(vm["template"], k, "") or ""), k) for k in ("CPU", "MEMORY", "VCPU")]
        for key, value in vm["template"]:
            if key == "DISK" and isinstance(value, dict):
                parts.append(X.wrap("DISK", [X.cel(k, value[k]) for k in SHORT_DISK_KEYS if k in value]))
        for key, value in vm["template"]:
            if key == "NIC" and isinstance(value, dict):
                parts.append(X.wrap("NIC", [X.cel(k, value[k]) for k in SHORT_NIC_KEYS if k in value]))
        graphics = tpl.get(vm["template"], "GRAPHICS")
        if isinstance(graphics, dict):
            parts.append(X.wrap("GRAPHICS", [X.cel(k, graphics[k]) for k in ("LISTEN", "PORT", "TYPE") if k in graphics]))
        mon = vm.get("monitoring") or []
        monitoring = "<MONITORING/>"
        if mon and vm["state"] != S.DONE:  # a DONE VM's monitoring is gone from the pool listing
            monitoring = X.wrap("MONITORING", [X.cel("CPU", mon[-1]["CPU"]), X.cel("MEMORY", mon[-1]["MEMORY"]), "<STATE><![CDATA[]]></STATE>"])
        user_parts = [X.cel(k, tpl.get_str(vm["user_template"], k)) for k in ("ERROR", "LABELS", "SCHED_MESSAGE")
                      if tpl.get_str(vm["user_template"], k) is not None]
        history = self._history_xml(vm["history"][-1], short=True) if vm["history"] else ""
        return ("<VM><ID>%d</ID>%s%s<LAST_POLL>%d</LAST_POLL><STATE>%d</STATE><LCM_STATE>%d</LCM_STATE><RESCHED>%d</RESCHED>"
                "<STIME>%d</STIME><ETIME>%d</ETIME>%s%s%s%s%s</VM>") % (
            vm["id"], self.owner_xml(vm), X.el("NAME", vm["name"]), vm["last_poll"], vm["state"], vm["lcm"], vm["resched"], vm["stime"],
            vm["etime"], X.el("DEPLOY_ID", vm["deploy_id"]), X.wrap("TEMPLATE", parts), monitoring, X.wrap("USER_TEMPLATE", user_parts),
            X.wrap("HISTORY_RECORDS", history))

    # ------------------------------------------------------------------ helpers
    def _vm(self, user: Dict[str, Any], vid: int, op: str) -> Dict[str, Any]:
        vm = self.get("vms", vid, "virtual machine")
        self.authorize(user, vm, op, "VM")
        return vm

    @staticmethod
    def state_name(vm: Dict[str, Any]) -> str:
        """The name oned prints in 'not available for state X'."""
        if vm["state"] == S.ACTIVE:
            return S.LCM_NAMES.get(vm["lcm"], str(vm["lcm"]))
        return S.VM_NAMES.get(vm["state"], str(vm["state"]))

    def _refuse(self, vm: Dict[str, Any], action: str) -> OneError:
        return OneError(ACTION, 'Error performing action "%s": This action is not available for state %s' % (action, self.state_name(vm)))

    def _set(self, vm: Dict[str, Any], state: int, lcm: int = 0) -> None:
        vm["state"] = state
        vm["lcm"] = lcm

    def _capacity(self, vm: Dict[str, Any]) -> Tuple[int, int]:
        cpu = round(float(tpl.get_str(vm["template"], "CPU", "0") or 0) * 100)
        mem = _int(tpl.get_str(vm["template"], "MEMORY", "0")) * 1024
        return cpu, mem

    def _chain(self, vm: Dict[str, Any], steps: List[Tuple[str, Callable[[Dict[str, Any]], Any]]]) -> None:
        """Run ``steps`` (delay key, function) one after another unless the VM changes meanwhile."""
        vm["gen"] += 1
        self._chain_next(vm["id"], vm["gen"], steps)

    def _chain_next(self, vid: int, gen: int, steps: List[Tuple[str, Callable[[Dict[str, Any]], Any]]]) -> None:
        if not steps:
            return
        key, func = steps[0]
        factor = 1.0
        if isinstance(key, (int, float)):
            self.engine.later(float(key), self._guarded, self._chain_fire, (vid, gen, func, steps[1:]))
            return
        if key.startswith("slow:"):
            factor = float(key.split(":", 1)[1]) / 0.013
            key = "driver_step"
        self.later(key, self._chain_fire, vid, gen, func, steps[1:], factor=factor)

    def _chain_fire(self, vid: int, gen: int, func: Callable[[Dict[str, Any]], Any], rest: list) -> None:
        vm = self.db["vms"].get(str(vid))
        if vm is None or vm["gen"] != gen:
            return
        if func(vm) is False:
            return
        self._chain_next(vid, gen, rest)

    def _history(self, vm: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        return vm["history"][-1] if vm["history"] else None

    def _stamp_action(self, vm: Dict[str, Any], user: Optional[Dict[str, Any]], action: int) -> None:
        hist = self._history(vm)
        if hist is not None and user is not None:
            hist.update({"ACTION": action, "UID": user["id"], "GID": user["gid"], "REQUEST_ID": self.next_request_id()})

    def _reset_action(self, vm: Dict[str, Any]) -> None:
        hist = self._history(vm)
        if hist is not None:
            hist.update({"ACTION": 0, "UID": -1, "GID": -1, "REQUEST_ID": -1})

    def _cp_history(self, vm: Dict[str, Any], user: Dict[str, Any], action: int) -> None:
        """Close the current history record on ``action`` and open a copy (hotplug, resize in POWEROFF).

        As recorded: the closed record gets the action, the caller and ETIME (and RETIME if unset); the
        new one starts now (STIME, RSTIME; RETIME too when the VM is not running) with the previous ACTION.
        """
        old = self._history(vm)
        if old is None:
            return
        now = self.now()
        prev_action = old["ACTION"]
        old.update({"ACTION": action, "UID": user["id"], "GID": user["gid"], "REQUEST_ID": self.next_request_id(), "ETIME": now,
                    "RETIME": old["RETIME"] or now})
        new = dict(old)
        running = vm["state"] == S.ACTIVE
        new.update({"SEQ": old["SEQ"] + 1, "STIME": now, "ETIME": 0, "PLAN_ID": -1, "ACTION_ID": 0, "PSTIME": 0, "PETIME": 0,
                    "RSTIME": now, "RETIME": 0 if running else now, "ESTIME": 0, "EETIME": 0, "ACTION": prev_action, "UID": -1,
                    "GID": -1, "REQUEST_ID": -1})
        vm["history"].append(new)

    def _new_history(self, vm: Dict[str, Any], host: Dict[str, Any], action: int = 0, user: Optional[Dict[str, Any]] = None,
                     planned: bool = True) -> Dict[str, Any]:
        now = self.now()
        prev = self._history(vm)
        if prev is not None and not prev["ETIME"]:
            prev["ETIME"] = now
        hist = {"OID": vm["id"], "SEQ": len(vm["history"]), "HOSTNAME": host["name"], "HID": host["id"], "CID": host["cluster_id"],
                "STIME": 0 if planned else now, "ETIME": 0, "VM_MAD": host["vm_mad"], "TM_MAD": "dummy", "DS_ID": 0,
                "PLAN_ID": -2 if planned else -1, "ACTION_ID": -1 if planned else 0, "PSTIME": 0, "PETIME": 0, "RSTIME": 0, "RETIME": 0,
                "ESTIME": 0, "EETIME": 0, "ACTION": action, "UID": -1, "GID": -1, "REQUEST_ID": -1}
        if user is not None:
            hist.update({"UID": user["id"], "GID": user["gid"], "REQUEST_ID": self.next_request_id()})
        vm["history"].append(hist)
        return hist

    def _notify(self, hook: str, vm: Dict[str, Any], *args: Any) -> None:
        try:
            getattr(self.backend, hook)(vm, *args)
        except Exception as exc:  # pylint: disable=broad-except
            print("backend %s failed for VM %d: %s" % (hook, vm["id"], exc), file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ creation
    def _nic_attrs(self, vm: Dict[str, Any], nic: Dict[str, str], nic_id: int, ctx_net: bool) -> Tuple[Dict[str, str], Dict[str, str]]:
        """Lease an address for ``nic``; return the NIC vector and its CONTEXT variables."""
        vnet = None
        if nic.get("NETWORK_ID", "") != "":
            vnet = self.db["vnets"].get(str(_int(nic["NETWORK_ID"], -1)))
            if vnet is None:
                raise OneError(INTERNAL, "Virtual network with ID: %s does not exist" % nic["NETWORK_ID"])
        elif nic.get("NETWORK"):
            for cand in self.db["vnets"].values():
                if cand["name"] == nic["NETWORK"]:
                    vnet = cand
            if vnet is None:
                raise OneError(INTERNAL, "Virtual network %s does not exist" % nic["NETWORK"])
        else:
            raise OneError(INTERNAL, "NIC %d: missing NETWORK_ID or NETWORK" % nic_id)
        ar, index = self.allocate_lease(vnet, {"vm": vm["id"]}, {k: nic[k] for k in ("IP", "MAC", "AR_ID") if k in nic})  # type: ignore[attr-defined]
        addr = self.lease_info(ar, index)  # type: ignore[attr-defined]
        out = dict(nic)
        out.update({"AR_ID": str(ar["ar_id"]), "BRIDGE": vnet["bridge"], "BRIDGE_TYPE": vnet["bridge_type"], "CLUSTER_ID": str(vnet["clusters"][0]),
                    "NAME": "NIC%d" % nic_id, "NETWORK": vnet["name"], "NETWORK_ID": str(vnet["id"]), "NIC_ID": str(nic_id),
                    "SECURITY_GROUPS": tpl.get_str(vnet["template"], "SECURITY_GROUPS", "0") or "0", "TARGET": "one-%d-%d" % (vm["id"], nic_id),
                    "VN_MAD": vnet["vn_mad"]})
        out.update({k: v for k, v in addr.items() if k != "IP6_LINK"})
        for key in ("DNS", "GATEWAY", "GATEWAY6", "SEARCH_DOMAIN", "VLAN_ID", "PHYDEV"):
            value = tpl.get_str(vnet["template"], key)
            if value:
                out[key] = value
        ctx: Dict[str, str] = {}
        if ctx_net:
            values = {"DNS": tpl.get_str(vnet["template"], "DNS", ""), "GATEWAY": tpl.get_str(vnet["template"], "GATEWAY", ""),
                      "IP": addr.get("IP", ""), "IP6": addr.get("IP6_GLOBAL", ""), "IP6_ULA": addr.get("IP6_ULA", ""), "MAC": addr["MAC"],
                      "MASK": tpl.get_str(vnet["template"], "NETWORK_MASK", ""), "NETWORK": tpl.get_str(vnet["template"], "NETWORK_ADDRESS", ""),
                      "SEARCH_DOMAIN": tpl.get_str(vnet["template"], "SEARCH_DOMAIN", "")}
            for key in CONTEXT_NET_KEYS:
                ctx["ETH%d_%s" % (nic_id, key)] = values.get(key, "") or ""
        return out, ctx

    def _release_nic(self, nic: Dict[str, str]) -> None:
        if nic.get("NETWORK_ID", "") != "" and "AR_ID" in nic:
            self.release_lease(_int(nic["NETWORK_ID"]), _int(nic["AR_ID"]), nic)  # type: ignore[attr-defined]

    # pylint: disable-next=too-many-locals,too-many-branches,too-many-statements
    def create_vm(self, user: Dict[str, Any], attrs: List[tpl.Attr], name: str, hold: bool) -> int:
        """Allocate a VM from a parsed template (one.vm.allocate / one.template.instantiate)."""
        mem = tpl.get_str(attrs, "MEMORY", "") or ""
        if not mem.isdigit() or int(mem) <= 0:
            raise OneError(INTERNAL, "MEMORY attribute must be a positive integer value.")
        cpu = tpl.get_str(attrs, "CPU", "") or ""
        try:
            if float(cpu) <= 0:
                raise ValueError
        except ValueError:
            raise OneError(INTERNAL, "CPU attribute must be a positive float or integer value.") from None
        vcpu = tpl.get_str(attrs, "VCPU")
        if vcpu is not None and (not vcpu.isdigit() or int(vcpu) <= 0):
            raise OneError(INTERNAL, "VCPU attribute must be a positive integer value.")
        disks = [dict(v) for v in tpl.get_all(attrs, "DISK") if isinstance(v, dict)]
        extended = []
        for i, disk in enumerate(disks):
            from_image = disk.get("IMAGE_ID") or disk.get("IMAGE")
            extended.append(self.disk_from_image(disk, i) if from_image else dict(disk, DISK_ID=str(i)))  # type: ignore[attr-defined]
        for nic in tpl.get_all(attrs, "NIC"):
            if isinstance(nic, dict) and nic.get("NETWORK_ID", "") != "" and str(_int(nic["NETWORK_ID"], -1)) not in self.db["vnets"]:
                raise OneError(INTERNAL, "Virtual network with ID: %s does not exist" % nic["NETWORK_ID"])
        vid = self.next_id("vm")
        vm = dict(self.owner_fields(user))
        vm.update({"id": vid, "name": name or "one-%d" % vid, "state": S.HOLD if hold else S.PENDING, "lcm": 0, "resched": 0,
                   "stime": self.now(), "etime": 0, "deploy_id": "", "last_poll": 0, "template": [], "user_template": [], "history": [],
                   "monitoring": [], "gen": 0, "host": None, "charged": [0, 0], "resume": None, "snapshots": {}})
        template: List[tpl.Attr] = []
        user_template: List[tpl.Attr] = []
        for key, value in tpl.copy(attrs):
            if key in ("NAME", "DISK", "NIC"):
                continue
            (template if key in VM_ATTRS else user_template).append([key, value])
        boot = []
        os_vec = tpl.get(template, "OS")
        if isinstance(os_vec, dict) and os_vec.get("BOOT"):
            boot = [b.strip() for b in os_vec["BOOT"].split(",")]
        prefix_count: Dict[str, int] = {}
        for i, disk in enumerate(extended):
            img_id = disk.get("IMAGE_ID")
            prefix = disk.get("DEV_PREFIX", "sd")
            if "TARGET" not in disk:
                disk["TARGET"] = "%s%s" % (prefix, chr(ord("a") + prefix_count.get(prefix, 0)))
            prefix_count[prefix] = prefix_count.get(prefix, 0) + 1
            if "disk%d" % i in boot:
                disk["ORDER"] = str(boot.index("disk%d" % i) + 1)
            if img_id is not None and "IMAGE" in disk:
                img = self.db["images"][str(int(img_id))]
                self.image_used(img["id"], vid, True)  # type: ignore[attr-defined]
                disk["IMAGE_STATE"] = str(img["state"])
            template.append(["DISK", disk])
        context = tpl.get(template, "CONTEXT")
        ctx_net = isinstance(context, dict) and context.get("NETWORK", "").upper() == "YES"
        nics = [dict(v) for v in tpl.get_all(attrs, "NIC") if isinstance(v, dict)]
        self.db["vms"][str(vid)] = vm
        try:
            ctx_vars: Dict[str, str] = {}
            for i, nic in enumerate(nics):
                full, ctx = self._nic_attrs(vm, nic, i, ctx_net)
                template.append(["NIC", full])
                ctx_vars.update(ctx)
        except OneError:
            self._release_all(vm, template)
            del self.db["vms"][str(vid)]
            self.db["next"]["vm"] -= 1
            raise
        if isinstance(context, dict):
            context.update(ctx_vars)
            context["DISK_ID"] = str(len(extended))
            context["TARGET"] = "%s%s" % ("sd", chr(ord("a") + prefix_count.get("sd", 0)))
        if nics:
            template.append(["SECURITY_GROUP_RULE", dict(SG_OUT)])
            template.append(["SECURITY_GROUP_RULE", dict(SG_IN)])
            template.append(["AUTOMATIC_NIC_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'])
        if extended or isinstance(context, dict):
            template.append(["AUTOMATIC_DS_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'])
        template.append(["AUTOMATIC_REQUIREMENTS", "(CLUSTER_ID = 0) & !(PIN_POLICY = PINNED)" if (nics or extended) else "!(PIN_POLICY = PINNED)"])
        if not isinstance(os_vec, dict):
            os_vec = {}
            template.append(["OS", os_vec])
        os_vec.setdefault("MACHINE", "q35")
        os_vec["UUID"] = str(uuid.uuid4())
        template.append(["VMID", str(vid)])
        if hold:
            template.append(["SUBMIT_ON_HOLD", "YES"])
        vm["template"] = template
        vm["user_template"] = user_template
        if not hold:
            self._enter_pending(vm)
        return vid

    def _release_all(self, vm: Dict[str, Any], template: Optional[List[tpl.Attr]] = None) -> None:
        template = vm["template"] if template is None else template
        for key, value in template:
            if key == "NIC" and isinstance(value, dict):
                self._release_nic(value)
            if key == "DISK" and isinstance(value, dict) and value.get("IMAGE_ID", "").isdigit() and "IMAGE" in value:
                self.image_used(int(value["IMAGE_ID"]), vm["id"], False)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ scheduler
    def _enter_pending(self, vm: Dict[str, Any]) -> None:
        self._set(vm, S.PENDING)
        vm["gen"] += 1
        self.later("sched_window", self._schedule, vm["id"], vm["gen"])

    def _schedule(self, vid: int, gen: int) -> None:
        vm = self.db["vms"].get(str(vid))
        if vm is None or vm["gen"] != gen or vm["state"] != S.PENDING:
            return
        cpu, mem = self._capacity(vm)
        hosts = [h for h in self.db["hosts"].values() if h["state"] == 2]
        fitting = [h for h in hosts if self.host_fits(h, cpu, mem)]  # type: ignore[attr-defined]
        if not fitting:
            if not hosts:
                msg = "Cannot dispatch VM: No hosts enabled to run VMs"
            else:
                msg = ("Cannot dispatch VM to any Host. Possible reasons: Not enough capacity in Host or System DS, "
                       "dispatch limit reached, or limit of free leases reached.")
            tpl.set_single(vm["user_template"], "SCHED_MESSAGE", "%s : %s" % (ctime(self.now()), msg))
            self.later("sched_window", self._schedule, vid, gen)
            return
        fitting.sort(key=lambda h: (h["mem_usage"], h["id"]))
        self.deploy_to(vm, fitting[0])

    def deploy_to(self, vm: Dict[str, Any], host: Dict[str, Any]) -> None:
        """Dispatch a PENDING/HOLD VM to ``host`` (scheduler or one.vm.deploy)."""
        cpu, mem = self._capacity(vm)
        self.host_add_vm(host, vm["id"], cpu, mem)  # type: ignore[attr-defined]
        vm["host"] = host["id"]
        vm["charged"] = [cpu, mem]
        tpl.remove(vm["user_template"], "SCHED_MESSAGE")
        resume = vm.get("resume")
        self._new_history(vm, host, planned=not resume)
        graphics = tpl.get(vm["template"], "GRAPHICS")
        if isinstance(graphics, dict) and "PORT" not in graphics:
            graphics["PORT"] = str(5900 + vm["id"])
        if tpl.get(vm["template"], "TM_MAD_SYSTEM") is None:
            vm["template"].append(["TM_MAD_SYSTEM", "dummy"])
        self._set(vm, S.ACTIVE, S.LCM_INIT)
        prolog, boot = {None: (S.PROLOG, S.BOOT), "STOPPED": (S.PROLOG_RESUME, S.BOOT_STOPPED),
                        "UNDEPLOYED": (S.PROLOG_UNDEPLOY, S.BOOT_UNDEPLOY)}[resume]
        vm["resume"] = None

        def to_prolog(vm: Dict[str, Any]) -> Any:
            hist = self._history(vm)
            now = self.now()
            hist.update({"STIME": now, "PLAN_ID": -1, "ACTION_ID": 0, "PSTIME": now})
            self._set(vm, S.ACTIVE, prolog)
            if self.take_fault("prolog") is not None:
                return self._fail(vm, S.PROLOG_FAILURE, "PROLOG", "Error copying disks")
            return True

        def to_boot(vm: Dict[str, Any]) -> Any:
            now = self.now()
            self._history(vm).update({"PETIME": now, "RSTIME": now})
            self._set(vm, S.ACTIVE, boot)
            return True

        steps = [("lcm_init", to_prolog), ("driver_step", to_boot), (self._boot_delay(), self._boot_done)]
        # the dummy drivers served VMs dispatched together one after another (golden seq 382-390)
        wait = self._driver_slot(sum(self._delay_of(k) for k, _func in steps))
        if wait > 0:
            steps.insert(0, (wait, lambda vm: True))
        self._chain(vm, steps)

    def _delay_of(self, key: Any) -> float:
        if isinstance(key, (int, float)):
            return float(key)
        if key.startswith("slow:"):
            return float(key.split(":", 1)[1])
        return TIMING[key]

    def _driver_slot(self, duration: float) -> float:
        """Reserve the dummy driver for ``duration`` emulated seconds; return how long to wait for it."""
        engine = self.engine
        now = engine.now()
        start = max(now, self.driver_busy_until)
        self.driver_busy_until = start + duration / engine.speed
        return (start - now) * engine.speed

    def _boot_delay(self) -> str:
        fault = self.peek_fault("slow_deploy")
        if fault is not None:
            self.take_fault("slow_deploy")
            return "slow:%s" % float(fault.get("seconds") or 3.0)
        return "driver_step"

    def _boot_done(self, vm: Dict[str, Any]) -> Any:
        host = self.db["hosts"].get(str(vm["host"]))
        deploy_id = "%s:%s:dummy" % (host["name"] if host else "", vm["name"])
        fault = self.take_fault("deploy")
        if fault is not None:
            message = fault.get("message") or "DEPLOY: %s" % deploy_id
            return self._fail(vm, S.BOOT_FAILURE, None, message)
        if not vm["deploy_id"]:
            vm["deploy_id"] = deploy_id
        self._to_running(vm)
        return True

    def _fail(self, vm: Dict[str, Any], lcm: int, _stage: Optional[str], message: str) -> bool:
        hist = self._history(vm)
        if hist is not None and lcm == S.BOOT_FAILURE:
            hist["RETIME"] = self.now()
        self._set(vm, S.ACTIVE, lcm)
        tpl.set_single(vm["user_template"], "ERROR", "%s: %s" % (ctime(self.now()), message))
        return False

    def _to_running(self, vm: Dict[str, Any]) -> None:
        hist = self._history(vm)
        if hist is not None:
            hist.update({"ACTION": 0, "UID": -1, "GID": -1, "REQUEST_ID": -1, "RETIME": 0})
        self._set(vm, S.ACTIVE, S.RUNNING)
        self._notify("on_running", vm)

    def start_vm_monitoring(self) -> None:
        """Start the VM monitoring cycle (once): oned's dummy monitor probes every VM every 30 s.

        The recording shows the first VM records ~33 s after the first host was MONITORED and then
        one record per VM every 30 s, for every VM that is not DONE (even HOLD and PENDING ones).
        """
        if self.vm_monitor_started:
            return
        self.vm_monitor_started = True
        self.later("vm_monitor_first", self._vm_monitor_tick)

    def _vm_monitor_tick(self) -> None:
        now = self.now()
        for vm in self.db["vms"].values():
            if vm["state"] != S.DONE:
                self._monitor_record(vm, now)
        self.later("vm_monitor_interval", self._vm_monitor_tick)

    def _monitor_record(self, vm: Dict[str, Any], now: int) -> None:
        prev = vm["monitoring"][-1] if vm["monitoring"] else None
        mem_kb = _int(tpl.get_str(vm["template"], "MEMORY", "0")) * 1024
        running = vm["state"] == S.ACTIVE and vm["lcm"] == S.RUNNING
        rec = {"CPU": random.randint(0, 100) if running else 0, "DISKRDBYTES": random.randint(0, 1000),
               "DISKRDIOPS": random.randint(0, 1000), "DISKWRBYTES": random.randint(0, 1000), "DISKWRIOPS": random.randint(0, 1000),
               "ID": vm["id"], "MEMORY": random.randint(mem_kb // 4, max(mem_kb, 1)),
               "NETRX": (prev["NETRX"] if prev else 0) + random.randint(1000, 1500),
               "NETTX": (prev["NETTX"] if prev else 0) + random.randint(1000, 1300), "TIMESTAMP": now}
        real = None
        if running:
            try:
                real = self.backend.monitoring(vm)
            except Exception:  # pylint: disable=broad-except
                real = None
        if real:
            rec.update({k: v for k, v in real.items() if k in MONITOR_KEYS})
        vm["monitoring"].append(rec)
        del vm["monitoring"][:-MAX_MONITORING_RECORDS]
        vm["last_poll"] = now

    # ------------------------------------------------------------------ methods
    def vm_allocate(self, user: Dict[str, Any], text: str, hold: bool = False) -> int:
        """one.vm.allocate."""
        attrs = self.parse_template(text)
        return self.create_vm(user, attrs, tpl.get_str(attrs, "NAME", "") or "", hold)

    def vm_info(self, user: Dict[str, Any], vid: int, decrypt: bool = False) -> str:
        """one.vm.info."""
        del decrypt
        return self.vm_xml(self._vm(user, vid, USE))

    def _pool(self, user: Dict[str, Any], flt: int, start: int, end: int, state: int) -> List[Dict[str, Any]]:
        if state < -2 or state > 11:
            raise OneError(0x1000, "Incorrect filter_flag, state.")
        vms = self.pool_filter(user, "vms", flt, start, end)
        if state == -1:
            return [v for v in vms if v["state"] != S.DONE]
        if state >= 0:
            return [v for v in vms if v["state"] == state]
        return vms

    def vmpool_info(self, user: Dict[str, Any], flt: int, start: int, end: int, state: int = -1) -> str:
        """one.vmpool.info."""
        return "<VM_POOL>%s</VM_POOL>" % "".join(self.vm_short_xml(v) for v in self._pool(user, flt, start, end, state))

    def vmpool_infoextended(self, user: Dict[str, Any], flt: int, start: int, end: int, state: int = -1) -> str:
        """one.vmpool.infoextended."""
        return "<VM_POOL>%s</VM_POOL>" % "".join(self.vm_xml(v) for v in self._pool(user, flt, start, end, state))

    def vmpool_infoset(self, user: Dict[str, Any], ids: str, extended: bool = False) -> str:
        """one.vmpool.infoset ("1,2,5")."""
        wanted = {_int(i, -1) for i in ids.split(",") if i.strip()}
        vms = [v for v in self.pool_filter(user, "vms", -2, -1, -1) if v["id"] in wanted]
        render = self.vm_xml if extended else self.vm_short_xml
        return "<VM_POOL>%s</VM_POOL>" % "".join(render(v) for v in vms)

    def _monitoring_records(self, vm: Dict[str, Any], last_only: bool) -> str:
        recs = vm.get("monitoring") or []
        if last_only:
            recs = recs[-1:]
        return "".join(X.wrap("MONITORING", [X.cel(k, r[k]) for k in MONITOR_KEYS]) for r in recs)

    def vm_monitoring(self, user: Dict[str, Any], vid: int) -> str:
        """one.vm.monitoring."""
        vm = self._vm(user, vid, USE)
        return "<MONITORING_DATA>%s</MONITORING_DATA>" % self._monitoring_records(vm, False)

    def vmpool_monitoring(self, user: Dict[str, Any], flt: int, seconds: int = -1) -> str:
        """one.vmpool.monitoring (seconds -1: last record only)."""
        vms = sorted(self.pool_filter(user, "vms", flt, -1, -1), key=lambda v: v["id"])
        return "<MONITORING_DATA>%s</MONITORING_DATA>" % "".join(self._monitoring_records(v, seconds == -1) for v in vms)

    # ------------------------------------------------------------------ actions
    def vm_action(self, user: Dict[str, Any], action: str, vid: int) -> int:  # pylint: disable=too-many-branches,too-many-statements
        """one.vm.action."""
        if action not in S.ACTION_CODES:
            self.get("vms", vid, "virtual machine")
            raise OneError(ACTION, 'Action "%s" is not supported' % action)
        vm = self._vm(user, vid, ADMIN if action in ("resched", "unresched") else MANAGE)
        state, lcm = vm["state"], vm["lcm"]
        code = S.ACTION_CODES[action]
        running = state == S.ACTIVE and lcm in (S.RUNNING, S.UNKNOWN)
        if action in ("terminate", "terminate-hard"):
            hard = action == "terminate-hard"
            if running or (hard and state == S.ACTIVE):
                self._stamp_action(vm, user, code)
                if running:
                    self._set(vm, S.ACTIVE, S.SHUTDOWN)
                    self._chain(vm, [("driver_step", self._shutdown_step(S.EPILOG, self._epilog_done_steps)), ])
                else:
                    self._set(vm, S.ACTIVE, S.EPILOG)
                    self._chain(vm, [("driver_step", self._done)])
            elif state in (S.POWEROFF, S.SUSPENDED):
                self._stamp_action(vm, user, code)
                self._set(vm, S.ACTIVE, S.EPILOG)
                self._chain(vm, [("driver_step", self._done)])
            elif state in (S.PENDING, S.HOLD, S.STOPPED, S.UNDEPLOYED, S.CLONING, S.CLONING_FAILURE, S.INIT):
                self._done(vm)
            else:
                raise self._refuse(vm, action)
        elif action in ("poweroff", "poweroff-hard"):
            if not running:
                raise self._refuse(vm, action)
            self._stamp_action(vm, user, code)
            self._set(vm, S.ACTIVE, S.SHUTDOWN_POWEROFF)
            self._chain(vm, [("driver_step", self._shutdown_step(None, self._poweroff_done))])
        elif action == "suspend":
            if not running:
                raise self._refuse(vm, action)
            self._stamp_action(vm, user, code)
            self._set(vm, S.ACTIVE, S.SAVE_SUSPEND)
            self._chain(vm, [("driver_step", self._suspend_done)])
        elif action == "stop":
            if running:
                self._stamp_action(vm, user, code)
                self._set(vm, S.ACTIVE, S.SAVE_STOP)
                self._chain(vm, [("driver_step", self._epilog(S.EPILOG_STOP)), ("driver_step", self._off_host(S.STOPPED))])
            elif state == S.SUSPENDED:
                self._stamp_action(vm, user, code)
                self._set(vm, S.ACTIVE, S.EPILOG_STOP)
                self._chain(vm, [("driver_step", self._off_host(S.STOPPED))])
            else:
                raise self._refuse(vm, action)
        elif action in ("undeploy", "undeploy-hard"):
            if running:
                self._stamp_action(vm, user, code)
                self._set(vm, S.ACTIVE, S.SHUTDOWN_UNDEPLOY)
                self._chain(vm, [("driver_step", self._shutdown_step(S.EPILOG_UNDEPLOY, None)), ("driver_step", self._off_host(S.UNDEPLOYED))])
            elif state == S.POWEROFF:
                self._stamp_action(vm, user, code)
                self._set(vm, S.ACTIVE, S.EPILOG_UNDEPLOY)
                self._chain(vm, [("driver_step", self._off_host(S.UNDEPLOYED))])
            else:
                raise self._refuse(vm, action)
        elif action == "hold":
            if state != S.PENDING:
                raise self._refuse(vm, action)
            vm["gen"] += 1
            self._set(vm, S.HOLD)
        elif action == "release":
            if state != S.HOLD:
                raise self._refuse(vm, action)
            self._enter_pending(vm)  # oned keeps SUBMIT_ON_HOLD in the template (golden seq 340)
        elif action == "resume":
            self._resume(vm, user)
        elif action in ("reboot", "reboot-hard"):
            if not running:
                raise self._refuse(vm, action)
            self._notify("on_reboot", vm, action == "reboot-hard")
        elif action in ("resched", "unresched"):
            if state not in (S.ACTIVE, S.POWEROFF):
                raise self._refuse(vm, action)
            vm["resched"] = 1 if action == "resched" else 0
        return vid

    def _resume(self, vm: Dict[str, Any], user: Dict[str, Any]) -> None:
        state = vm["state"]
        if state in (S.STOPPED, S.UNDEPLOYED):
            vm["resume"] = "STOPPED" if state == S.STOPPED else "UNDEPLOYED"
            self._enter_pending(vm)
            self._notify("on_resume", vm)
            return
        if state not in (S.POWEROFF, S.SUSPENDED):
            raise self._refuse(vm, "resume")
        # oned closes the record at once but shows POWEROFF/SUSPENDED for a few more ms (golden seq 252)
        hist = self._history(vm)
        if hist is not None:
            hist["ETIME"] = self.now()

        def boot(vm: Dict[str, Any]) -> Any:
            host = self.db["hosts"].get(str(vm["host"]))
            if host is not None:
                new = self._new_history(vm, host, action=11, user=user, planned=False)
                new["RSTIME"] = new["STIME"]
            self._set(vm, S.ACTIVE, S.BOOT_POWEROFF if state == S.POWEROFF else S.BOOT_SUSPENDED)
            self._notify("on_resume", vm)
            return True
        self._chain(vm, [("action_queue", boot), ("driver_step", self._boot_done)])

    def _shutdown_step(self, next_lcm: Optional[int], then: Optional[Callable[[Dict[str, Any]], Any]]) -> Callable[[Dict[str, Any]], Any]:
        def step(vm: Dict[str, Any]) -> Any:
            fault = self.take_fault("shutdown")
            if fault is not None:
                message = fault.get("message") or "SHUTDOWN: %s" % vm["deploy_id"]

                def back(vm: Dict[str, Any]) -> Any:
                    self._reset_action(vm)
                    self._set(vm, S.ACTIVE, S.RUNNING)
                    tpl.set_single(vm["user_template"], "ERROR", "%s: %s" % (ctime(self.now()), message))
                    return False
                self._chain(vm, [("shutdown_timeout", back)])
                return False
            self._notify("on_poweroff", vm)
            now = self.now()
            hist = self._history(vm)
            if hist is not None:
                hist["RETIME"] = now
            if next_lcm is not None:
                if hist is not None:
                    hist["ESTIME"] = now
                self._set(vm, S.ACTIVE, next_lcm)
            if then is not None:
                if next_lcm is not None:
                    self._chain(vm, [("driver_step", then)])
                    return False
                return then(vm)
            return True
        return step

    def _epilog_done_steps(self, vm: Dict[str, Any]) -> Any:
        return self._done(vm)

    def _poweroff_done(self, vm: Dict[str, Any]) -> Any:
        self._set(vm, S.POWEROFF)
        return True

    def _suspend_done(self, vm: Dict[str, Any]) -> Any:
        hist = self._history(vm)
        if hist is not None:
            hist["RETIME"] = self.now()
        self._set(vm, S.SUSPENDED)
        self._notify("on_poweroff", vm)
        return True

    def _epilog(self, lcm: int) -> Callable[[Dict[str, Any]], Any]:
        def step(vm: Dict[str, Any]) -> Any:
            self._notify("on_poweroff", vm)
            now = self.now()
            hist = self._history(vm)
            if hist is not None:
                hist["RETIME"] = hist["RETIME"] or now
                hist["ESTIME"] = now
            self._set(vm, S.ACTIVE, lcm)
            return True
        return step

    def _unplace(self, vm: Dict[str, Any]) -> None:
        if vm.get("host") is not None:
            self.host_del_vm(vm["host"], vm["id"], vm["charged"][0], vm["charged"][1])  # type: ignore[attr-defined]
        vm["host"] = None
        vm["charged"] = [0, 0]
        now = self.now()
        hist = self._history(vm)
        if hist is not None:
            hist["EETIME"] = hist["EETIME"] or now
            hist["ETIME"] = hist["ETIME"] or now

    def _off_host(self, state: int) -> Callable[[Dict[str, Any]], Any]:
        def step(vm: Dict[str, Any]) -> Any:
            self._unplace(vm)
            self._set(vm, state)
            graphics = tpl.get(vm["template"], "GRAPHICS")
            if isinstance(graphics, dict) and state == S.UNDEPLOYED:  # a STOPPED VM keeps its VNC port (golden seq 278)
                graphics.pop("PORT", None)
            return True
        return step

    def _done(self, vm: Dict[str, Any]) -> Any:
        now = self.now()
        self._unplace(vm)
        self._release_all(vm)
        vm["etime"] = now
        vm["gen"] += 1
        graphics = tpl.get(vm["template"], "GRAPHICS")
        if isinstance(graphics, dict):
            graphics.pop("PORT", None)
        self._set(vm, S.DONE)
        self._notify("on_terminate", vm)
        return False

    # ------------------------------------------------------------------ other VM methods
    def vm_deploy(self, user: Dict[str, Any], vid: int, hid: int, enforce: bool, ds_id: int = -1, nics: str = "") -> int:
        """one.vm.deploy (admin placement)."""
        del ds_id, nics
        vm = self._vm(user, vid, ADMIN)
        host = self.get("hosts", hid, "host")
        if vm["state"] not in (S.PENDING, S.HOLD):
            raise self._refuse(vm, "deploy")
        cpu, mem = self._capacity(vm)
        if enforce and not self.host_fits(host, cpu, mem):  # type: ignore[attr-defined]
            raise OneError(ACTION, "Host %d does not have enough capacity." % hid)
        self.deploy_to(vm, host)
        return vid

    def vm_resize(self, user: Dict[str, Any], vid: int, text: str, enforce: bool) -> int:
        """one.vm.resize."""
        vm = self._vm(user, vid, MANAGE)
        attrs = self.parse_template(text)
        if vm["state"] == S.ACTIVE and vm["lcm"] == S.RUNNING:
            raise OneError(ACTION, "Hotplug resize not supported by driver dummy")
        if vm["state"] not in (S.POWEROFF, S.UNDEPLOYED, S.PENDING, S.HOLD, S.CLONING, S.CLONING_FAILURE, S.STOPPED):
            raise self._refuse(vm, "resize")
        new = {k: tpl.get_str(attrs, k) for k in ("CPU", "VCPU", "MEMORY") if tpl.get_str(attrs, k) is not None}
        if "MEMORY" in new and (not new["MEMORY"].isdigit() or int(new["MEMORY"]) <= 0):
            raise OneError(INTERNAL, "MEMORY attribute must be a positive integer value.")
        old_cpu, old_mem = vm["charged"]
        cpu = round(float(new.get("CPU", tpl.get_str(vm["template"], "CPU", "0"))) * 100)
        mem = _int(new.get("MEMORY", tpl.get_str(vm["template"], "MEMORY", "0"))) * 1024
        host = self.db["hosts"].get(str(vm["host"])) if vm.get("host") is not None else None
        if enforce and host is not None:
            free_mem = 16777216 - (host["mem_usage"] - old_mem)
            free_cpu = 800 - (host["cpu_usage"] - old_cpu)
            if mem > free_mem:
                raise OneError(ACTION, "Not enough memory: %d/%d" % (mem, free_mem))
            if cpu > free_cpu:
                raise OneError(ACTION, "Not enough CPU: %d/%d" % (cpu, free_cpu))
        for key, value in new.items():
            tpl.set_single(vm["template"], key, value)
        if host is not None:
            host["cpu_usage"] += cpu - old_cpu
            host["mem_usage"] += mem - old_mem
            vm["charged"] = [cpu, mem]
        if vm["state"] == S.POWEROFF:
            self._cp_history(vm, user, 35)
        self._notify("on_resize", vm)
        return vid

    def vm_updateconf(self, user: Dict[str, Any], vid: int, text: str, append: int = 0) -> int:
        """one.vm.updateconf (OS, FEATURES, INPUT, GRAPHICS, RAW, CONTEXT, ...)."""
        vm = self._vm(user, vid, MANAGE)
        attrs = self.parse_template(text)
        running = vm["state"] == S.ACTIVE and vm["lcm"] == S.RUNNING
        if not running and vm["state"] not in (S.POWEROFF, S.UNDEPLOYED, S.PENDING, S.HOLD, S.CLONING, S.CLONING_FAILURE, S.STOPPED):
            raise self._refuse(vm, "updateconf")
        for section in UPDATECONF_SECTIONS:
            new = tpl.get(attrs, section)
            if new is None:
                continue
            old = tpl.get(vm["template"], section)
            if isinstance(new, dict):
                merged = dict(old) if (append and isinstance(old, dict)) else {}
                merged.update(new)
                if isinstance(old, dict):
                    if section == "GRAPHICS" and "PORT" in old:
                        merged["PORT"] = old["PORT"]
                    if section == "CONTEXT":
                        for key, value in old.items():
                            if key.startswith("ETH") or key in ("DISK_ID", "TARGET"):
                                merged[key] = value
                tpl.set_single(vm["template"], section, merged)
            else:
                tpl.set_single(vm["template"], section, new)
        if running:
            self._set(vm, S.ACTIVE, S.HOTPLUG)
            self._chain(vm, [("driver_step", self._back_to_running)])
        return vid

    def _back_to_running(self, vm: Dict[str, Any]) -> Any:
        self._set(vm, S.ACTIVE, S.RUNNING)
        return True

    def vm_update(self, user: Dict[str, Any], vid: int, text: str, append: int) -> int:
        """one.vm.update (USER_TEMPLATE)."""
        vm = self._vm(user, vid, MANAGE)
        vm["user_template"] = self.update_template(vm["user_template"], text, append)
        return vid

    def vm_rename(self, user: Dict[str, Any], vid: int, name: str) -> int:
        """one.vm.rename (VM names need not be unique)."""
        vm = self._vm(user, vid, MANAGE)
        if not name:
            raise OneError(ACTION, "Invalid NAME, it cannot be empty")
        vm["name"] = name
        return vid

    def vm_chmod(self, user: Dict[str, Any], vid: int, *perms: int) -> int:
        """one.vm.chmod."""
        self.chmod_obj(self._vm(user, vid, MANAGE), list(perms))
        return vid

    def vm_chown(self, user: Dict[str, Any], vid: int, uid: int, gid: int) -> int:
        """one.vm.chown."""
        self.chown_obj(user, self._vm(user, vid, MANAGE), uid, gid)
        return vid

    def vm_recover(self, user: Dict[str, Any], vid: int, op: int) -> int:
        """one.vm.recover: 0 failure, 1 success, 2 retry, 3 delete, 4 delete-recreate, 5 delete-db."""
        vm = self._vm(user, vid, ADMIN)
        if op not in range(6):
            raise OneError(ACTION, "Wrong recovery operation code")
        lcm = vm["lcm"] if vm["state"] == S.ACTIVE else None
        if op == 3:
            if vm["state"] == S.ACTIVE:
                def cleanup(vm: Dict[str, Any]) -> Any:
                    self._stamp_action(vm, user, 13)
                    hist = self._history(vm)
                    if hist is not None:
                        hist["ETIME"] = self.now()
                    self._set(vm, S.ACTIVE, S.CLEANUP_DELETE)
                    graphics = tpl.get(vm["template"], "GRAPHICS")
                    if isinstance(graphics, dict):
                        graphics.pop("PORT", None)
                    return True
                # the state is unchanged for a few ms (golden seq 401)
                self._chain(vm, [("action_queue", cleanup), ("driver_step", self._done)])
            else:
                self._stamp_action(vm, user, 13)
                self._done(vm)
        elif op == 5:
            self._done(vm)
        elif op == 4:
            if vm["state"] in (S.DONE,):
                raise self._refuse(vm, "recover")
            self._unplace(vm)
            self._enter_pending(vm)
        elif lcm is None:
            raise OneError(ACTION, "Error performing action \"recover\": This action is not available for state %s" % self.state_name(vm))
        elif lcm == S.BOOT_FAILURE:
            if op == 2:
                now = self.now()
                self._history(vm)["RSTIME"] = now
                self._set(vm, S.ACTIVE, S.BOOT)
                self._chain(vm, [("driver_step", self._boot_done)])
            elif op == 1:
                host = self.db["hosts"].get(str(vm["host"]))
                vm["deploy_id"] = vm["deploy_id"] or "%s:%s:dummy" % (host["name"] if host else "", vm["name"])
                self._to_running(vm)
        elif lcm == S.PROLOG_FAILURE and op in (1, 2):
            self._set(vm, S.ACTIVE, S.BOOT)
            self._chain(vm, [("driver_step", self._boot_done)])
        elif lcm in (S.SHUTDOWN, S.SHUTDOWN_POWEROFF, S.SHUTDOWN_UNDEPLOY, S.EPILOG, S.EPILOG_STOP, S.EPILOG_UNDEPLOY) and op == 1:
            vm["gen"] += 1
            final = {S.SHUTDOWN: None, S.EPILOG: None, S.SHUTDOWN_POWEROFF: S.POWEROFF}.get(lcm, -1)
            if final is None:
                self._done(vm)
            elif final == S.POWEROFF:
                self._set(vm, S.POWEROFF)
            else:
                self._off_host(S.STOPPED if lcm == S.EPILOG_STOP else S.UNDEPLOYED)(vm)
        elif lcm in (S.BOOT, S.BOOT_POWEROFF, S.BOOT_SUSPENDED, S.BOOT_STOPPED, S.BOOT_UNDEPLOY, S.HOTPLUG, S.HOTPLUG_NIC) and op == 1:
            vm["gen"] += 1
            self._to_running(vm)
        elif lcm in (S.BOOT, S.PROLOG) and op == 0:
            vm["gen"] += 1
            self._set(vm, S.ACTIVE, S.BOOT_FAILURE if lcm == S.BOOT else S.PROLOG_FAILURE)
        return vid

    def vm_attachnic(self, user: Dict[str, Any], vid: int, text: str) -> int:
        """one.vm.attachnic."""
        vm = self._vm(user, vid, MANAGE)
        running = vm["state"] == S.ACTIVE and vm["lcm"] == S.RUNNING
        if not running and vm["state"] not in (S.POWEROFF, S.UNDEPLOYED, S.STOPPED, S.PENDING, S.HOLD):
            raise self._refuse(vm, "attachnic")
        nic = tpl.get(self.parse_template(text), "NIC")
        if not isinstance(nic, dict):
            raise OneError(INTERNAL, "Wrong number of NIC attributes")
        ids = [_int(v.get("NIC_ID"), 0) for k, v in vm["template"] if k == "NIC" and isinstance(v, dict)]
        nic_id = max(ids + [-1]) + 1
        context = tpl.get(vm["template"], "CONTEXT")
        ctx_net = isinstance(context, dict) and context.get("NETWORK", "").upper() == "YES"
        full, ctx = self._nic_attrs(vm, dict(nic), nic_id, ctx_net)
        vm["template"].append(["NIC", full])

        def attached(vm: Dict[str, Any]) -> Any:
            full.pop("ATTACH", None)
            context = tpl.get(vm["template"], "CONTEXT")
            if isinstance(context, dict):
                context.update(ctx)
            return self._back_to_running(vm) if running else True
        if tpl.get(vm["template"], "SECURITY_GROUP_RULE") is None:
            vm["template"].append(["SECURITY_GROUP_RULE", dict(SG_OUT)])
            vm["template"].append(["SECURITY_GROUP_RULE", dict(SG_IN)])
        if tpl.get(vm["template"], "AUTOMATIC_NIC_REQUIREMENTS") is None:
            vm["template"].append(["AUTOMATIC_NIC_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'])
        if running:
            # while the driver works the NIC carries ATTACH="YES" and CONTEXT is not yet updated (golden seq 310)
            full["ATTACH"] = "YES"
            self._cp_history(vm, user, 23)
            self._set(vm, S.ACTIVE, S.HOTPLUG_NIC)
            self._chain(vm, [("driver_step", attached)])
        else:
            attached(vm)
        return vid

    def vm_detachnic(self, user: Dict[str, Any], vid: int, nic_id: int) -> int:
        """one.vm.detachnic."""
        vm = self._vm(user, vid, MANAGE)
        running = vm["state"] == S.ACTIVE and vm["lcm"] == S.RUNNING
        if not running and vm["state"] not in (S.POWEROFF, S.UNDEPLOYED, S.STOPPED, S.PENDING, S.HOLD):
            raise self._refuse(vm, "detachnic")
        for attr in vm["template"]:
            if attr[0] == "NIC" and isinstance(attr[1], dict) and attr[1].get("NIC_ID") == str(nic_id):
                def detached(vm: Dict[str, Any], attr: List[Any] = attr) -> Any:
                    self._release_nic(attr[1])
                    if attr in vm["template"]:
                        vm["template"].remove(attr)
                    context = tpl.get(vm["template"], "CONTEXT")
                    if isinstance(context, dict):
                        for key in [k for k in context if k.startswith("ETH%d_" % nic_id)]:
                            del context[key]
                    return self._back_to_running(vm) if running else True
                if running:
                    # the NIC stays, marked ATTACH="YES", until the driver is done (golden seq 314)
                    attr[1]["ATTACH"] = "YES"
                    self._cp_history(vm, user, 24)
                    self._set(vm, S.ACTIVE, S.HOTPLUG_NIC)
                    self._chain(vm, [("driver_step", detached)])
                else:
                    detached(vm)
                return vid
        err = OneError(ACTION, "Could not detach NIC with NIC_ID %d, it does not exist." % nic_id)
        err.method = "one.vm.nicdetach"  # type: ignore[attr-defined]
        raise err

    def vm_disksnapshotcreate(self, user: Dict[str, Any], vid: int, disk_id: int, name: str) -> int:
        """one.vm.disksnapshotcreate."""
        vm = self._vm(user, vid, MANAGE)
        running = vm["state"] == S.ACTIVE and vm["lcm"] == S.RUNNING
        if not running and vm["state"] not in (S.POWEROFF, S.SUSPENDED):
            raise self._refuse(vm, "disk-snapshot-create")
        disk = None
        for key, value in vm["template"]:
            if key == "DISK" and isinstance(value, dict) and value.get("DISK_ID") == str(disk_id):
                disk = value
        if disk is None:
            raise OneError(ACTION, "VM disk does not exist")
        snaps = vm["snapshots"].setdefault(str(disk_id), [])
        snap_id = len(snaps)
        snap = {"ACTIVE": "NO", "DATE": self.now(), "ID": snap_id, "NAME": name, "PARENT": -1, "SIZE": _int(disk.get("SIZE"))}
        snaps.append(snap)
        disk["DISK_SNAPSHOT_TOTAL_SIZE"] = str(sum(s["SIZE"] for s in snaps))

        def taken(vm: Dict[str, Any]) -> Any:
            for other in snaps:
                other["ACTIVE"] = "NO"
            snap["ACTIVE"] = "YES"
            disk.pop("DISK_SNAPSHOT_ACTIVE", None)
            disk.pop("DISK_SNAPSHOT_ID", None)
            return self._back_to_running(vm) if running else True
        if running:
            # during DISK_SNAPSHOT the disk names the snapshot in progress, which is not ACTIVE yet (golden seq 319)
            disk["DISK_SNAPSHOT_ACTIVE"] = "YES"
            disk["DISK_SNAPSHOT_ID"] = str(snap_id)
            self._cp_history(vm, user, 25)
            self._set(vm, S.ACTIVE, S.DISK_SNAPSHOT)
            self._chain(vm, [("driver_step", taken)])
        else:
            taken(vm)
        return snap_id

    def hosts_in_error_changed(self, host: Dict[str, Any]) -> None:
        """VMs RUNNING on a host in ERROR become UNKNOWN."""
        for vid in host["vms"]:
            vm = self.db["vms"].get(str(vid))
            if vm and vm["state"] == S.ACTIVE and vm["lcm"] == S.RUNNING:
                self._set(vm, S.ACTIVE, S.UNKNOWN)
