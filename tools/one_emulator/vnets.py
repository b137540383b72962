"""Virtual networks: address ranges, leases (oned's lowest-free order), holds, reservations."""

from __future__ import annotations

import ipaddress
import random
from typing import Any, Dict, List, Optional, Tuple

from . import template as tpl
from . import xmlout as X
from .core import MANAGE, USE, Base
from .errors import ACTION, INTERNAL, OneError

VN_INIT, VN_READY, VN_LOCK_CREATE, VN_LOCK_DELETE, VN_DONE, VN_ERROR, VN_UPDATE_FAILURE = 0, 1, 2, 3, 4, 5, 6
AR_TYPES = ("IP4", "IP6", "IP6_STATIC", "IP4_6", "IP4_6_STATIC", "ETHER")
HOLD_VM = -1


def mac_str(mac: int) -> str:
    """48-bit int to ``02:00:..`` form."""
    return ":".join("%02x" % ((mac >> (8 * i)) & 0xFF) for i in range(5, -1, -1))


def mac_int(text: str) -> Optional[int]:
    """``aa:bb:..`` to int (None when malformed)."""
    parts = text.strip().lower().split(":")
    if len(parts) != 6:
        return None
    try:
        return int("".join("%02x" % int(p, 16) for p in parts), 16)
    except ValueError:
        return None


def ip6_from(prefix: str, mac: int) -> str:
    """SLAAC (EUI-64) address of ``mac`` in ``prefix``."""
    iid = ((mac >> 24) << 40) | (0xFFFE << 24) | (mac & 0xFFFFFF)
    iid ^= 0x02 << 56
    net = int(ipaddress.IPv6Address(prefix.split("/")[0]))
    return str(ipaddress.IPv6Address(net | iid))


