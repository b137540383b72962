"""The emulated oned: object store, authentication, permissions, users, groups, system calls.

Objects are plain JSON-serialisable dicts in ``self.db`` so that ``--state FILE`` can persist
them.  The resource families live in mixins (hosts, vnets, images, templates, VMs).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from . import template as tpl
from . import xmlout as X
from .backend import VMBackend
from .engine import Engine
from .errors import ACTION, AUTH_FAILED, AUTHENTICATION, AUTHORIZATION, INCOMPLETE_METHOD, INTERNAL, XML_RPC_API, OneError, RpcFault, not_found

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
VERSION = "7.2.0"

# Real dummy-driver timings, in seconds (see golden/timings.json); divided by the speed factor.
TIMING = {
    "host_monitor_first": 2.95,
    "host_monitor_interval": 120.0,
    "sched_window": 10.0,
    "driver_step": 0.013,
    "lcm_init": 0.005,
    "image_ready": 0.022,
    "vnet_ready": 0.022,
    "vm_monitor_first": 33.0,
    "vm_monitor_interval": 30.0,
    "shutdown_timeout": 2.0,
    "action_queue": 0.02,
}

MANAGE = "MANAGE"
USE = "USE"
ADMIN = "ADMIN"
DEFAULT_PERMS = [1, 1, 0, 0, 0, 0, 0, 0, 0]


def sha256(text: str) -> str:
    """Hex sha256 (how oned stores core passwords)."""
    return hashlib.sha256(text.encode()).hexdigest()


def ctime(ts: float) -> str:
    """oned's date format in error messages (``Thu Nov 26 13:52:44 2026``)."""
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(ts))


class Method:
    """Registered XML-RPC method: signature (``s`` string, ``i`` int, ``b`` bool, ``|`` optional)."""

    def __init__(self, name: str, signature: str, func: Callable[..., Any], mutates: bool = True) -> None:
        self.name = name
        self.func = func
        self.mutates = mutates
        required, _bar, optional = signature.partition("|")
        self.required = required
        self.optional = optional


