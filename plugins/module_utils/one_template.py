# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenNebula template codec: Python dicts <-> oned template text.

Model (what every function here accepts and returns):

* a template is a mapping ``NAME -> value``;
* a value is a scalar (str; int, float and bool are accepted and stored the
  way oned stores them: ``str(int)``, ``YES``/``NO`` for booleans), a vector
  (a mapping ``NAME -> scalar``), or a list of scalars/vectors for an
  attribute repeated in the template (several DISK, NIC, AR ...).

oned's rules this codec follows (template_parser.l / template_syntax.y and
Attribute.h of OpenNebula):

* attribute names are upper-cased; a name not starting with a letter or
  ``_`` gets the ``ONE_`` prefix;
* a value is either a bare word (no blanks, ``=``, ``#``, ``,``, ``[``, ``]``)
  or a double-quoted string that may span lines; inside quotes ``\\"`` stands
  for ``"`` and that is the only escape -- a backslash is literal otherwise;
* vector values are flat ``NAME=[A="1",B="2"]``; inside one vector a repeated
  key keeps its first value; sub-attributes are kept sorted (std::map);
* ``]]>`` may not appear in a value (oned refuses the template);
* ``NAME=[]`` is an empty vector; in oned's XML it is an empty element, which
  pyone hands back as ``""``.
"""


import re

try:
    from collections.abc import Mapping
except ImportError:  # pragma: no cover - Python 2
    from collections.abc import Mapping


class TemplateError(ValueError):
    """A template that oned would refuse or that cannot be expressed."""


_NAME_RE = re.compile(r'^[A-Za-z0-9_]+$')
_QUOTED_RE = re.compile(r'"((?:\\"|[^"])*)"')


# --------------------------------------------------------------------------
# names and scalars
# --------------------------------------------------------------------------
def canonical_name(name):
    """The attribute name as oned stores it (upper case, ``ONE_`` prefix rule)."""
    if not isinstance(name, str):
        name = str(name)
    if not name or not _NAME_RE.match(name):
        raise TemplateError(f'invalid attribute name {name!r}: only letters, digits and _ are allowed')
    upper = name.upper()
    if not (name[0].isalpha() or name[0] == '_') or name.startswith('XML'):
        upper = 'ONE_' + upper
    return upper


def scalar_to_str(value):
    """A Python scalar as the string oned stores."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'YES' if value else 'NO'
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode('utf-8')
    if isinstance(value, str):
        return value
    raise TemplateError(f'unsupported template value {value!r} ({type(value).__name__})')


def quote(value):
    """A scalar as a double-quoted oned template string."""
    text = scalar_to_str(value)
    if ']]>' in text:
        raise TemplateError(f'a template value may not contain "]]>" (oned refuses it): {text!r}')
    if text.endswith('\\'):
        # oned would read the closing quote as an escaped one.
        raise TemplateError(f'a template value may not end with a backslash (oned reads \\" as a quote): {text!r}')
    return '"' + text.replace('"', '\\"') + '"'


# --------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------
def _is_vector(value):
    return isinstance(value, Mapping)


def normalize_vector(vector):
    out = {}
    for key, val in vector.items():
        if str(key).startswith('@'):
            continue  # XML attributes xmltodict may leave behind
        name = canonical_name(key)
        if _is_vector(val) or isinstance(val, (list, tuple)):
            raise TemplateError(f'vector attribute {name} may only hold scalars (got {val!r})')
        if name not in out:  # oned keeps the first of a repeated key
            out[name] = scalar_to_str(val)
    return out


def _normalize_value(name, value):
    if _is_vector(value):
        return normalize_vector(value)
    if isinstance(value, (list, tuple)):
        raise TemplateError(f'attribute {name}: nested lists are not valid')
    return scalar_to_str(value)


def normalize(template):
    """Plain canonical form of a template, whatever produced it.

    Accepts pyone's TEMPLATE (nested OrderedDicts, a dict for one vector and
    a list for several) or a user dict. Returns ``{NAME: value}`` where value
    is a str, a dict of str, or a list (len >= 2) of those. Upper-cases names.
    """
    if template is None or template == '':
        return {}
    if not _is_vector(template):
        raise TemplateError(f'a template must be a mapping, got {template!r}')
    out = {}
    for key, value in template.items():
        if str(key).startswith('@'):
            continue
        name = canonical_name(key)
        if isinstance(value, (list, tuple)):
            items = [_normalize_value(name, v) for v in value]
        else:
            items = [_normalize_value(name, value)]
        if name in out:
            prev = out[name]
            items = (prev if isinstance(prev, list) else [prev]) + items
        if not items:
            continue
        out[name] = items if len(items) > 1 else items[0]
    return out