class VnetsMixin(Base):
    """one.vn.* and one.vnpool.info."""

    def _register(self) -> None:
        reg = self.register
        reg("one.vn.allocate", "ss|i", self.vn_allocate)
        reg("one.vn.info", "si|b", self.vn_info, False)
        reg("one.vn.update", "sisi", self.vn_update)
        reg("one.vn.delete", "si", self.vn_delete)
        reg("one.vn.add_ar", "sis", self.vn_add_ar)
        reg("one.vn.update_ar", "sis", self.vn_update_ar)
        reg("one.vn.rm_ar", "sii|b", self.vn_rm_ar)
        reg("one.vn.free_ar", "sii", self.vn_free_ar)
        reg("one.vn.hold", "sis|i", self.vn_hold)
        reg("one.vn.release", "sis", self.vn_release)
        reg("one.vn.reserve", "sis", self.vn_reserve)
        reg("one.vn.chmod", "siiiiiiiiii", self.vn_chmod)
        reg("one.vn.chown", "siii", self.vn_chown)
        reg("one.vn.rename", "sis", self.vn_rename)
        reg("one.vn.lock", "sii|b", self.obj_lock_noop)
        reg("one.vn.unlock", "si", self.obj_unlock_noop)
        reg("one.vnpool.info", "siii", self.vnpool_info, False)

    def obj_lock_noop(self, user: Dict[str, Any], oid: int, level: int = 0, test: bool = False) -> int:
        """Locks are accepted and ignored."""
        del user, level, test
        return oid

    def obj_unlock_noop(self, user: Dict[str, Any], oid: int) -> int:
        """Unlocks are accepted and ignored."""
        del user
        return oid

    # ------------------------------------------------------------------ address ranges
    def _build_ar(self, vec: Dict[str, str], ar_id: int) -> Dict[str, Any]:
        ar_type = vec.get("TYPE", "").upper()
        if ar_type not in AR_TYPES:
            raise OneError(INTERNAL, "Unknown or missing TYPE in Address Range")
        try:
            size = int(vec.get("SIZE", ""))
        except ValueError:
            size = 0
        if size <= 0:
            raise OneError(INTERNAL, "Wrong SIZE for address range")
        ip_int = None
        if ar_type in ("IP4", "IP4_6", "IP4_6_STATIC"):
            try:
                ip_int = int(ipaddress.IPv4Address(vec.get("IP", "")))
            except ValueError:
                raise OneError(INTERNAL, "Wrong or empty IP attribute") from None
        if "MAC" in vec:
            mac = mac_int(vec["MAC"])
            if mac is None:
                raise OneError(INTERNAL, "Wrong format for MAC attribute")
        elif ip_int is not None:
            mac = (0x0200 << 32) | ip_int
        else:
            mac = (0x0200 << 32) | random.getrandbits(32)
        attrs = {k: v for k, v in vec.items() if k not in ("AR_ID", "IP", "MAC", "SIZE", "TYPE", "SHARED")}
        return {"ar_id": ar_id, "type": ar_type, "ip": ip_int, "mac": mac, "size": size, "attrs": attrs, "leases": {}}

    @staticmethod
    def _ar_stored(ar: Dict[str, Any]) -> Dict[str, str]:
        vec = dict(ar["attrs"])
        vec.update({"AR_ID": str(ar["ar_id"]), "MAC": mac_str(ar["mac"]), "SHARED": "NO", "SIZE": str(ar["size"]), "TYPE": ar["type"]})
        if ar["ip"] is not None:
            vec["IP"] = str(ipaddress.IPv4Address(ar["ip"]))
        return vec

    @staticmethod
    def _lease_addr(ar: Dict[str, Any], index: int) -> Dict[str, str]:
        mac = ar["mac"] + index
        out: Dict[str, str] = {}
        if ar["ip"] is not None:
            out["IP"] = str(ipaddress.IPv4Address(ar["ip"] + index))
        if ar["attrs"].get("GLOBAL_PREFIX"):
            out["IP6_GLOBAL"] = ip6_from(ar["attrs"]["GLOBAL_PREFIX"], mac)
        if ar["type"] in ("IP6", "IP4_6", "IP6_STATIC", "IP4_6_STATIC"):
            out["IP6_LINK"] = ip6_from("fe80::", mac)
        if ar["attrs"].get("ULA_PREFIX"):
            out["IP6_ULA"] = ip6_from(ar["attrs"]["ULA_PREFIX"], mac)
        out["MAC"] = mac_str(mac)
        return out

    def _ar_xml(self, ar: Dict[str, Any], pool: bool) -> str:
        stored = self._ar_stored(ar)
        if pool and (ar["leases"] or ar.get("allocated")):
            # oned keeps the allocation map of an AR that ever had a lease; only the pool form shows it
            stored["ALLOCATED"] = "".join(" %s %d" % (i, self._lease_owner_code(o)) for i, o in sorted(ar["leases"].items(), key=lambda i: int(i[0])))
        parts = [X.cel(k, v) for k, v in sorted(stored.items())]
        if not pool:
            last = ar["size"] - 1
            parts.append(X.cel("MAC_END", mac_str(ar["mac"] + last)))
            if ar["ip"] is not None:
                parts.append(X.cel("IP_END", str(ipaddress.IPv4Address(ar["ip"] + last))))
            for key, attr in (("IP6_ULA", "ULA_PREFIX"), ("IP6_GLOBAL", "GLOBAL_PREFIX")):
                if ar["attrs"].get(attr):
                    parts.append(X.cel(key, ip6_from(ar["attrs"][attr], ar["mac"])))
                    parts.append(X.cel(key + "_END", ip6_from(ar["attrs"][attr], ar["mac"] + last)))
            parts.append("<USED_LEASES>%d</USED_LEASES>" % len(ar["leases"]))
            leases = []
            for index in sorted(ar["leases"], key=int):
                owner = ar["leases"][index]
                addr = self._lease_addr(ar, int(index))
                body = "".join(X.cel(k, v) for k, v in sorted(addr.items()))
                body += X.cel("VNET", owner["vnet"]) if "vnet" in owner else X.cel("VM", owner["vm"])
                leases.append("<LEASE>%s</LEASE>" % body)
            parts.append(X.wrap("LEASES", leases))
        return "<AR>%s</AR>" % "".join(parts)

    @staticmethod
    def _lease_owner_code(owner: Dict[str, Any]) -> int:
        """oned's allocation-map owner word: object type in the high bits, the object ID in the low 32."""
        if "vnet" in owner:
            return (0x04 << 32) | owner["vnet"]
        return (0x01 << 32) | (owner["vm"] & 0xFFFFFFFF)

    def _free_index(self, ar: Dict[str, Any]) -> Optional[int]:
        for index in range(ar["size"]):
            if str(index) not in ar["leases"]:
                return index
        return None

    def _find_addr(self, vnet: Dict[str, Any], spec: Dict[str, str]) -> Optional[Tuple[Dict[str, Any], int]]:
        """AR and index of the address named by IP or MAC (optionally within AR_ID)."""
        for ar in vnet["ars"]:
            if "AR_ID" in spec and spec["AR_ID"] != str(ar["ar_id"]):
                continue
            if spec.get("IP") and ar["ip"] is not None:
                try:
                    index = int(ipaddress.IPv4Address(spec["IP"])) - ar["ip"]
                except ValueError:
                    return None
            elif spec.get("MAC"):
                mac = mac_int(spec["MAC"])
                if mac is None:
                    return None
                index = mac - ar["mac"]
            else:
                continue
            if 0 <= index < ar["size"]:
                return ar, index
        return None

    def allocate_lease(self, vnet: Dict[str, Any], owner: Dict[str, Any], spec: Optional[Dict[str, str]] = None) -> Tuple[Dict[str, Any], int]:
        """Take a lease (a given IP/MAC, or the lowest free one, ARs in order)."""
        if spec and (spec.get("IP") or spec.get("MAC")):
            found = self._find_addr(vnet, spec)
            if not found or str(found[1]) in found[0]["leases"]:
                raise OneError(INTERNAL, "Cannot get IP/MAC lease from virtual network %d." % vnet["id"])
            ar, index = found
        else:
            for ar in vnet["ars"]:
                if spec and spec.get("AR_ID") not in (None, str(ar["ar_id"])):
                    continue
                index = self._free_index(ar)
                if index is not None:
                    break
            else:
                raise OneError(INTERNAL, "Cannot get IP/MAC lease from virtual network %d." % vnet["id"])
        ar["leases"][str(index)] = owner
        ar["allocated"] = True
        return ar, index

    def release_lease(self, vnet_id: int, ar_id: int, addr: Dict[str, str]) -> None:
        """Free a lease held by a VM."""
        vnet = self.db["vnets"].get(str(vnet_id))
        if not vnet:
            return
        found = self._find_addr(vnet, {"AR_ID": str(ar_id), "IP": addr.get("IP", ""), "MAC": addr.get("MAC", "")})
        if found:
            found[0]["leases"].pop(str(found[1]), None)

    def lease_info(self, ar: Dict[str, Any], index: int) -> Dict[str, str]:
        """Addresses of a lease."""
        return self._lease_addr(ar, index)

    def used_leases(self, vnet: Dict[str, Any]) -> int:
        """Total leases in use."""
        return sum(len(ar["leases"]) for ar in vnet["ars"])

    # ------------------------------------------------------------------ document
    def vnet_xml(self, vnet: Dict[str, Any], pool: bool = False) -> str:
        """VNET document."""
        template = tpl.copy(vnet["template"])
        if vnet["state"] == VN_LOCK_CREATE and vnet.get("init_ars"):
            template.extend(["AR", dict(v)] for v in vnet["init_ars"])
        hidden = (vnet["state"] == VN_LOCK_CREATE and vnet.get("init_ars")) or vnet["state"] == VN_LOCK_DELETE
        ars = "" if hidden else "".join(self._ar_xml(a, pool) for a in vnet["ars"])
        vms = sorted({o["vm"] for a in vnet["ars"] for o in a["leases"].values() if o.get("vm", HOLD_VM) >= 0})
        parent = vnet.get("parent")
        return ("<VNET><ID>%d</ID>%s%s%s%s%s%s<STATE>%d</STATE><PREV_STATE>%d</PREV_STATE>%s%s%s%s%s"
                "<VLAN_ID_AUTOMATIC>0</VLAN_ID_AUTOMATIC><OUTER_VLAN_ID_AUTOMATIC>0</OUTER_VLAN_ID_AUTOMATIC>"
                "<USED_LEASES>%d</USED_LEASES><VROUTERS/>%s<OUTDATED_VMS/><UPDATING_VMS/><ERROR_VMS/>%s%s</VNET>") % (
            vnet["id"], self.owner_xml(vnet), X.el("NAME", vnet["name"]), X.permissions(vnet["perms"]), X.ids("CLUSTERS", vnet["clusters"]),
            X.cel("BRIDGE", vnet["bridge"]), X.cel("BRIDGE_TYPE", vnet["bridge_type"]), vnet["state"], vnet["prev_state"],
            X.cel("PARENT_NETWORK_ID", "" if parent is None else parent), X.cel("VN_MAD", vnet["vn_mad"]),
            X.cel("PHYDEV", vnet.get("phydev", "")), X.cel("VLAN_ID", vnet.get("vlan_id", "")), X.cel("OUTER_VLAN_ID", vnet.get("outer_vlan_id", "")),
            self.used_leases(vnet), X.ids("UPDATED_VMS", vms), X.template("TEMPLATE", template), X.wrap("AR_POOL", ars))

    # ------------------------------------------------------------------ allocation
    def _new_vnet(self, user: Dict[str, Any], attrs: List[tpl.Attr], cluster_id: int, parent: Optional[int] = None) -> Dict[str, Any]:
        name = tpl.get_str(attrs, "NAME", "") or ""
        if not name:
            raise OneError(INTERNAL, "No NAME in template for Virtual Network.")
        vn_mad = tpl.get_str(attrs, "VN_MAD", "") or ""
        if not vn_mad:
            self.next_id("vnet")  # oned checks VN_MAD in insert(), after the ID is taken
            raise OneError(INTERNAL, "No VN_MAD in template for Virtual Network.")
        for other in self.db["vnets"].values():
            if other["name"] == name and other["uid"] == user["id"]:
                raise OneError(INTERNAL, "NAME is already taken by NET %d." % other["id"])
        ar_vecs = [v for v in tpl.get_all(attrs, "AR") if isinstance(v, dict)]
        ars = [self._build_ar(dict(vec), i) for i, vec in enumerate(ar_vecs)]
        template = [a for a in tpl.copy(attrs) if a[0] not in ("NAME", "AR")]
        bridge = tpl.get_str(template, "BRIDGE") or ""
        bridge_type = "openvswitch" if vn_mad in ("ovswitch", "ovswitch_vxlan") else "linux"
        if bridge_type and tpl.get(template, "BRIDGE_TYPE") is None:
            template.append(["BRIDGE_TYPE", bridge_type])
        for key, default in (("PHYDEV", ""), ("SECURITY_GROUPS", "0")):
            if tpl.get(template, key) is None:
                template.append([key, default])
        vid = self.next_id("vnet")
        if not bridge:
            bridge = "onebr%d" % vid
            template.append(["BRIDGE", bridge])
        vnet = dict(self.owner_fields(user))
        vnet.update({"id": vid, "name": name, "clusters": [cluster_id], "bridge": bridge, "bridge_type": bridge_type,
                     "state": VN_LOCK_CREATE, "prev_state": VN_INIT, "vn_mad": vn_mad, "phydev": tpl.get_str(template, "PHYDEV", ""),
                     "vlan_id": tpl.get_str(template, "VLAN_ID", ""), "outer_vlan_id": tpl.get_str(template, "OUTER_VLAN_ID", ""),
                     "template": template, "ars": ars, "init_ars": [dict(v) for v in ar_vecs], "parent": parent})
        self.db["vnets"][str(vid)] = vnet
        self.later("vnet_ready", self._vnet_ready, vid)
        return vnet

    def _vnet_ready(self, vid: int) -> None:
        vnet = self.db["vnets"].get(str(vid))
        if vnet is None or vnet["state"] != VN_LOCK_CREATE:
            return
        for key in ("OUTER_VLAN_ID", "VLAN_ID"):
            if tpl.get(vnet["template"], key) is None:
                vnet["template"].append([key, ""])
        vnet["init_ars"] = []
        vnet["state"] = VN_READY
        vnet["prev_state"] = VN_READY

    def vn_allocate(self, user: Dict[str, Any], text: str, cluster_id: int = -1) -> int:
        """one.vn.allocate."""
        attrs = self.parse_template(text)
        if cluster_id == -1:
            cluster_id = 0
        self.get("clusters", cluster_id, "cluster")
        return self._new_vnet(user, attrs, cluster_id)["id"]

    def _vnet(self, user: Dict[str, Any], vid: int, op: str) -> Dict[str, Any]:
        vnet = self.get("vnets", vid, "virtual network")
        self.authorize(user, vnet, op, "NET")
        return vnet

    def vn_info(self, user: Dict[str, Any], vid: int, decrypt: bool = False) -> str:
        """one.vn.info."""
        del decrypt
        return self.vnet_xml(self._vnet(user, vid, USE))

    def vnpool_info(self, user: Dict[str, Any], flt: int, start: int, end: int) -> str:
        """one.vnpool.info."""
        return "<VNET_POOL>%s</VNET_POOL>" % "".join(self.vnet_xml(v, pool=True) for v in self.pool_filter(user, "vnets", flt, start, end))

    def vn_update(self, user: Dict[str, Any], vid: int, text: str, append: int) -> int:
        """one.vn.update (replace keeps what oned keeps: VN_MAD, BRIDGE, ...)."""
        vnet = self._vnet(user, vid, MANAGE)
        new = self.update_template(vnet["template"], text, append)
        if append == 0:
            for key in ("VN_MAD", "BRIDGE", "BRIDGE_TYPE", "PHYDEV", "VLAN_ID", "OUTER_VLAN_ID"):
                if tpl.get(new, key) is None and tpl.get(vnet["template"], key) is not None:
                    new.append([key, tpl.get(vnet["template"], key)])
        tpl.remove(new, "AR")
        vnet["template"] = new
        vnet["bridge"] = tpl.get_str(new, "BRIDGE", vnet["bridge"]) or vnet["bridge"]
        return vid

    def vn_delete(self, user: Dict[str, Any], vid: int) -> int:
        """one.vn.delete (LOCK_DELETE, then gone)."""
        vnet = self._vnet(user, vid, MANAGE)
        if self.used_leases(vnet):
            raise OneError(ACTION, "Cannot delete virtual network. Can not remove a virtual network with leases in use")
        vnet["state"] = VN_LOCK_DELETE
        vnet["prev_state"] = VN_LOCK_DELETE
        if vnet.get("parent") is not None:
            parent = self.db["vnets"].get(str(vnet["parent"]))
            if parent:
                for ar in parent["ars"]:
                    for index in [i for i, o in ar["leases"].items() if o.get("vnet") == vid]:
                        del ar["leases"][index]
        self.later("vnet_ready", self._vnet_gone, vid)
        return vid

    def _vnet_gone(self, vid: int) -> None:
        self.db["vnets"].pop(str(vid), None)

    def vn_add_ar(self, user: Dict[str, Any], vid: int, text: str) -> int:
        """one.vn.add_ar."""
        vnet = self._vnet(user, vid, MANAGE)
        vecs = [v for v in tpl.get_all(self.parse_template(text), "AR") if isinstance(v, dict)]
        if not vecs:
            raise OneError(INTERNAL, "Wrong AR definition. AR vector attribute is missing.")
        next_id = max([a["ar_id"] for a in vnet["ars"]] + [-1]) + 1
        vnet["ars"].append(self._build_ar(dict(vecs[0]), next_id))
        return vid

    def vn_update_ar(self, user: Dict[str, Any], vid: int, text: str) -> int:
        """one.vn.update_ar (SIZE and custom attributes)."""
        vnet = self._vnet(user, vid, MANAGE)
        vecs = [v for v in tpl.get_all(self.parse_template(text), "AR") if isinstance(v, dict)]
        if not vecs or "AR_ID" not in vecs[0]:
            raise OneError(INTERNAL, "Wrong AR definition. AR vector attribute is missing.")
        vec = vecs[0]
        for ar in vnet["ars"]:
            if str(ar["ar_id"]) == vec["AR_ID"]:
                if "SIZE" in vec:
                    try:
                        size = int(vec["SIZE"])
                    except ValueError:
                        size = 0
                    if size <= 0 or any(int(i) >= size for i in ar["leases"]):
                        raise OneError(INTERNAL, "Wrong SIZE for address range")
                    ar["size"] = size
                for key, value in vec.items():
                    if key not in ("AR_ID", "SIZE", "TYPE", "IP", "MAC", "SHARED", "GLOBAL_PREFIX", "ULA_PREFIX"):
                        ar["attrs"][key] = value
                return vid
        raise OneError(INTERNAL, "Address Range with ID %s was not found." % vec["AR_ID"])

    def vn_rm_ar(self, user: Dict[str, Any], vid: int, ar_id: int, force: bool = False) -> int:
        """one.vn.rm_ar."""
        vnet = self._vnet(user, vid, MANAGE)
        for ar in vnet["ars"]:
            if ar["ar_id"] == ar_id:
                if ar["leases"] and not force:
                    raise OneError(INTERNAL, "Address Range has leases in use")
                vnet["ars"].remove(ar)
                return vid
        raise OneError(INTERNAL, "Address Range does not exist")

    def vn_free_ar(self, user: Dict[str, Any], vid: int, ar_id: int) -> int:
        """one.vn.free_ar (frees holds and reservations of an AR)."""
        vnet = self._vnet(user, vid, MANAGE)
        for ar in vnet["ars"]:
            if ar["ar_id"] == ar_id:
                ar["leases"] = {i: o for i, o in ar["leases"].items() if o.get("vm", HOLD_VM) != HOLD_VM}
                return vid
        raise OneError(INTERNAL, "Address Range does not exist")

    def _lease_spec(self, text: str) -> Dict[str, str]:
        leases = tpl.get(self.parse_template(text), "LEASES")
        if not isinstance(leases, dict):
            raise OneError(INTERNAL, "Missing LEASES attribute")
        return leases

    def vn_hold(self, user: Dict[str, Any], vid: int, text: str, ar_id: int = -1) -> int:
        """one.vn.hold."""
        vnet = self._vnet(user, vid, MANAGE)
        spec = self._lease_spec(text)
        if ar_id >= 0:
            spec["AR_ID"] = str(ar_id)
        found = self._find_addr(vnet, spec)
        if not found or str(found[1]) in found[0]["leases"]:
            raise OneError(INTERNAL, "Address is not part of the address range or in use.")
        found[0]["leases"][str(found[1])] = {"vm": HOLD_VM}
        found[0]["allocated"] = True
        return vid

    def vn_release(self, user: Dict[str, Any], vid: int, text: str) -> int:
        """one.vn.release (only held addresses)."""
        vnet = self._vnet(user, vid, MANAGE)
        found = self._find_addr(vnet, self._lease_spec(text))
        if not found or found[0]["leases"].get(str(found[1]), {}).get("vm") != HOLD_VM:
            raise OneError(INTERNAL, "Address is not part of the address range or in use.")
        del found[0]["leases"][str(found[1])]
        return vid

    def vn_reserve(self, user: Dict[str, Any], vid: int, text: str) -> int:
        """one.vn.reserve: SIZE addresses into a new (NAME) or existing (NETWORK_ID) reservation."""
        parent = self._vnet(user, vid, USE)
        attrs = self.parse_template(text)
        try:
            size = int(tpl.get_str(attrs, "SIZE", "") or "")
        except ValueError:
            raise OneError(ACTION, "Reservation SIZE must be a greater than 0") from None
        if size <= 0:
            raise OneError(ACTION, "Reservation SIZE must be a greater than 0")
        ar_filter = tpl.get_str(attrs, "AR_ID")
        chosen = None
        for ar in parent["ars"]:
            if ar_filter is not None and str(ar["ar_id"]) != ar_filter:
                continue
            free = [i for i in range(ar["size"]) if str(i) not in ar["leases"]]
            if len(free) >= size:
                chosen = (ar, free[:size])
                break
        if chosen is None:
            raise OneError(ACTION, "Not enough free addresses in an address range")
        target_id = tpl.get_str(attrs, "NETWORK_ID")
        ar, indexes = chosen
        if target_id is not None:
            target = self._vnet(user, int(target_id), MANAGE)
        else:
            name = tpl.get_str(attrs, "NAME", "") or ""
            if not name:
                raise OneError(ACTION, "NAME for the reservation has to be set")
            base = [a for a in tpl.copy(parent["template"]) if a[0] not in ("NAME",)]
            base.append(["NAME", name])
            if tpl.get(base, "VN_MAD") is None:
                base.append(["VN_MAD", parent["vn_mad"]])
            target = self._new_vnet(user, base, parent["clusters"][0], parent=parent["id"])
            target["init_ars"] = []
        new_ar = {"ar_id": len(target["ars"]), "type": ar["type"], "ip": None if ar["ip"] is None else ar["ip"] + indexes[0],
                  "mac": ar["mac"] + indexes[0], "size": size, "attrs": {"PARENT_NETWORK_AR_ID": str(ar["ar_id"])}, "leases": {}}
        for key in ("GLOBAL_PREFIX", "ULA_PREFIX"):
            if key in ar["attrs"]:
                new_ar["attrs"][key] = ar["attrs"][key]
        target["ars"].append(new_ar)
        for index in indexes:
            ar["leases"][str(index)] = {"vnet": target["id"]}
        ar["allocated"] = True
        return target["id"]

    def vn_chmod(self, user: Dict[str, Any], vid: int, *perms: int) -> int:
        """one.vn.chmod."""
        vnet = self._vnet(user, vid, MANAGE)
        self.chmod_obj(vnet, list(perms))
        return vid

    def vn_chown(self, user: Dict[str, Any], vid: int, uid: int, gid: int) -> int:
        """one.vn.chown."""
        vnet = self._vnet(user, vid, MANAGE)
        self.chown_obj(user, vnet, uid, gid)
        return vid

    def vn_rename(self, user: Dict[str, Any], vid: int, name: str) -> int:
        """one.vn.rename."""
        vnet = self._vnet(user, vid, MANAGE)
        self.rename_obj("vnets", vnet, name, "virtual network")
        return vid