class Base:  # pylint: disable=too-many-public-methods
    """Shared state and helpers."""

    KINDS = ["user", "group", "cluster", "datastore", "host", "vnet", "image", "template", "vm"]

    def __init__(self, password: str = "opennebula", speed: float = 1.0, state_file: Optional[str] = None,
                 backend: Optional[VMBackend] = None) -> None:
        self.lock = threading.RLock()
        self.engine = Engine(self.lock, speed)
        self.engine.on_idle = self._flush
        self.backend = backend or VMBackend()
        self.state_file = state_file
        self.dirty = False
        self.request_id = 6000
        self.methods: Dict[str, Method] = {}
        self.faults: Dict[str, List[Dict[str, Any]]] = {}
        self.db: Dict[str, Any] = {}
        self.loaded = False
        self.vm_monitor_started = False
        self.driver_busy_until = 0.0
        if state_file and os.path.exists(state_file):
            with open(state_file, encoding="utf-8") as handle:
                self.db = json.load(handle)
            self.loaded = True
        else:
            self._bootstrap(password)
        if password and self.loaded:
            self.db["users"]["0"]["password"] = sha256(password)
        self._register_all()
        getattr(self.backend, "bind", lambda emulator: None)(self)

    # ------------------------------------------------------------------ store
    def _bootstrap(self, password: str) -> None:
        now = int(time.time())
        self.db = {
            "next": {"user": 2, "group": 100, "host": 0, "vnet": 0, "image": 0, "template": 0, "vm": 0, "cluster": 100},
            "users": {}, "groups": {}, "clusters": {}, "datastores": {},
            "hosts": {}, "vnets": {}, "images": {}, "templates": {}, "vms": {},
            "started": now,
        }
        self.db["users"]["0"] = self._new_user(0, "oneadmin", password, 0, "core")
        self.db["users"]["1"] = self._new_user(1, "serveradmin", secrets.token_hex(16), 0, "server_cipher")
        self.db["groups"]["0"] = {"id": 0, "name": "oneadmin", "template": [], "users": [0, 1], "admins": []}
        self.db["groups"]["1"] = {"id": 1, "name": "users", "admins": [], "users": [], "template": [
            ["SUNSTONE", {"DEFAULT_VIEW": "cloud", "GROUP_ADMIN_DEFAULT_VIEW": "groupadmin",
                          "GROUP_ADMIN_VIEWS": "groupadmin,cloud", "VIEWS": "cloud"}]]}
        self.db["clusters"]["0"] = {"id": 0, "name": "default", "template": [["RESERVED_CPU", ""], ["RESERVED_MEM", ""]]}
        self._bootstrap_datastores()

    def _new_user(self, uid: int, name: str, password: str, gid: int, driver: str) -> Dict[str, Any]:
        return {"id": uid, "name": name, "gid": gid, "groups": [gid], "password": sha256(password),
                "driver": driver, "enabled": 1, "template": [["TOKEN_PASSWORD", secrets.token_hex(32)]], "tokens": {}}

    def _bootstrap_datastores(self) -> None:
        ds = self.db["datastores"]
        ds["0"] = {"id": 0, "name": "system", "perms": [1, 1, 0, 1, 0, 0, 0, 0, 0], "ds_mad": "-", "tm_mad": "dummy", "type": 1,
                   "total": 4796800, "free": 3333260, "used": 1429920, "images": [],
                   "template": [["ALLOW_ORPHANS", "NO"], ["DISK_TYPE", "FILE"], ["DS_LIVE_MIGRATE", "YES"], ["DS_MIGRATE", "YES"],
                                ["DS_MIGRATE_SNAP", "YES"], ["PERSISTENT_SNAPSHOTS", "YES"], ["RESTRICTED_DIRS", "/"],
                                ["SAFE_DIRS", "/var/tmp"], ["SHARED", "YES"], ["TM_MAD", "dummy"], ["TYPE", "SYSTEM_DS"]]}
        ds["1"] = {"id": 1, "name": "default", "perms": [1, 1, 0, 1, 0, 0, 0, 0, 0], "ds_mad": "dummy", "tm_mad": "dummy", "type": 0,
                   "total": 20480, "free": 20480, "used": 9720, "images": [],
                   "template": [["ALLOW_ORPHANS", "NO"], ["CLONE_TARGET", "SYSTEM"], ["DISK_TYPE", "FILE"], ["DS_MAD", "dummy"],
                                ["LN_TARGET", "NONE"], ["PERSISTENT_SNAPSHOTS", "YES"], ["RESTRICTED_DIRS", "/"],
                                ["SAFE_DIRS", "/var/tmp"], ["TM_MAD", "dummy"], ["TYPE", "IMAGE_DS"]]}
        ds["2"] = {"id": 2, "name": "files", "perms": [1, 1, 0, 1, 0, 0, 0, 0, 0], "ds_mad": "fs", "tm_mad": "local", "type": 2,
                   "total": 258020, "free": 76505, "used": 27394, "images": [],
                   "template": [["ALLOW_ORPHANS", "FORMAT"], ["CLONE_TARGET", "SYSTEM"], ["DS_MAD", "fs"], ["LN_TARGET", "SYSTEM"],
                                ["PERSISTENT_SNAPSHOTS", "YES"], ["RESTRICTED_DIRS", "/"], ["SAFE_DIRS", "/var/tmp"],
                                ["TM_MAD", "local"], ["TYPE", "FILE_DS"]]}

    def next_id(self, kind: str) -> int:
        """Allocate the next object ID of ``kind`` (IDs are never reused, as in oned)."""
        oid = self.db["next"][kind]
        self.db["next"][kind] = oid + 1
        return oid

    def mark_dirty(self) -> None:
        """Note that state must be persisted."""
        self.dirty = True

    def _flush(self) -> None:
        if self.state_file and self.dirty:
            self.save()

    def save(self) -> None:
        """Write the state file atomically."""
        if not self.state_file:
            return
        with self.lock:
            tmp = self.state_file + ".tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(self.db, handle)
            os.replace(tmp, self.state_file)
            self.dirty = False

    def now(self) -> int:
        """Wall-clock epoch seconds for documents."""
        return int(time.time())

    def later(self, delay_key: str, func: Callable[..., Any], *args: Any, factor: float = 1.0) -> None:
        """Schedule ``func`` after the named dummy-driver delay."""
        self.engine.later(TIMING[delay_key] * factor, self._guarded, func, args)

    def _guarded(self, func: Callable[..., Any], args: tuple) -> None:
        func(*args)
        self.mark_dirty()

    # ------------------------------------------------------------------ registry
    def register(self, name: str, signature: str, func: Callable[..., Any], mutates: bool = True) -> None:
        """Add an XML-RPC method."""
        self.methods[name] = Method(name, signature, func, mutates)

    def _register_all(self) -> None:
        reg = self.register
        reg("one.system.version", "s", self.system_version, False)
        reg("one.system.config", "s", self.system_config, False)
        reg("one.user.info", "si|b", self.user_info, False)
        reg("one.user.allocate", "ssss|a", self.user_allocate)
        reg("one.user.delete", "si", self.user_delete)
        reg("one.user.passwd", "sis", self.user_passwd)
        reg("one.user.chgrp", "sii", self.user_chgrp)
        reg("one.user.update", "sisi", self.user_update)
        reg("one.user.login", "sssi|i", self.user_login)
        reg("one.userpool.info", "s", self.userpool_info, False)
        reg("one.group.allocate", "ss", self.group_allocate)
        reg("one.group.info", "si|b", self.group_info, False)
        reg("one.group.delete", "si", self.group_delete)
        reg("one.grouppool.info", "s", self.grouppool_info, False)
        reg("one.cluster.info", "si|b", self.cluster_info, False)
        reg("one.clusterpool.info", "s", self.clusterpool_info, False)
        reg("one.datastore.info", "si|b", self.datastore_info, False)
        reg("one.datastore.update", "sisi", self.datastore_update)
        reg("one.datastorepool.info", "s", self.datastorepool_info, False)
        for mixin in type(self).__mro__:
            hook = mixin.__dict__.get("_register")
            if hook:
                hook(self)

    # ------------------------------------------------------------------ auth
    def authenticate(self, session: Any) -> Dict[str, Any]:
        """Resolve ``user:password`` or ``user:token``; oned's 0x100 on any failure."""
        if not isinstance(session, str) or session.count(":") < 1:
            raise OneError(AUTHENTICATION, AUTH_FAILED)
        name, _colon, secret = session.partition(":")
        if not name or not secret or ":" in secret:
            raise OneError(AUTHENTICATION, AUTH_FAILED)
        for user in self.db["users"].values():
            if user["name"] != name:
                continue
            if not user["enabled"]:
                break
            if user["password"] == sha256(secret) or user["password"] == secret:
                return user
            token = user["tokens"].get(secret)
            if token and (token["exp"] < 0 or token["exp"] > time.time()):
                return user
            break
        raise OneError(AUTHENTICATION, AUTH_FAILED)

    @staticmethod
    def is_admin(user: Dict[str, Any]) -> bool:
        """oneadmin or a member of the oneadmin group."""
        return user["id"] == 0 or 0 in user["groups"]

    def authorize(self, user: Dict[str, Any], obj: Dict[str, Any], op: str, kind: str) -> None:
        """oned's owner/group/other permission check (0x200)."""
        if self.can(user, obj, op):
            return
        raise OneError(AUTHORIZATION, "User [%d] : Not authorized to perform %s %s [%d]." % (user["id"], op, kind, obj["id"]))

    def can(self, user: Dict[str, Any], obj: Dict[str, Any], op: str) -> bool:
        """Whether ``user`` may ``op`` (USE/MANAGE/ADMIN) ``obj``."""
        if self.is_admin(user):
            return True
        perms = obj.get("perms", DEFAULT_PERMS)
        col = {USE: 0, MANAGE: 1, ADMIN: 2}[op]
        if obj.get("uid") == user["id"] and perms[col]:
            return True
        if obj.get("gid") in user["groups"] and perms[3 + col]:
            return True
        return bool(perms[6 + col])

    def require_admin(self, user: Dict[str, Any], op: str, kind: str, oid: int = -1) -> None:
        """Only oneadmin-group members (host, cluster, user management)."""
        if not self.is_admin(user):
            obj = " [%d]" % oid if oid >= 0 else ""
            raise OneError(AUTHORIZATION, "User [%d] : Not authorized to perform %s %s%s." % (user["id"], op, kind, obj))

    def get(self, coll: str, oid: int, kind: str) -> Dict[str, Any]:
        """Object by ID or oned's 0x400."""
        obj = self.db[coll].get(str(oid))
        if obj is None:
            raise not_found(kind, oid)
        return obj

    def owner_fields(self, user: Dict[str, Any]) -> Dict[str, Any]:
        """uid/gid/uname/gname for a new object."""
        return {"uid": user["id"], "gid": user["gid"], "perms": list(DEFAULT_PERMS)}

    def uname(self, uid: int) -> str:
        """User name (or empty)."""
        user = self.db["users"].get(str(uid))
        return user["name"] if user else ""

    def gname(self, gid: int) -> str:
        """Group name (or empty)."""
        group = self.db["groups"].get(str(gid))
        return group["name"] if group else ""

    def owner_xml(self, obj: Dict[str, Any]) -> str:
        """``<UID/><GID/><UNAME/><GNAME/>``."""
        names = X.el("UNAME", self.uname(obj["uid"])) + X.el("GNAME", self.gname(obj["gid"]))
        return "<UID>%d</UID><GID>%d</GID>%s" % (obj["uid"], obj["gid"], names)

    def pool_filter(self, user: Dict[str, Any], coll: str, flt: int, start: int, end: int) -> List[Dict[str, Any]]:
        """oned's pool filter (-4 group, -3 mine, -2 all, -1 mine+group, >=0 that user) and ID range, DESC order."""
        if flt < -4:
            raise OneError(XML_RPC_API, "Incorrect filter_flag.")
        out = []
        for obj in self.db[coll].values():
            oid = obj["id"]
            if start >= 0 and end >= 0 and not start <= oid <= end:
                continue
            if start >= 0 > end and oid < start:
                continue
            if flt == -3 and obj.get("uid") != user["id"]:
                continue
            if flt == -4 and obj.get("gid") not in user["groups"]:
                continue
            if flt == -1 and not (obj.get("uid") == user["id"] or obj.get("gid") in user["groups"]):
                continue
            if flt >= 0 and obj.get("uid") != flt:
                continue
            if not self.can(user, obj, USE):
                continue
            out.append(obj)
        out.sort(key=lambda o: o["id"], reverse=True)
        return out

    def chmod_obj(self, obj: Dict[str, Any], values: List[int]) -> None:
        """Apply a chmod (``-1`` keeps a bit)."""
        for i, value in enumerate(values):
            if value not in (-1, 0, 1):
                raise OneError(XML_RPC_API, "Wrong permission value.")
            if value != -1:
                obj["perms"][i] = value

    def chown_obj(self, user: Dict[str, Any], obj: Dict[str, Any], uid: int, gid: int) -> None:
        """Change owner/group (``-1`` keeps)."""
        if uid >= 0:
            self.get("users", uid, "user")
            if not self.is_admin(user):
                raise OneError(AUTHORIZATION, "User [%d] : Not authorized to perform MANAGE USER [%d]." % (user["id"], uid))
            obj["uid"] = uid
        if gid >= 0:
            self.get("groups", gid, "group")
            if not self.is_admin(user) and gid not in user["groups"]:
                raise OneError(AUTHORIZATION, "User [%d] : Not authorized to perform USE GROUP [%d]." % (user["id"], gid))
            obj["gid"] = gid

    def check_name(self, name: str) -> None:
        """Names: not empty, no control characters."""
        if not name:
            raise OneError(ACTION, "Invalid NAME, it cannot be empty")

    def rename_obj(self, coll: str, obj: Dict[str, Any], name: str, label: str, unique_by_owner: bool = True) -> None:
        """oned's rename with its collision message."""
        if not name:
            raise OneError(ACTION, "Invalid NAME, it cannot be empty")
        for other in self.db[coll].values():
            if other["id"] != obj["id"] and other["name"] == name and (not unique_by_owner or other.get("uid") == obj.get("uid")):
                raise OneError(ACTION, "%s cannot be renamed to %s because it collides with %s %d" % (label, name, label, other["id"]))
        obj["name"] = name

    @staticmethod
    def parse_template(text: Any) -> List[tpl.Attr]:
        """Parse template text or raise oned's parse error (0x2000)."""
        try:
            return tpl.parse(text)
        except tpl.TemplateSyntaxError as exc:
            raise OneError(INTERNAL, str(exc)) from None

    def update_template(self, current: List[tpl.Attr], text: str, append: int) -> List[tpl.Attr]:
        """``update`` semantics: 0 replace, 1 merge."""
        new = self.parse_template(text)
        if append not in (0, 1):
            raise OneError(XML_RPC_API, "Wrong update type")
        return tpl.merge(current, new) if append == 1 else new

    def next_request_id(self) -> int:
        """oned's REQUEST_ID stamped on history records."""
        self.request_id += 1
        return self.request_id

    # ------------------------------------------------------------------ system
    def system_version(self, user: Dict[str, Any]) -> str:
        """one.system.version."""
        del user
        return VERSION

    def system_config(self, user: Dict[str, Any]) -> str:
        """one.system.config (oned.conf as XML)."""
        self.require_admin(user, "MANAGE", "SYSTEM")
        with open(os.path.join(DATA_DIR, "oned_config.xml"), encoding="utf-8") as handle:
            return handle.read()

    # ------------------------------------------------------------------ users
    def user_xml(self, user: Dict[str, Any], pool: bool = False) -> str:
        """USER document (pool form puts quotas beside it)."""
        parts = ["<ID>%d</ID><GID>%d</GID>" % (user["id"], user["gid"]), X.ids("GROUPS", user["groups"]),
                 X.el("GNAME", self.gname(user["gid"])), X.el("NAME", user["name"]), X.cel("PASSWORD", user["password"]),
                 X.cel("AUTH_DRIVER", user["driver"]), "<ENABLED>%d</ENABLED>" % user["enabled"]]
        if not pool:
            for token, data in sorted(user["tokens"].items()):
                parts.append("<LOGIN_TOKEN><TOKEN>%s</TOKEN><EXPIRATION_TIME>%d</EXPIRATION_TIME><EGID>%d</EGID></LOGIN_TOKEN>"
                             % (token, data["exp"], data["egid"]))
        parts.append(X.template("TEMPLATE", user["template"]))
        if not pool:
            parts.append(self._quotas_inner() + "<DEFAULT_USER_QUOTAS>" + self._quotas_inner() + "</DEFAULT_USER_QUOTAS>")
        return "<USER>%s</USER>" % "".join(parts)

    @staticmethod
    def _quotas_inner() -> str:
        return "<DATASTORE_QUOTA></DATASTORE_QUOTA><NETWORK_QUOTA></NETWORK_QUOTA><VM_QUOTA></VM_QUOTA><IMAGE_QUOTA></IMAGE_QUOTA>"

    def user_info(self, user: Dict[str, Any], uid: int, decrypt: bool = False) -> str:
        """one.user.info (-1 = the caller)."""
        del decrypt
        target = user if uid == -1 else self.get("users", uid, "user")
        if target["id"] != user["id"]:
            self.require_admin(user, "USE", "USER", target["id"])
        return self.user_xml(target)

    def userpool_info(self, user: Dict[str, Any]) -> str:
        """one.userpool.info."""
        users = sorted(self.db["users"].values(), key=lambda u: u["id"], reverse=True)
        if not self.is_admin(user):
            users = [u for u in users if u["id"] == user["id"]]
        body = "".join(self.user_xml(u, pool=True) + "<QUOTAS><ID>%d</ID>%s</QUOTAS>" % (u["id"], self._quotas_inner()) for u in users)
        return "<USER_POOL>%s<DEFAULT_USER_QUOTAS>%s</DEFAULT_USER_QUOTAS></USER_POOL>" % (body, self._quotas_inner())

    def user_allocate(self, user: Dict[str, Any], name: str, password: str, driver: str, groups: Any = None) -> int:
        """one.user.allocate (groups: array of group IDs, the first is the primary; default users)."""
        self.require_admin(user, "CREATE", "USER")
        if not name:
            raise OneError(0x4000, "Error allocating a new user. Invalid NAME, it cannot be empty")
        for other in self.db["users"].values():
            if other["name"] == name:
                raise OneError(0x4000, "Error allocating a new user. NAME is already taken by USER %d." % other["id"])
        if any(not isinstance(g, int) or isinstance(g, bool) for g in groups or []):
            # oned reads each element with xmlrpc_c::value_int, whose type error escapes the method
            raise RpcFault(-500, INCOMPLETE_METHOD + "Not integer type.  See type() method")
        gids = list(groups) if groups else [1]
        for gid in gids:
            self.get("groups", gid, "group")
        uid = self.next_id("user")
        new = self._new_user(uid, name, password, gids[0], driver or "core")
        new["groups"] = gids
        self.db["users"][str(uid)] = new
        for gid in gids:
            self.db["groups"][str(gid)]["users"].append(uid)
        return uid

    def user_delete(self, user: Dict[str, Any], uid: int) -> int:
        """one.user.delete."""
        self.require_admin(user, "ADMIN", "USER", uid)
        target = self.get("users", uid, "user")
        if uid in (0, 1):
            raise OneError(ACTION, "Cannot delete user. System users cannot be deleted.")
        for gid in target["groups"]:
            group = self.db["groups"].get(str(gid))
            if group and uid in group["users"]:
                group["users"].remove(uid)
        del self.db["users"][str(uid)]
        return uid

    def user_passwd(self, user: Dict[str, Any], uid: int, password: str) -> int:
        """one.user.passwd."""
        target = self.get("users", uid, "user")
        if target["id"] != user["id"]:
            self.require_admin(user, "MANAGE", "USER", uid)
        if not password:
            raise OneError(ACTION, "Invalid password, it cannot be empty")
        target["password"] = sha256(password)
        return uid

    def user_chgrp(self, user: Dict[str, Any], uid: int, gid: int) -> int:
        """one.user.chgrp."""
        self.require_admin(user, "MANAGE", "USER", uid)
        target = self.get("users", uid, "user")
        group = self.get("groups", gid, "group")
        old = self.db["groups"].get(str(target["gid"]))
        if old and uid in old["users"]:
            old["users"].remove(uid)
        target["groups"] = [g for g in target["groups"] if g != target["gid"]] + [gid]
        target["gid"] = gid
        if uid not in group["users"]:
            group["users"].append(uid)
        return uid

    def user_update(self, user: Dict[str, Any], uid: int, text: str, append: int) -> int:
        """one.user.update."""
        target = self.get("users", uid, "user")
        if target["id"] != user["id"]:
            self.require_admin(user, "MANAGE", "USER", uid)
        target["template"] = self.update_template(target["template"], text, append)
        return uid

    def user_login(self, user: Dict[str, Any], name: str, token: str, valid: int, egid: int = -1) -> str:
        """one.user.login: create (valid > 0 or -1), or revoke (valid 0) a login token."""
        target = None
        for other in self.db["users"].values():
            if other["name"] == name:
                target = other
        if target is None:
            raise OneError(0x1000, "Error getting user %s." % name)
        if target["id"] != user["id"]:
            self.require_admin(user, "MANAGE", "USER", target["id"])
        if valid == 0:
            if token not in target["tokens"]:
                raise OneError(XML_RPC_API, "Could not find token: %s" % token)
            del target["tokens"][token]
            return token
        token = token or secrets.token_hex(32)
        exp = -1 if valid < 0 else int(time.time()) + valid
        target["tokens"][token] = {"exp": exp, "egid": egid}
        return token

    # ------------------------------------------------------------------ groups
    def group_xml(self, group: Dict[str, Any]) -> str:
        """GROUP document."""
        parts = [X.el("NAME", group["name"]), X.template("TEMPLATE", group["template"]), X.ids("USERS", sorted(group["users"])),
                 X.ids("ADMINS", group["admins"])]
        return "<GROUP><ID>%d</ID>%s</GROUP>" % (group["id"], "".join(parts))

    def group_info(self, user: Dict[str, Any], gid: int, decrypt: bool = False) -> str:
        """one.group.info."""
        del decrypt
        if gid == -1:
            gid = user["gid"]
        group = self.get("groups", gid, "group")
        if gid not in user["groups"]:
            self.require_admin(user, "USE", "GROUP", gid)
        return self.group_xml(group) + ""

    def grouppool_info(self, user: Dict[str, Any]) -> str:
        """one.grouppool.info."""
        groups = sorted(self.db["groups"].values(), key=lambda g: g["id"], reverse=True)
        if not self.is_admin(user):
            groups = [g for g in groups if g["id"] in user["groups"]]
        body = "".join(self.group_xml(g) + "<QUOTAS><ID>%d</ID>%s</QUOTAS>" % (g["id"], self._quotas_inner()) for g in groups)
        return "<GROUP_POOL>%s<DEFAULT_GROUP_QUOTAS>%s</DEFAULT_GROUP_QUOTAS></GROUP_POOL>" % (body, self._quotas_inner())

    def group_allocate(self, user: Dict[str, Any], name: str) -> int:
        """one.group.allocate."""
        self.require_admin(user, "CREATE", "GROUP")
        if not name:
            raise OneError(0x4000, "Error allocating a new group. Invalid NAME, it cannot be empty")
        for other in self.db["groups"].values():
            if other["name"] == name:
                raise OneError(0x4000, "Error allocating a new group. NAME is already taken by GROUP %d." % other["id"])
        gid = self.next_id("group")
        self.db["groups"][str(gid)] = {"id": gid, "name": name, "template": [], "users": [], "admins": []}
        return gid

    def group_delete(self, user: Dict[str, Any], gid: int) -> int:
        """one.group.delete."""
        self.require_admin(user, "ADMIN", "GROUP", gid)
        group = self.get("groups", gid, "group")
        if gid < 100:
            raise OneError(ACTION, "Cannot delete group. System groups cannot be deleted.")
        if group["users"]:
            raise OneError(ACTION, "Cannot delete group. Group %d is not empty." % gid)
        del self.db["groups"][str(gid)]
        return gid

    # ------------------------------------------------------------------ clusters / datastores
    def cluster_xml(self, cluster: Dict[str, Any]) -> str:
        """CLUSTER document."""
        cid = cluster["id"]
        hosts = sorted(h["id"] for h in self.db["hosts"].values() if h["cluster_id"] == cid)
        vnets = sorted(v["id"] for v in self.db["vnets"].values() if cid in v["clusters"])
        dss = sorted(d["id"] for d in self.db["datastores"].values()) if cid == 0 else []
        return "<CLUSTER><ID>%d</ID>%s%s%s%s%s</CLUSTER>" % (cid, X.el("NAME", cluster["name"]), X.ids("HOSTS", hosts), X.ids("DATASTORES", dss),
                                                             X.ids("VNETS", vnets), X.template("TEMPLATE", cluster["template"]))

    def cluster_info(self, user: Dict[str, Any], cid: int, decrypt: bool = False) -> str:
        """one.cluster.info."""
        del decrypt
        return self.cluster_xml(self.get("clusters", cid, "cluster")) if user else ""

    def clusterpool_info(self, user: Dict[str, Any]) -> str:
        """one.clusterpool.info."""
        del user
        items = sorted(self.db["clusters"].values(), key=lambda c: c["id"], reverse=True)
        return "<CLUSTER_POOL>%s</CLUSTER_POOL>" % "".join(self.cluster_xml(c) for c in items)

    def datastore_xml(self, ds: Dict[str, Any]) -> str:
        """DATASTORE document."""
        ds.setdefault("uid", 0)
        ds.setdefault("gid", 0)
        return ("<DATASTORE><ID>%d</ID>%s%s%s%s%s%s<TYPE>%d</TYPE><DISK_TYPE>0</DISK_TYPE><STATE>0</STATE>%s"
                "<TOTAL_MB>%d</TOTAL_MB><FREE_MB>%d</FREE_MB><USED_MB>%d</USED_MB>%s%s</DATASTORE>") % (
            ds["id"], self.owner_xml(ds), X.el("NAME", ds["name"]), X.permissions(ds["perms"]), X.el("DS_MAD", ds["ds_mad"]),
            X.el("TM_MAD", ds["tm_mad"]), X.el("BASE_PATH", "/var/lib/one//datastores/%d" % ds["id"]), ds["type"],
            X.ids("CLUSTERS", [0]), ds["total"], ds["free"], ds["used"], X.ids("IMAGES", sorted(ds["images"])),
            X.template("TEMPLATE", ds["template"]))

    def datastore_info(self, user: Dict[str, Any], dsid: int, decrypt: bool = False) -> str:
        """one.datastore.info."""
        del decrypt
        ds = self.get("datastores", dsid, "datastore")
        self.authorize(user, ds, USE, "DATASTORE")
        return self.datastore_xml(ds)

    def datastore_update(self, user: Dict[str, Any], dsid: int, text: str, append: int) -> int:
        """one.datastore.update."""
        ds = self.get("datastores", dsid, "datastore")
        self.authorize(user, ds, MANAGE, "DATASTORE")
        ds["template"] = self.update_template(ds["template"], text, append)
        tm_mad = tpl.get_str(ds["template"], "TM_MAD")
        if tm_mad:
            ds["tm_mad"] = tm_mad
        ds_mad = tpl.get_str(ds["template"], "DS_MAD")
        if ds_mad and ds["type"] != 1:
            ds["ds_mad"] = ds_mad
        return dsid

    def datastorepool_info(self, user: Dict[str, Any]) -> str:
        """one.datastorepool.info."""
        items = [d for d in sorted(self.db["datastores"].values(), key=lambda d: d["id"], reverse=True) if self.can(user, d, USE)]
        return "<DATASTORE_POOL>%s</DATASTORE_POOL>" % "".join(self.datastore_xml(d) for d in items)
