"""Small string builders for oned-style XML (oned writes CDATA for template values)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Union

from . import template as tpl


def esc(value: object) -> str:
    """Escape text content."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cdata(value: str) -> str:
    """CDATA section, splitting any ``]]>`` as oned does."""
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def el(tag: str, value: object = None) -> str:
    """``<TAG>value</TAG>`` with escaped text, ``<TAG/>`` when empty."""
    if value is None or value == "":
        return "<%s/>" % tag
    return "<%s>%s</%s>" % (tag, esc(value), tag)


def cel(tag: str, value: object) -> str:
    """Element with CDATA content, ``<TAG/>`` when empty."""
    if value is None or value == "":
        return "<%s/>" % tag
    return "<%s>%s</%s>" % (tag, cdata(str(value)), tag)


def wrap(tag: str, inner: Union[str, Iterable[str]]) -> str:
    """``<TAG>inner</TAG>`` or ``<TAG/>`` when there is no content."""
    if not isinstance(inner, str):
        inner = "".join(inner)
    if not inner:
        return "<%s/>" % tag
    return "<%s>%s</%s>" % (tag, inner, tag)


def vector(tag: str, values: Dict[str, str], sort: bool = True) -> str:
    """A vector attribute."""
    items = sorted(values.items()) if sort else list(values.items())
    return wrap(tag, [cel(k, v) for k, v in items])


def template(tag: str, attrs: List[tpl.Attr]) -> str:
    """A whole template in oned's order."""
    parts = []
    for key, value in tpl.sorted_attrs(attrs):
        if isinstance(value, dict):
            parts.append(vector(key, value))
        else:
            parts.append(cel(key, value))
    return wrap(tag, parts)


def ids(tag: str, values: Iterable[int]) -> str:
    """``<TAG><ID>1</ID>...</TAG>``."""
    return wrap(tag, ["<ID>%d</ID>" % i for i in values])


PERM_KEYS = ["OWNER_U", "OWNER_M", "OWNER_A", "GROUP_U", "GROUP_M", "GROUP_A", "OTHER_U", "OTHER_M", "OTHER_A"]


def permissions(perms: List[int]) -> str:
    """The PERMISSIONS element."""
    return wrap("PERMISSIONS", ["<%s>%d</%s>" % (k, v, k) for k, v in zip(PERM_KEYS, perms)])
