"""Hosts: allocation, dummy IM monitoring, capacity, status, errors."""

from __future__ import annotations

import json
import os
import random
from typing import Any, Dict, List, Optional

from . import template as tpl
from . import xmlout as X
from .core import DATA_DIR, MANAGE, Base
from .errors import ACTION, ALLOCATE, INTERNAL, NO_EXISTS, OneError

HOST_INIT, HOST_MONITORED, HOST_ERROR, HOST_DISABLED, HOST_OFFLINE = 0, 2, 3, 4, 8
TOTAL_MEM = 16777216
TOTAL_CPU = 800


def _data(name: str) -> str:
    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as handle:
        return handle.read()


class HostsMixin(Base):
    """one.host.* and one.hostpool.*."""

    _devices: Optional[str] = None
    _numa_mon: Optional[str] = None
    _mon_template: Optional[List[List[str]]] = None

    def _register(self) -> None:
        reg = self.register
        reg("one.host.allocate", "ssssi", self.host_allocate)
        reg("one.host.info", "si|b", self.host_info, False)
        reg("one.host.delete", "si", self.host_delete)
        reg("one.host.status", "sii", self.host_status)
        reg("one.host.update", "sisi", self.host_update)
        reg("one.host.rename", "sis", self.host_rename)
        reg("one.host.monitoring", "si", self.host_monitoring, False)
        reg("one.hostpool.info", "s", self.hostpool_info, False)
        reg("one.hostpool.monitoring", "s|i", self.hostpool_monitoring, False)

    # ------------------------------------------------------------------ documents
    def host_xml(self, host: Dict[str, Any], pool: bool = False) -> str:
        """HOST document (the pool form carries an empty MONITORING, as oned's)."""
        if HostsMixin._devices is None:
            HostsMixin._devices = _data("host_share_devices.xml")
            HostsMixin._numa_mon = _data("host_monitoring_numa.xml")
        probed = host["probed"]
        total_mem = TOTAL_MEM if probed else 0
        total_cpu = TOTAL_CPU if probed else 0
        share = ("<HOST_SHARE><MEM_USAGE>%d</MEM_USAGE><CPU_USAGE>%d</CPU_USAGE><TOTAL_MEM>%d</TOTAL_MEM><TOTAL_CPU>%d</TOTAL_CPU>"
                 "<MAX_MEM>%d</MAX_MEM><MAX_CPU>%d</MAX_CPU><RUNNING_VMS>%d</RUNNING_VMS><VMS_THREAD>1</VMS_THREAD>"
                 "<DATASTORES>%s%s%s%s</DATASTORES>%s</HOST_SHARE>") % (
            host["mem_usage"], host["cpu_usage"], total_mem, total_cpu, total_mem, total_cpu, len(host["vms"]),
            X.cel("DISK_USAGE", "0"), X.cel("FREE_DISK", "20480" if host["ever_monitored"] else "0"),
            X.cel("MAX_DISK", "20480" if host["ever_monitored"] else "0"), X.cel("USED_DISK", "9720" if host["ever_monitored"] else "0"),
            self._devices if host["ever_monitored"] else "<PCI_DEVICES/><NUMA_NODES/>")
        mon = None if pool else host.get("monitoring")
        if mon:
            monitoring = ("<MONITORING><TIMESTAMP>%d</TIMESTAMP><ID>%d</ID><CAPACITY>%s%s%s%s</CAPACITY><SYSTEM>%s%s</SYSTEM>%s</MONITORING>") % (
                mon["ts"], host["id"], X.cel("FREE_CPU", mon["free_cpu"]), X.cel("FREE_MEMORY", mon["free_mem"]),
                X.cel("USED_CPU", mon["used_cpu"]), X.cel("USED_MEMORY", mon["used_mem"]), X.cel("NETRX", mon["netrx"]),
                X.cel("NETTX", mon["nettx"]), self._numa_mon)
        else:
            monitoring = "<MONITORING/>"
        cluster = self.db["clusters"].get(str(host["cluster_id"]), {"name": ""})
        return "<HOST><ID>%d</ID>%s<STATE>%d</STATE><PREV_STATE>%d</PREV_STATE>%s%s<CLUSTER_ID>%d</CLUSTER_ID>%s%s%s%s%s</HOST>" % (
            host["id"], X.el("NAME", host["name"]), host["state"], host["state"], X.cel("IM_MAD", host["im_mad"]),
            X.cel("VM_MAD", host["vm_mad"]), host["cluster_id"], X.el("CLUSTER", cluster["name"]), share,
            X.ids("VMS", sorted(host["vms"])), X.template("TEMPLATE", host["template"]), monitoring)

    def _monitoring_xml(self, host: Dict[str, Any]) -> str:
        xml = self.host_xml(host)
        start = xml.find("<MONITORING>")
        return xml[start:xml.rfind("</HOST>")] if start >= 0 else ""

    # ------------------------------------------------------------------ monitoring (dummy IM driver)
    def _host_probe(self, hid: int) -> None:
        host = self.db["hosts"].get(str(hid))
        if host is None or host["state"] in (HOST_OFFLINE, HOST_ERROR):
            return
        if HostsMixin._mon_template is None:
            with open(os.path.join(DATA_DIR, "host_monitored_template.json"), encoding="utf-8") as handle:
                HostsMixin._mon_template = json.load(handle)
        probe = [[k, v.replace("host01", host["name"]) if k == "HOSTNAME" else v] for k, v in HostsMixin._mon_template
                 if k not in ("IM_MAD", "VM_MAD", "RESERVED_CPU", "RESERVED_MEM")]
        names = {k for k, _value in probe}
        host["template"] = [a for a in host["template"] if a[0] not in names] + probe
        host["probed"] = True
        host["ever_monitored"] = True
        used_cpu = random.randint(5, 40) + host["cpu_usage"] // 10
        used_mem = random.randint(8000000, 12000000)
        host["monitoring"] = {"ts": self.now(), "free_cpu": TOTAL_CPU - used_cpu, "used_cpu": used_cpu,
                              "free_mem": TOTAL_MEM - used_mem, "used_mem": used_mem,
                              "netrx": random.randint(10 ** 13, 10 ** 14), "nettx": random.randint(10 ** 15, 2 * 10 ** 15)}
        if host["state"] == HOST_INIT:
            host["state"] = HOST_MONITORED
        self.start_vm_monitoring()
        gen = host["monitor_gen"]
        self.later("host_monitor_interval", self._host_monitor_tick, hid, gen)

    def _host_monitor_tick(self, hid: int, gen: int) -> None:
        host = self.db["hosts"].get(str(hid))
        if host is None or host["monitor_gen"] != gen:
            return
        self._host_probe(hid)

    def _start_monitoring(self, host: Dict[str, Any]) -> None:
        host["monitor_gen"] += 1
        gen = host["monitor_gen"]
        self.later("host_monitor_first", self._host_monitor_tick, host["id"], gen)

    # ------------------------------------------------------------------ capacity
    def host_fits(self, host: Dict[str, Any], cpu: int, mem: int) -> bool:
        """Whether the host has CPU (x100) and MEMORY (KB) left."""
        return host["probed"] and host["cpu_usage"] + cpu <= TOTAL_CPU and host["mem_usage"] + mem <= TOTAL_MEM

    def host_add_vm(self, host: Dict[str, Any], vid: int, cpu: int, mem: int) -> None:
        """Charge a VM to a host."""
        host["cpu_usage"] += cpu
        host["mem_usage"] += mem
        if vid not in host["vms"]:
            host["vms"].append(vid)

    def host_del_vm(self, hid: int, vid: int, cpu: int, mem: int) -> None:
        """Release a VM's charge."""
        host = self.db["hosts"].get(str(hid))
        if host is None or vid not in host["vms"]:
            return
        host["cpu_usage"] = max(0, host["cpu_usage"] - cpu)
        host["mem_usage"] = max(0, host["mem_usage"] - mem)
        host["vms"].remove(vid)

    # ------------------------------------------------------------------ methods
    def host_allocate(self, user: Dict[str, Any], name: str, im_mad: str, vm_mad: str, cluster_id: int) -> int:
        """one.host.allocate."""
        self.require_admin(user, "CREATE", "HOST")
        if cluster_id == -1:
            cluster_id = 0
        self.get("clusters", cluster_id, "cluster")
        if not name:
            raise OneError(ALLOCATE, "Error allocating a new host. Invalid NAME, it cannot be empty")
        for other in self.db["hosts"].values():
            if other["name"] == name:
                raise OneError(ALLOCATE, "Error allocating a new host. NAME is already taken by HOST %d." % other["id"])
        hid = self.next_id("host")
        host = {"id": hid, "name": name, "state": HOST_INIT, "im_mad": im_mad, "vm_mad": vm_mad, "cluster_id": cluster_id,
                "template": [["IM_MAD", im_mad], ["RESERVED_CPU", ""], ["RESERVED_MEM", ""], ["VM_MAD", vm_mad]],
                "mem_usage": 0, "cpu_usage": 0, "vms": [], "probed": False, "ever_monitored": False, "monitoring": None,
                "monitor_gen": 0, "uid": 0, "gid": 0}
        self.db["hosts"][str(hid)] = host
        self._start_monitoring(host)
        return hid

    def host_info(self, user: Dict[str, Any], hid: int, decrypt: bool = False) -> str:
        """one.host.info."""
        del decrypt, user
        return self.host_xml(self.get("hosts", hid, "host"))

    def hostpool_info(self, user: Dict[str, Any]) -> str:
        """one.hostpool.info."""
        del user
        hosts = sorted(self.db["hosts"].values(), key=lambda h: h["id"], reverse=True)
        return "<HOST_POOL>%s</HOST_POOL>" % "".join(self.host_xml(h, pool=True) for h in hosts)

    def host_monitoring(self, user: Dict[str, Any], hid: int) -> str:
        """one.host.monitoring."""
        del user
        host = self.get("hosts", hid, "host")
        return "<MONITORING_DATA>%s</MONITORING_DATA>" % (self._monitoring_xml(host) if host.get("monitoring") else "")

    def hostpool_monitoring(self, user: Dict[str, Any], seconds: int = -1) -> str:
        """one.hostpool.monitoring."""
        del user, seconds
        hosts = sorted(self.db["hosts"].values(), key=lambda h: h["id"])
        return "<MONITORING_DATA>%s</MONITORING_DATA>" % "".join(self._monitoring_xml(h) for h in hosts if h.get("monitoring"))

    def host_delete(self, user: Dict[str, Any], hid: int) -> int:
        """one.host.delete."""
        host = self.get("hosts", hid, "host")
        self.require_admin(user, "ADMIN", "HOST", hid)
        if host["vms"]:
            raise OneError(ACTION, "Cannot delete host. Can not remove a host with running VMs")
        del self.db["hosts"][str(hid)]
        return hid

    def host_status(self, user: Dict[str, Any], hid: int, status: int) -> int:
        """one.host.status: 0 enable, 1 disable, 2 offline."""
        host = self.get("hosts", hid, "host")
        self.require_admin(user, "ADMIN", "HOST", hid)
        if status not in (0, 1, 2):
            raise OneError(INTERNAL, "Wrong status code")
        if status == 0:
            if host["state"] in (HOST_OFFLINE, HOST_ERROR):
                host["state"] = HOST_INIT
                tpl.remove(host["template"], "ERROR")
                self._start_monitoring(host)
            elif host["state"] == HOST_DISABLED:
                host["state"] = HOST_MONITORED if host["probed"] else HOST_INIT
        elif status == 1:
            host["state"] = HOST_DISABLED
        else:
            host["state"] = HOST_OFFLINE
            host["probed"] = False
            host["monitor_gen"] += 1
            for key in ("TOTALCPU", "TOTALMEMORY"):
                tpl.remove(host["template"], key)
        return hid

    def host_update(self, user: Dict[str, Any], hid: int, text: str, append: int) -> int:
        """one.host.update (IM_MAD / VM_MAD are kept on replace)."""
        host = self.get("hosts", hid, "host")
        self.require_admin(user, MANAGE, "HOST", hid)
        new = self.update_template(host["template"], text, append)
        if append == 0:
            for key, value in (("IM_MAD", host["im_mad"]), ("VM_MAD", host["vm_mad"])):
                if tpl.get(new, key) is None:
                    new.append([key, value])
        host["template"] = new
        return hid

    def host_rename(self, user: Dict[str, Any], hid: int, name: str) -> int:
        """one.host.rename."""
        host = self.get("hosts", hid, "host")
        self.require_admin(user, MANAGE, "HOST", hid)
        self.rename_obj("hosts", host, name, "host", unique_by_owner=False)
        return hid

    # ------------------------------------------------------------------ faults
    def set_host_error(self, hid: int, message: str) -> None:
        """Put a host into ERROR (empty message: recover to monitoring)."""
        host = self.db["hosts"].get(str(hid))
        if host is None:
            raise OneError(NO_EXISTS, "Error getting host [%d]." % hid, hid)
        if message:
            host["state"] = HOST_ERROR
            host["monitor_gen"] += 1
            tpl.set_single(host["template"], "ERROR", "%s : %s" % (self.ctime_now(), message))
            self.hosts_in_error_changed(host)
        else:
            tpl.remove(host["template"], "ERROR")
            host["state"] = HOST_INIT
            self._start_monitoring(host)

    def hosts_in_error_changed(self, host: Dict[str, Any]) -> None:
        """Hook for VMs on a failing host (implemented by the VM mixin)."""

    def start_vm_monitoring(self) -> None:
        """Hook: the first MONITORED host starts VM monitoring (implemented by the VM mixin)."""

    def ctime_now(self) -> str:
        """Current time in oned's message format."""
        from .core import ctime  # pylint: disable=import-outside-toplevel
        return ctime(self.now())
