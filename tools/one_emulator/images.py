"""Images (dummy datastore driver) and VM templates."""

from __future__ import annotations

from typing import Any, Dict, List

from . import template as tpl
from . import xmlout as X
from .core import MANAGE, USE, Base, ctime
from .errors import ACTION, ALLOCATE, INTERNAL, OneError

IMAGE_TYPES = ["OS", "CDROM", "DATABLOCK", "KERNEL", "RAMDISK", "CONTEXT", "BACKUP"]
IMG_INIT, IMG_READY, IMG_USED, IMG_DISABLED, IMG_LOCKED, IMG_ERROR, IMG_CLONE, IMG_DELETE, IMG_USED_PERS = 0, 1, 2, 3, 4, 5, 6, 7, 8
DUMMY_SIZE = 1024
IMAGE_BODY_ATTRS = ("NAME", "TYPE", "PATH", "SIZE", "FORMAT", "PERSISTENT", "SOURCE", "FS")


class ImagesMixin(Base):
    """one.image.*, one.imagepool.info, one.template.*, one.templatepool.info."""

    def _register(self) -> None:
        reg = self.register
        reg("one.image.allocate", "ssi|b", self.image_allocate)
        reg("one.image.info", "si|b", self.image_info, False)
        reg("one.image.delete", "si|b", self.image_delete)
        reg("one.image.update", "sisi", self.image_update)
        reg("one.image.chmod", "siiiiiiiiii", self.image_chmod)
        reg("one.image.chown", "siii", self.image_chown)
        reg("one.image.chtype", "sis", self.image_chtype)
        reg("one.image.persistent", "sib", self.image_persistent)
        reg("one.image.enable", "sib", self.image_enable)
        reg("one.image.rename", "sis", self.image_rename)
        reg("one.image.clone", "sisi", self.image_clone)
        reg("one.imagepool.info", "siii", self.imagepool_info, False)
        reg("one.template.allocate", "ss", self.template_allocate)
        reg("one.template.info", "si|bb", self.template_info, False)
        reg("one.template.update", "sisi", self.template_update)
        reg("one.template.delete", "si|b", self.template_delete)
        reg("one.template.clone", "sis|b", self.template_clone)
        reg("one.template.instantiate", "sisbs|b", self.template_instantiate)
        reg("one.template.chmod", "siiiiiiiiii|b", self.template_chmod)
        reg("one.template.chown", "siii", self.template_chown)
        reg("one.template.rename", "sis", self.template_rename)
        reg("one.templatepool.info", "siii", self.templatepool_info, False)

    # ------------------------------------------------------------------ images
    def image_xml(self, img: Dict[str, Any]) -> str:
        """IMAGE document."""
        ds = self.db["datastores"].get(str(img["ds_id"]), {"name": ""})
        return ("<IMAGE><ID>%d</ID>%s%s%s<TYPE>%d</TYPE><DISK_TYPE>0</DISK_TYPE><PERSISTENT>%d</PERSISTENT><REGTIME>%d</REGTIME>"
                "<MODTIME>%d</MODTIME>%s%s%s%s<SIZE>%d</SIZE><STATE>%d</STATE><PREV_STATE>%d</PREV_STATE><RUNNING_VMS>%d</RUNNING_VMS>"
                "<CLONING_OPS>%d</CLONING_OPS><CLONING_ID>%d</CLONING_ID><TARGET_SNAPSHOT>-1</TARGET_SNAPSHOT><DATASTORE_ID>%d</DATASTORE_ID>"
                "%s%s%s<APP_CLONES/>%s<SNAPSHOTS><ALLOW_ORPHANS>NO</ALLOW_ORPHANS><CURRENT_BASE>-1</CURRENT_BASE>"
                "<NEXT_SNAPSHOT>0</NEXT_SNAPSHOT></SNAPSHOTS><BACKUP_INCREMENTS/><BACKUP_DISK_IDS/></IMAGE>") % (
            img["id"], self.owner_xml(img), X.el("NAME", img["name"]), X.permissions(img["perms"]), img["type"], img["persistent"],
            img["regtime"], img["modtime"], X.el("SOURCE", img["source"]), X.el("PATH", img["path"]), X.el("FORMAT", img["format"]),
            X.el("FS", ""), img["size"], img["state"], img["prev_state"], len(img["vms"]), img.get("cloning_ops", 0), img.get("cloning_id", -1),
            img["ds_id"], X.el("DATASTORE", ds["name"]), X.ids("VMS", sorted(img["vms"])), X.ids("CLONES", img.get("clones", [])),
            X.template("TEMPLATE", img["template"]))

    def _image(self, user: Dict[str, Any], iid: int, op: str) -> Dict[str, Any]:
        img = self.get("images", iid, "image")
        self.authorize(user, img, op, "IMAGE")
        return img

    def _create_image(self, user: Dict[str, Any], attrs: List[tpl.Attr], ds_id: int) -> Dict[str, Any]:
        ds = self.get("datastores", ds_id, "datastore")
        name = tpl.get_str(attrs, "NAME", "") or ""
        if ds["type"] == 1:
            raise OneError(ALLOCATE, "Error allocating a new image. New images can only be allocated in a files or image datastore.")
        if not name:
            raise OneError(ALLOCATE, "Error allocating a new image. Invalid NAME, it cannot be empty")
        type_name = (tpl.get_str(attrs, "TYPE", "") or ("CONTEXT" if ds["type"] == 2 else "OS")).upper()
        if type_name not in IMAGE_TYPES:
            raise OneError(INTERNAL, "Unknown type %s" % type_name)
        path = tpl.get_str(attrs, "PATH", "") or ""
        size_text = tpl.get_str(attrs, "SIZE", "") or ""
        if path:
            size = DUMMY_SIZE
        else:
            try:
                size = int(size_text)
            except ValueError:
                size = -1
            if size < 0 or (type_name != "DATABLOCK" and not size_text):
                raise OneError(INTERNAL, "Cannot parse image SIZE: Wrong number or missing SIZE attribute.")
        for other in self.db["images"].values():
            if other["name"] == name and other["uid"] == user["id"]:
                raise OneError(ALLOCATE, "Error allocating a new image. NAME is already taken by IMAGE %d." % other["id"])
        persistent = (tpl.get_str(attrs, "PERSISTENT", "") or "").upper() in ("YES", "TRUE", "1")
        template = [a for a in tpl.copy(attrs) if a[0] not in IMAGE_BODY_ATTRS]
        if tpl.get(template, "DEV_PREFIX") is None:
            template.append(["DEV_PREFIX", "sd"])
        iid = self.next_id("image")
        now = self.now()
        img = dict(self.owner_fields(user))
        img.update({"id": iid, "name": name, "type": IMAGE_TYPES.index(type_name), "persistent": int(persistent), "regtime": now,
                    "modtime": now, "source": "", "path": path, "format": tpl.get_str(attrs, "FORMAT", "") or "", "size": size,
                    "state": IMG_LOCKED, "prev_state": IMG_INIT, "vms": [], "ds_id": ds_id, "template": template, "clones": []})
        self.db["images"][str(iid)] = img
        ds["images"].append(iid)
        fail = self.take_fault("image")
        self.later("image_ready", self._image_ready, iid, fail)
        return img

    def _image_ready(self, iid: int, fail: Any = None) -> None:
        img = self.db["images"].get(str(iid))
        if img is None or img["state"] != IMG_LOCKED:
            return
        if fail is not None:
            img["state"] = img["prev_state"] = IMG_ERROR
            message = fail.get("message") or "Error copying image in the datastore: Could not copy image file"
            tpl.set_single(img["template"], "ERROR", "%s: %s" % (ctime(self.now()), message))
            return
        img["source"] = img["source"] or "dummy_path"
        img["format"] = img["format"] or "dummy_format"
        img["state"] = img["prev_state"] = IMG_READY
        if img["vms"]:  # a copy taken by a VM while it was being made (persistent instantiation)
            img["state"] = img["prev_state"] = IMG_USED_PERS if img["persistent"] else IMG_USED

    def image_allocate(self, user: Dict[str, Any], text: str, ds_id: int, no_check: bool = False) -> int:
        """one.image.allocate (PATH, or SIZE for a DATABLOCK)."""
        del no_check
        attrs = self.parse_template(text)
        return self._create_image(user, attrs, ds_id)["id"]

    def image_info(self, user: Dict[str, Any], iid: int, decrypt: bool = False) -> str:
        """one.image.info."""
        del decrypt
        return self.image_xml(self._image(user, iid, USE))

    def imagepool_info(self, user: Dict[str, Any], flt: int, start: int, end: int) -> str:
        """one.imagepool.info."""
        return "<IMAGE_POOL>%s</IMAGE_POOL>" % "".join(self.image_xml(i) for i in self.pool_filter(user, "images", flt, start, end))

    def image_delete(self, user: Dict[str, Any], iid: int, force: bool = False) -> int:
        """one.image.delete (DELETE state, then gone)."""
        del force
        img = self._image(user, iid, MANAGE)
        if img["vms"]:
            raise OneError(ACTION, "Cannot delete image. There are %d VMs using it." % len(img["vms"]))
        img["state"] = img["prev_state"] = IMG_DELETE
        self.later("image_ready", self._image_gone, iid)
        return iid

    def _image_gone(self, iid: int) -> None:
        img = self.db["images"].pop(str(iid), None)
        if img:
            ds = self.db["datastores"].get(str(img["ds_id"]))
            if ds and iid in ds["images"]:
                ds["images"].remove(iid)

    def image_update(self, user: Dict[str, Any], iid: int, text: str, append: int) -> int:
        """one.image.update."""
        img = self._image(user, iid, MANAGE)
        img["template"] = self.update_template(img["template"], text, append)
        return iid

    def image_chmod(self, user: Dict[str, Any], iid: int, *perms: int) -> int:
        """one.image.chmod."""
        self.chmod_obj(self._image(user, iid, MANAGE), list(perms))
        return iid

    def image_chown(self, user: Dict[str, Any], iid: int, uid: int, gid: int) -> int:
        """one.image.chown."""
        self.chown_obj(user, self._image(user, iid, MANAGE), uid, gid)
        return iid

    def image_chtype(self, user: Dict[str, Any], iid: int, type_name: str) -> int:
        """one.image.chtype."""
        img = self._image(user, iid, MANAGE)
        if type_name.upper() not in IMAGE_TYPES:
            raise OneError(INTERNAL, "known type ")
        img["type"] = IMAGE_TYPES.index(type_name.upper())
        return iid

    def image_persistent(self, user: Dict[str, Any], iid: int, persistent: bool) -> int:
        """one.image.persistent."""
        img = self._image(user, iid, MANAGE)
        if img["vms"]:
            raise OneError(INTERNAL, "Cannot change persistent attribute while the image is in use")
        img["persistent"] = int(persistent)
        return iid

    def image_enable(self, user: Dict[str, Any], iid: int, enable: bool) -> int:
        """one.image.enable."""
        img = self._image(user, iid, MANAGE)
        if enable:
            if img["state"] == IMG_DISABLED:
                img["state"] = img["prev_state"] = IMG_READY
        else:
            if img["state"] not in (IMG_READY, IMG_DISABLED):
                raise OneError(INTERNAL, "Image cannot be disabled in state %s" % self.image_state_name(img["state"]))
            img["state"] = img["prev_state"] = IMG_DISABLED
        return iid

    @staticmethod
    def image_state_name(state: int) -> str:
        """IMAGE STATE names."""
        names = ["INIT", "READY", "USED", "DISABLED", "LOCKED", "ERROR", "CLONE", "DELETE", "USED_PERS", "LOCKED_USED", "LOCKED_USED_PERS"]
        return names[state] if 0 <= state < len(names) else str(state)

    def image_rename(self, user: Dict[str, Any], iid: int, name: str) -> int:
        """one.image.rename."""
        img = self._image(user, iid, MANAGE)
        self.rename_obj("images", img, name, "image")
        return iid

    def image_clone(self, user: Dict[str, Any], iid: int, name: str, ds_id: int) -> int:
        """one.image.clone."""
        src = self._image(user, iid, USE)
        attrs = tpl.copy(src["template"])
        attrs += [["NAME", name], ["TYPE", IMAGE_TYPES[src["type"]]], ["SIZE", str(src["size"])]]
        if src["format"]:
            attrs.append(["FORMAT", src["format"]])
        img = self._create_image(user, attrs, src["ds_id"] if ds_id < 0 else ds_id)
        img["path"] = ""
        return img["id"]

    def image_used(self, iid: int, vid: int, add: bool) -> None:
        """Track a VM's use of an image (READY <-> USED / USED_PERS)."""
        img = self.db["images"].get(str(iid))
        if img is None:
            return
        if add and vid not in img["vms"]:
            img["vms"].append(vid)
        elif not add and vid in img["vms"]:
            img["vms"].remove(vid)
        if img["state"] in (IMG_READY, IMG_USED, IMG_USED_PERS):
            state = (IMG_USED_PERS if img["persistent"] else IMG_USED) if img["vms"] else IMG_READY
            img["state"] = img["prev_state"] = state

    # ------------------------------------------------------------------ templates
    def vmtemplate_xml(self, tmpl: Dict[str, Any], extended: bool = False) -> str:
        """VMTEMPLATE document (extended: DISKs resolved against images)."""
        attrs = tmpl["template"]
        if extended:
            attrs = tpl.copy(attrs)
            disk_id = 0
            for key, value in attrs:
                if key == "DISK" and isinstance(value, dict):
                    try:
                        value.update(self.disk_from_image(value, disk_id, with_state=True))
                    except OneError:
                        pass
                    disk_id += 1
        return "<VMTEMPLATE><ID>%d</ID>%s%s%s<REGTIME>%d</REGTIME>%s</VMTEMPLATE>" % (
            tmpl["id"], self.owner_xml(tmpl), X.el("NAME", tmpl["name"]), X.permissions(tmpl["perms"]), tmpl["regtime"],
            X.template("TEMPLATE", attrs))

    def disk_from_image(self, disk: Dict[str, str], disk_id: int, with_state: bool = False) -> Dict[str, str]:
        """Attributes oned adds to a DISK that refers to an image."""
        img = None
        if disk.get("IMAGE_ID", "") != "":
            try:
                img = self.db["images"].get(str(int(disk["IMAGE_ID"])))
            except ValueError:
                img = None
            if img is None:
                raise OneError(INTERNAL, "DISK %d: Image with ID: %s does not exist" % (disk_id, disk["IMAGE_ID"]))
        elif disk.get("IMAGE"):
            for cand in self.db["images"].values():
                if cand["name"] == disk["IMAGE"]:
                    img = cand
            if img is None:
                raise OneError(INTERNAL, "DISK %d: Image %s does not exist" % (disk_id, disk["IMAGE"]))
        else:
            return {"DISK_ID": str(disk_id)}
        ds = self.db["datastores"].get(str(img["ds_id"]), {"name": "", "id": img["ds_id"]})
        persistent = bool(img["persistent"])
        out = {"ALLOW_ORPHANS": "NO", "CLONE": "NO" if persistent else "YES", "CLONE_TARGET": "SYSTEM", "CLUSTER_ID": "0",
               "DATASTORE": ds["name"], "DATASTORE_ID": str(img["ds_id"]), "DEV_PREFIX": tpl.get_str(img["template"], "DEV_PREFIX", "sd") or "sd",
               "DISK_ID": str(disk_id), "DISK_SNAPSHOT_TOTAL_SIZE": "0", "DISK_TYPE": "FILE", "DRIVER": img["format"] or "raw",
               "FORMAT": img["format"] or "raw", "IMAGE": img["name"], "IMAGE_ID": str(img["id"]),
               "LN_TARGET": "NONE", "ORIGINAL_SIZE": str(img["size"]), "PERSISTENT_SNAPSHOTS": "YES",
               "READONLY": "YES" if img["type"] == 1 else "NO", "SAVE": "YES" if persistent else "NO", "SIZE": str(img["size"]),
               "SOURCE": img["source"] or "dummy_path", "TM_MAD": "dummy", "TYPE": "CDROM" if img["type"] == 1 else "FILE"}
        if persistent:
            out["PERSISTENT"] = "YES"
        if with_state:
            out["IMAGE_STATE"] = str(img["state"])
        return out

    def _tmpl(self, user: Dict[str, Any], tid: int, op: str) -> Dict[str, Any]:
        tmpl = self.get("templates", tid, "virtual machine template")
        self.authorize(user, tmpl, op, "TEMPLATE")
        return tmpl

    def _new_template(self, user: Dict[str, Any], name: str, attrs: List[tpl.Attr]) -> int:
        for other in self.db["templates"].values():
            if other["name"] == name and other["uid"] == user["id"]:
                raise OneError(INTERNAL, "NAME is already taken by TEMPLATE %d." % other["id"])
        tid = self.next_id("template")
        tmpl = dict(self.owner_fields(user))
        tmpl.update({"id": tid, "name": name, "regtime": self.now(), "template": attrs})
        self.db["templates"][str(tid)] = tmpl
        return tid

    def template_allocate(self, user: Dict[str, Any], text: str) -> int:
        """one.template.allocate."""
        attrs = self.parse_template(text)
        name = tpl.get_str(attrs, "NAME", "") or ""
        tpl.remove(attrs, "NAME")
        if not name:
            name = "Template-%d" % self.db["next"]["template"]
        return self._new_template(user, name, attrs)

    def template_info(self, user: Dict[str, Any], tid: int, extended: bool = False, decrypt: bool = False) -> str:
        """one.template.info."""
        del decrypt
        return self.vmtemplate_xml(self._tmpl(user, tid, USE), extended)

    def templatepool_info(self, user: Dict[str, Any], flt: int, start: int, end: int) -> str:
        """one.templatepool.info."""
        items = self.pool_filter(user, "templates", flt, start, end)
        return "<VMTEMPLATE_POOL>%s</VMTEMPLATE_POOL>" % "".join(self.vmtemplate_xml(t) for t in items)

    def template_update(self, user: Dict[str, Any], tid: int, text: str, append: int) -> int:
        """one.template.update."""
        tmpl = self._tmpl(user, tid, MANAGE)
        tmpl["template"] = self.update_template(tmpl["template"], text, append)
        tpl.remove(tmpl["template"], "NAME")
        return tid

    def template_delete(self, user: Dict[str, Any], tid: int, recursive: bool = False) -> int:
        """one.template.delete."""
        tmpl = self._tmpl(user, tid, MANAGE)
        if recursive:
            for disk in tpl.get_all(tmpl["template"], "DISK"):
                if isinstance(disk, dict) and disk.get("IMAGE_ID", "").isdigit():
                    img = self.db["images"].get(disk["IMAGE_ID"])
                    if img and not img["vms"]:
                        self._image_gone(img["id"])
        del self.db["templates"][str(tid)]
        return tid

    def template_clone(self, user: Dict[str, Any], tid: int, name: str, recursive: bool = False) -> int:
        """one.template.clone."""
        del recursive
        src = self._tmpl(user, tid, USE)
        return self._new_template(user, name, tpl.copy(src["template"]))

    def template_instantiate(self, user: Dict[str, Any], tid: int, name: str, hold: bool, extra: str, persistent: bool = False) -> int:
        """one.template.instantiate (persistent: instantiate a persistent copy, as oned's TemplateInstantiate does).

        With the persistent flag oned first clones the template recursively under the VM name: every DISK that
        refers to an image gets a copy of that image named ``<name>-disk-<n>``, made persistent, and the VM is
        created from the cloned template.
        """
        tmpl = self._tmpl(user, tid, USE)
        extra_attrs = self.parse_template(extra) if extra else []
        vm_name = name or "%s-%d" % (tmpl["name"], self.db["next"]["vm"])
        if persistent:
            tmpl = self._persistent_copy(user, tmpl, vm_name)
            tid = tmpl["id"]
        attrs = tpl.copy(tmpl["template"])
        if extra_attrs:
            attrs = tpl.merge(attrs, extra_attrs)
        tpl.remove(attrs, "NAME")
        attrs.append(["TEMPLATE_ID", str(tid)])
        return self.create_vm(user, attrs, vm_name, hold)  # type: ignore[attr-defined]

    def _persistent_copy(self, user: Dict[str, Any], src: Dict[str, Any], name: str) -> Dict[str, Any]:
        for other in self.db["templates"].values():
            if other["name"] == name and other["uid"] == user["id"]:
                raise OneError(INTERNAL, "NAME is already taken by TEMPLATE %d." % other["id"])
        attrs = tpl.copy(src["template"])
        for disk_id, disk in enumerate(v for k, v in attrs if k == "DISK" and isinstance(v, dict)):
            if not (disk.get("IMAGE_ID") or disk.get("IMAGE")):
                continue
            image_id = int(self.disk_from_image(disk, disk_id)["IMAGE_ID"])
            copy_id = self.image_clone(user, image_id, "%s-disk-%d" % (name, disk_id), -1)
            self.db["images"][str(copy_id)]["persistent"] = 1
            for key in ("IMAGE", "IMAGE_UNAME", "IMAGE_UID"):
                disk.pop(key, None)
            disk["IMAGE_ID"] = str(copy_id)
        return self.db["templates"][str(self._new_template(user, name, attrs))]

    def template_chmod(self, user: Dict[str, Any], tid: int, *perms: Any) -> int:
        """one.template.chmod (optional recursive flag ignored)."""
        self.chmod_obj(self._tmpl(user, tid, MANAGE), [p for p in perms if not isinstance(p, bool)][:9])
        return tid

    def template_chown(self, user: Dict[str, Any], tid: int, uid: int, gid: int) -> int:
        """one.template.chown."""
        self.chown_obj(user, self._tmpl(user, tid, MANAGE), uid, gid)
        return tid

    def template_rename(self, user: Dict[str, Any], tid: int, name: str) -> int:
        """one.template.rename."""
        self.rename_obj("templates", self._tmpl(user, tid, MANAGE), name, "virtual machine template")
        return tid
