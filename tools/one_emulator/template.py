"""OpenNebula template text: parser and ordered multimap model.

This is the emulator's own implementation (independent of the collection's codec) so that it
can serve as a reference.  A template is a list of ``[NAME, value]`` pairs where ``value`` is a
``str`` (single attribute) or a ``dict`` (vector attribute).  oned stores templates in a
multimap keyed by name, so rendering sorts attributes by name (stable for repeated names) and
vector attributes by key.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple, Union

Value = Union[str, Dict[str, str]]
Attr = List  # [name, value]


class TemplateSyntaxError(Exception):
    """Raised with oned's parse error message."""


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.:]*")


class _Parser:
    """Recursive-descent parser for the OpenNebula template grammar."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.n = len(text)

    # error reporting in bison's style: line = newlines seen, columns are absolute offsets
    def _error(self, unexpected: str, expecting: str) -> TemplateSyntaxError:
        line = self.text.count("\n", 0, self.pos)
        col = self.pos
        return TemplateSyntaxError(
            "Parse error: syntax error, unexpected %s, expecting %s at line %d, columns %d:%d"
            % (unexpected, expecting, line, col, col + 1))

    def _unexpected(self) -> str:
        if self.pos >= self.n:
            return "$end"
        char = self.text[self.pos]
        return {"[": "OBRACKET", "]": "CBRACKET", ",": "COMMA", "=": "EQUAL", '"': "STRING"}.get(char, "VARIABLE")

    def _skip_ws(self, newlines: bool = True) -> None:
        while self.pos < self.n:
            char = self.text[self.pos]
            if char == "#":
                while self.pos < self.n and self.text[self.pos] != "\n":
                    self.pos += 1
            elif char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            else:
                break

    def _name(self, expecting: str) -> str:
        match = _NAME_RE.match(self.text, self.pos)
        if not match:
            self._skip_ws()
            raise self._error(self._unexpected(), expecting)
        self.pos = match.end()
        return match.group(0).upper()

    def _value(self) -> str:
        if self.pos < self.n and self.text[self.pos] == '"':
            start = self.pos
            self.pos += 1
            out = []
            while self.pos < self.n:
                char = self.text[self.pos]
                if char == "\\" and self.pos + 1 < self.n and self.text[self.pos + 1] in '"\\':
                    out.append(self.text[self.pos + 1])
                    self.pos += 2
                    continue
                if char == '"':
                    self.pos += 1
                    return "".join(out)
                out.append(char)
                self.pos += 1
            self.pos = self.n
            del start
            raise self._error("$end", "OBRACKET or CCDATA or STRING")
        match = re.compile(r"[^\s\[\],=\"]+").match(self.text, self.pos)
        if not match:
            raise self._error(self._unexpected(), "OBRACKET or CCDATA or STRING")
        self.pos = match.end()
        return match.group(0)

    def parse(self) -> List[Attr]:
        attrs: List[Attr] = []
        while True:
            self._skip_ws()
            if self.pos >= self.n:
                return attrs
            name = self._name("VARIABLE")
            self._skip_ws(newlines=False)
            if self.pos >= self.n or self.text[self.pos] != "=":
                raise self._error(self._unexpected(), "EQUAL or EQUAL_EMPTY")
            self.pos += 1
            self._skip_ws(newlines=False)
            if self.pos >= self.n or self.text[self.pos] == "\n":
                if self.pos >= self.n:
                    raise self._error("$end", "OBRACKET or CCDATA or STRING")
                attrs.append([name, ""])
                continue
            if self.text[self.pos] == "[":
                self.pos += 1
                attrs.append([name, self._vector()])
            else:
                attrs.append([name, self._value()])

    def _vector(self) -> Dict[str, str]:
        vec: Dict[str, str] = {}
        self._skip_ws()
        if self.pos < self.n and self.text[self.pos] == "]":
            self.pos += 1
            return vec
        while True:
            self._skip_ws()
            if self.pos >= self.n:
                raise self._error("$end", "CBRACKET or VARIABLE")
            key = self._name("CBRACKET or VARIABLE")
            self._skip_ws()
            if self.pos >= self.n or self.text[self.pos] != "=":
                raise self._error(self._unexpected(), "EQUAL")
            self.pos += 1
            self._skip_ws()
            if self.pos < self.n and self.text[self.pos] in ",]":
                vec[key] = ""
            else:
                vec[key] = self._value()
            self._skip_ws()
            if self.pos >= self.n:
                raise self._error("$end", "COMMA or CBRACKET")
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            if self.text[self.pos] == "]":
                self.pos += 1
                return vec
            raise self._error(self._unexpected(), "COMMA or CBRACKET")


def parse(text: str) -> List[Attr]:
    """Parse OpenNebula template text (or XML, as oned accepts when the text starts with ``<``)."""
    if not isinstance(text, str):
        raise TemplateSyntaxError("Parse error: template is not a string")
    if text.startswith("<"):
        return _parse_xml(text)
    return _Parser(text).parse()


def _parse_xml(text: str) -> List[Attr]:
    """``<TEMPLATE><A>1</A><V><K>x</K></V></TEMPLATE>``: children with children are vector attributes (what pyone
    sends for a nested dict, and oned's Template::parse_str_or_xml reads)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        raise TemplateSyntaxError("Parse error: XML Template malformed.") from None
    attrs: List[Attr] = []
    for child in root:
        if len(child):
            attrs.append([child.tag.upper(), {sub.tag.upper(): sub.text or "" for sub in child}])
        else:
            attrs.append([child.tag.upper(), child.text or ""])
    return attrs


def get(attrs: List[Attr], name: str, default: Optional[Value] = None) -> Optional[Value]:
    """First value of ``name`` (single or vector)."""
    for key, value in attrs:
        if key == name:
            return value
    return default


def get_str(attrs: List[Attr], name: str, default: Optional[str] = None) -> Optional[str]:
    """First single value of ``name``."""
    value = get(attrs, name)
    return value if isinstance(value, str) else default


def get_all(attrs: List[Attr], name: str) -> List[Value]:
    """All values named ``name``."""
    return [value for key, value in attrs if key == name]


def remove(attrs: List[Attr], name: str) -> List[Value]:
    """Remove every attribute ``name``; return the removed values."""
    removed = [value for key, value in attrs if key == name]
    attrs[:] = [a for a in attrs if a[0] != name]
    return removed


def set_single(attrs: List[Attr], name: str, value: Value) -> None:
    """Replace every ``name`` with a single attribute."""
    remove(attrs, name)
    attrs.append([name, value])


def merge(base: List[Attr], new: List[Attr]) -> List[Attr]:
    """oned's update in merge mode: attributes of ``new`` replace those of the same name."""
    names = {key for key, _value in new}
    out = [a for a in base if a[0] not in names]
    out.extend([key, value] for key, value in new)
    return out


def copy(attrs: List[Attr]) -> List[Attr]:
    """Deep copy."""
    return [[k, dict(v) if isinstance(v, dict) else v] for k, v in attrs]


def sorted_attrs(attrs: List[Attr]) -> List[Tuple[str, Value]]:
    """Attributes in oned's multimap order."""
    return sorted(((k, v) for k, v in attrs), key=lambda item: item[0])


def to_text(attrs: List[Attr]) -> str:
    """Render as template text (used in logs and tests)."""
    lines = []
    for key, value in attrs:
        if isinstance(value, dict):
            inner = ",\n  ".join('%s="%s"' % (k, _escape(v)) for k, v in sorted(value.items()))
            lines.append("%s=[\n  %s ]" % (key, inner))
        else:
            lines.append('%s="%s"' % (key, _escape(value)))
    return "\n".join(lines) + ("\n" if lines else "")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
