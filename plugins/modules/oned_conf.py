#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: oned_conf
short_description: Merge settings into an OpenNebula configuration file (oned.conf syntax)
version_added: 0.1.0
description:
  - Sets attributes of a file written in oned's configuration syntax (C(/etc/one/oned.conf), C(/etc/one/monitord.conf))
    in place, keeping every comment, blank line and the layout of the packaged file.
  - A single attribute (C(PORT = 2633)) has its value replaced on its line. A vector attribute
    (C(DB = [ BACKEND = "sqlite", TIMEOUT = 2500 ])) has only the sub-attributes given replaced; sub-attributes not
    given are kept; a sub-attribute that is missing is added to the vector.
  - Attributes that are not in the file are appended at its end.
  - Values are compared after removing quotes, so C(PORT = 2633) and C(PORT = "2633") are the same and an unchanged
    file is never rewritten.
author:
  - NebulaVoIP maintainers (@nebulavoip)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
options:
  path:
    description: The configuration file. It must exist (the packages lay it down).
    type: path
    required: true
  settings:
    description:
      - Attribute name to value. A value is a string or a number (a single attribute) or a dict (a vector attribute,
        sub-attribute name to string or number).
      - Strings are written quoted, numbers bare. Names are matched case-insensitively.
      - Attributes that appear several times in the file (C(VM_MAD), C(IM_MAD) ...) are selected by the C(NAME) given
        in the dict; one that is not found is appended.
    type: dict
    required: true
  backup:
    description: Keep a timestamped copy of the file before changing it.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.files
'''

EXAMPLES = r'''
- name: Listen on every address, log less, use MariaDB
  nebulavoip.cloud.oned_conf:
    path: /etc/one/oned.conf
    settings:
      LISTEN_ADDRESS: 0.0.0.0
      LOG:
        DEBUG_LEVEL: 2
      DB:
        BACKEND: mysql
        SERVER: localhost
        PORT: 0
        USER: oneadmin
        PASSWD: "{{ vault_oned_db_password }}"
        DB_NAME: opennebula
  no_log: true
  notify: Restart opennebula
'''

RETURN = r'''
changes:
  description: The attributes set, as C(NAME) or C(NAME.SUB), with the value before (null when added) and after.
  returned: always
  type: list
  elements: dict
  sample: [{name: DB.BACKEND, before: sqlite, after: mysql}]
backup_file:
  description: The backup copy, when O(backup=true) and the file changed.
  returned: changed and backup
  type: str