def as_list(value):
    """Single-vs-list normalisation: ``None`` -> [], a list stays, anything else -> [value]."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def vectors(template, name):
    """All vectors called ``name`` in a template as a list of dicts (empty ``""`` vectors included as {})."""
    if not template:
        return []
    name = canonical_name(name)
    value = None
    for key in template:
        if str(key).upper() == name:
            value = template[key]
            break
    out = []
    for item in as_list(value):
        if _is_vector(item):
            out.append(normalize_vector(item))
        elif item in ('', None):
            out.append({})
    return out


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------
def render_vector(vector):
    vector = normalize_vector(vector)
    if not vector:
        return '[]'
    parts = [f'{k}={quote(v)}' for k, v in sorted(vector.items())]
    return '[\n  ' + ',\n  '.join(parts) + ' ]'


def render(template):
    """Render a template mapping as oned template text (one attribute per line)."""
    lines = []
    for name, value in normalize(template).items():
        for item in as_list(value):
            if isinstance(item, dict):
                lines.append(f'{name}={render_vector(item)}')
            else:
                lines.append(f'{name}={quote(item)}')
    return '\n'.join(lines) + ('\n' if lines else '')


# --------------------------------------------------------------------------
# parsing (oned's grammar)
# --------------------------------------------------------------------------
class _Lexer:
    def __init__(self, text):
        self.text = text
        self.pos = 0

    def error(self, msg):
        raise TemplateError('%s at line %d' % (msg, self.text.count('\n', 0, self.pos) + 1))

    def skip_blanks(self, newlines=True, comments=True):
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in ' \t\r' or (newlines and ch == '\n'):
                self.pos += 1
            elif comments and ch == '#':
                end = text.find('\n', self.pos)
                self.pos = len(text) if end < 0 else end + 1
            else:
                break

    def peek(self):
        return self.text[self.pos] if self.pos < len(self.text) else ''

    def name(self):
        m = re.compile(r'[A-Za-z0-9_]+').match(self.text, self.pos)
        if not m:
            self.error(f'attribute name expected, found {self.text[self.pos:self.pos + 10]!r}')
        self.pos = m.end()
        return m.group(0)

    def expect(self, ch):
        if self.peek() != ch:
            self.error(f'{ch!r} expected, found {self.peek()!r}')
        self.pos += 1

    def value(self):
        """A quoted string or a bare word; None when there is no value."""
        text = self.text
        if self.peek() == '"':
            # oned's flex rule \"([^"]|\\\")*\" takes the longest match: an
            # escaped quote is preferred, a lone backslash before the last
            # reachable quote is literal.
            m = _QUOTED_RE.match(text, self.pos)
            if not m:
                self.error('unterminated string')
            raw = m.group(1)
            self.pos = m.end()
            if ']]>' in raw:
                self.error('"]]>" is not allowed in a value')
            return raw.replace('\\"', '"')
        m = re.compile(r'[^=#\s,\[\]]+').match(text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        if ']]>' in m.group(0):
            self.error('"]]>" is not allowed in a value')
        return m.group(0)


def parse(text):
    """Parse oned template text into the normalised dict form (see normalize())."""
    if text is None:
        return {}
    lex = _Lexer(text)
    pairs = []
    while True:
        lex.skip_blanks()
        if lex.pos >= len(text):
            break
        name = lex.name()
        lex.skip_blanks(newlines=False, comments=False)
        lex.expect('=')
        lex.skip_blanks(newlines=False, comments=False)
        if lex.peek() in ('\n', ''):
            pairs.append((name, ''))
            continue
        if lex.peek() == '[':
            lex.pos += 1
            vector = {}
            lex.skip_blanks(comments=False)
            if lex.peek() == ']':
                lex.pos += 1
                pairs.append((name, vector))
                continue
            while True:
                lex.skip_blanks(comments=False)
                key = canonical_name(lex.name())
                lex.skip_blanks(newlines=False, comments=False)
                lex.expect('=')
                lex.skip_blanks(newlines=False, comments=False)
                val = lex.value()
                if val is None:
                    lex.error(f'value expected for {key}')
                vector.setdefault(key, val)
                lex.skip_blanks(comments=False)
                if lex.peek() == ',':
                    lex.pos += 1
                    continue
                if lex.peek() == ']':
                    lex.pos += 1
                    break
                lex.error(f'"," or "]" expected in vector {name}')
            pairs.append((name, vector))
            continue
        val = lex.value()
        if val is None:
            lex.error(f'value expected for {name}')
        pairs.append((name, val))
    out = {}
    for raw_name, value in pairs:
        name = canonical_name(raw_name)
        if name in out:
            prev = out[name]
            out[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[name] = value
    return out


# --------------------------------------------------------------------------
# canonical comparison
# --------------------------------------------------------------------------
def _canon_item(item):
    if isinstance(item, dict):
        if not item:
            return ('S', '')  # an empty vector comes back from oned as an empty element
        return ('V', tuple(sorted(item.items())))
    return ('S', item)


def canonical(template):
    """A hashable canonical form: names order-insensitive, repeated attributes order-sensitive."""
    norm = normalize(template)
    return tuple(sorted((name, tuple(_canon_item(i) for i in as_list(value))) for name, value in norm.items()))


def equal(a, b):
    """True when oned would store ``a`` and ``b`` identically."""
    return canonical(a) == canonical(b)


def subset_differences(desired, current, keys=None):
    """Names whose desired value differs from current, looking only at names in ``desired``.

    oned adds attributes of its own (SECURITY_GROUPS, BRIDGE_TYPE, DEV_PREFIX
    ...); they are no difference unless the caller asks for them.
    """
    want = normalize(desired)
    have = normalize(current)
    names = keys if keys is not None else want.keys()
    diff = []
    for raw_name in names:
        name = canonical_name(raw_name)
        w = tuple(_canon_item(i) for i in as_list(want.get(name)))
        h = tuple(_canon_item(i) for i in as_list(have.get(name)))
        if w != h:
            diff.append(name)
    return sorted(diff)


def merge(current, desired, remove=()):
    """Current template with the desired names replaced (and ``remove`` names dropped)."""
    out = dict(normalize(current))
    for name, value in normalize(desired).items():
        out[name] = value
    for name in remove:
        out.pop(canonical_name(name), None)
    return out


def to_plain(template):
    """Normalised template made JSON-friendly (lists stay lists, vectors dicts)."""
    return normalize(template)