'''

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

_NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


class ConfError(ValueError):
    pass


def _skip_value(text, pos, stops):
    """End of a value starting at ``pos``: a quoted string, or up to a stop character, newline or comment."""
    if pos < len(text) and text[pos] == '"':
        end = text.find('"', pos + 1)
        if end < 0:
            raise ConfError(f'unterminated string at offset {pos}')
        return end + 1
    end = pos
    while end < len(text) and text[end] not in stops and text[end] not in '\n#':
        end += 1
    while end > pos and text[end - 1] in ' \t\r':
        end -= 1
    return end


def _skip_blank(text, pos):
    """Skip whitespace, newlines and comments."""
    while pos < len(text):
        if text[pos] in ' \t\r\n':
            pos += 1
        elif text[pos] == '#':
            end = text.find('\n', pos)
            pos = len(text) if end < 0 else end + 1
        else:
            break
    return pos


def parse_vector(text, start, end):
    """Sub-attributes of a vector body ``text[start:end]``: list of (NAME, value_start, value_end)."""
    subs = []
    pos = start
    while True:
        pos = _skip_blank(text, pos)
        if pos >= end:
            return subs
        if text[pos] == ',':
            pos += 1
            continue
        match = _NAME_RE.match(text, pos)
        if not match:
            raise ConfError(f'unexpected {text[pos]!r} in a vector at offset {pos}')
        pos = match.end()
        while pos < end and text[pos] in ' \t':
            pos += 1
        if pos >= end or text[pos] != '=':
            raise ConfError(f'"=" expected after {match.group(0)} at offset {pos}')
        pos += 1
        while pos < end and text[pos] in ' \t':
            pos += 1
        value_end = min(_skip_value(text, pos, ',]'), end)
        subs.append((match.group(0).upper(), pos, value_end))
        pos = value_end


def parse(text):
    """Top-level attributes: dicts with name, kind (single/vector), spans."""
    attrs = []
    pos = 0
    while True:
        pos = _skip_blank(text, pos)
        if pos >= len(text):
            return attrs
        match = _NAME_RE.match(text, pos)
        if not match:
            raise ConfError(f'unexpected {text[pos]!r} at offset {pos}')
        start = pos
        pos = match.end()
        while pos < len(text) and text[pos] in ' \t':
            pos += 1
        if pos >= len(text) or text[pos] != '=':
            raise ConfError(f'"=" expected after {match.group(0)} at offset {pos}')
        pos += 1
        while pos < len(text) and text[pos] in ' \t':
            pos += 1
        if pos < len(text) and text[pos] == '[':
            body = pos + 1
            close = body
            while True:
                close = _skip_blank(text, close)
                if close >= len(text):
                    raise ConfError(f'vector {match.group(0)} is not closed')
                if text[close] == ']':
                    break
                if text[close] == '"':
                    close = _skip_value(text, close, '')
                else:
                    close += 1
            attr = {'name': match.group(0).upper(), 'kind': 'vector', 'start': start, 'body': body, 'close': close}
            attr['subs'] = parse_vector(text, body, close)
            attrs.append(attr)
            pos = close + 1
        else:
            end = _skip_value(text, pos, '')
            attrs.append({'name': match.group(0).upper(), 'kind': 'single', 'start': start, 'value': (pos, end)})
            pos = end


def unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def render(value):
    if isinstance(value, bool):
        return '"YES"' if value else '"NO"'
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if '"' in text or '\n' in text:
        raise ConfError(f'values cannot contain double quotes or newlines: {text!r}')
    return f'"{text}"'


def plain(value):
    """The value as compared with the file (no quotes)."""
    return unquote(render(value))


def _vector_name(text, attr):
    for name, start, end in attr['subs']:
        if name == 'NAME':
            return unquote(text[start:end])
    return None


def _line_indent(text, pos):
    line_start = text.rfind('\n', 0, pos) + 1
    return pos - line_start


def merge(text, settings):
    """Return (new_text, changes). Edits are applied from the end so that offsets stay valid."""
    attrs = parse(text)
    edits = []  # (start, end, replacement)
    appended = []
    changes = []
    for raw_name, value in settings.items():
        name = str(raw_name).upper()
        if not _NAME_RE.fullmatch(name):
            raise ConfError(f'invalid attribute name {raw_name!r}')
        found = [a for a in attrs if a['name'] == name]
        if isinstance(value, dict):
            want = {str(k).upper(): v for k, v in value.items()}
            if len(found) > 1 or (found and 'NAME' in want):
                found = [a for a in found if a['kind'] == 'vector' and _vector_name(text, a) == plain(want.get('NAME', ''))]
                if len(found) > 1:
                    raise ConfError(f'{name} appears {len(found)} times with NAME {want.get("NAME")!r}')
                if not found and 'NAME' not in want:
                    raise ConfError(f'{name} appears several times; give its NAME to select one')
            if found and found[0]['kind'] != 'vector':
                raise ConfError(f'{name} is a single attribute in the file, not a vector')
            if not found:
                appended.append(f'{name} = [\n' + ',\n'.join(f'  {k} = {render(v)}' for k, v in want.items()) + ' ]\n')
                changes.extend({'name': f'{name}.{k}', 'before': None, 'after': plain(v)} for k, v in want.items())
                continue
            attr = found[0]
            subs = {s[0]: s for s in attr['subs']}
            missing = []
            for key, sub_value in want.items():
                if isinstance(sub_value, (dict, list)):
                    raise ConfError(f'{name}.{key}: vector values must be strings or numbers')
                if key in subs:
                    start, end = subs[key][1:]
                    if unquote(text[start:end]) != plain(sub_value):
                        edits.append((start, end, render(sub_value)))
                        changes.append({'name': f'{name}.{key}', 'before': unquote(text[start:end]), 'after': plain(sub_value)})
                else:
                    missing.append((key, sub_value))
                    changes.append({'name': f'{name}.{key}', 'before': None, 'after': plain(sub_value)})
            if missing:
                if attr['subs']:
                    last = attr['subs'][-1]
                    indent = ' ' * _line_indent(text, _find_name_start(text, last))
                    insert = ''.join(f',\n{indent}{k} = {render(v)}' for k, v in missing)
                    edits.append((last[2], last[2], insert))
                else:
                    insert = ' ' + ', '.join(f'{k} = {render(v)}' for k, v in missing) + ' '
                    edits.append((attr['body'], attr['close'], insert))
        else:
            if isinstance(value, list):
                raise ConfError(f'{name}: lists are not supported; give a string, a number or a dict')
            singles = [a for a in found if a['kind'] == 'single']
            if found and not singles:
                raise ConfError(f'{name} is a vector in the file; give a dict')
            if not singles:
                appended.append(f'{name} = {render(value)}\n')
                changes.append({'name': name, 'before': None, 'after': plain(value)})
                continue
            start, end = singles[-1]['value']  # oned keeps the last definition
            if unquote(text[start:end]) != plain(value):
                edits.append((start, end, render(value)))
                changes.append({'name': name, 'before': unquote(text[start:end]), 'after': plain(value)})
    new = text
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        new = new[:start] + replacement + new[end:]
    if appended:
        if new and not new.endswith('\n'):
            new += '\n'
        new += '\n# Added by nebulavoip.cloud.oned_conf\n' + ''.join(appended)
    return new, changes


def _find_name_start(text, sub):
    """Offset where the sub-attribute's name starts (before ``NAME = value``)."""
    name, value_start = sub[0], sub[1]
    pos = text.rfind('=', 0, value_start)
    pos -= 1
    while pos > 0 and text[pos] in ' \t':
        pos -= 1
    return pos - len(name) + 1


def main():
    module = AnsibleModule(
        argument_spec={
            'path': {'type': 'path', 'required': True},
            'settings': {'type': 'dict', 'required': True},
            'backup': {'type': 'bool', 'default': False},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params['path']
    if not os.path.isfile(path):
        module.fail_json(msg=f'{path} does not exist; it is laid down by the OpenNebula packages, install them first')
    with open(path, 'rb') as handle:
        text = handle.read().decode('utf-8')
    try:
        new, changes = merge(text, module.params['settings'])
    except ConfError as exc:
        module.fail_json(msg=f'{path}: {exc}')
    result = {'changed': new != text, 'changes': changes}
    if module._diff and new != text:
        result['diff'] = {'before': text, 'after': new, 'before_header': path, 'after_header': path}
    if new != text and not module.check_mode:
        if module.params['backup']:
            result['backup_file'] = module.backup_local(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.oned_conf.')
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(to_bytes(new))
            module.atomic_move(tmp, path)
        except Exception as exc:  # pylint: disable=broad-except
            if os.path.exists(tmp):
                os.unlink(tmp)
            module.fail_json(msg=f'cannot write {path}: {to_native(exc)}')
    file_args = module.load_file_common_arguments(module.params)
    result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
