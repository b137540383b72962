# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenNebula XML-RPC client factory.

* credentials: module options -> ``ONE_URL``/``ONE_USERNAME``/``ONE_PASSWORD``
  -> the ``ONE_AUTH`` file (default ``~/.one/one_auth``, ``user:password``);
* ``validate_certs`` really reaches the HTTPS layer (pyone's ``https_verify``;
  pyone 7.2.0 ignores an SSL context);
* ``api_timeout`` is applied to each request (pyone's own ``timeout`` only
  changes the process-wide socket default, which requests does not use);
* every failure -- oned's error codes and transport problems -- is raised as
  one exception type, :class:`OneError`, whose message names the method and
  the object.
"""


import decimal
import os
import re
import traceback
import xmlrpc.client
from xml.parsers.expat import ExpatError

from ansible.module_utils.basic import env_fallback

try:
    import requests
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - requests comes with pyone
    requests = None
    HAS_REQUESTS = False

try:
    import urllib3
    HAS_URLLIB3 = True
except ImportError:  # pragma: no cover
    urllib3 = None
    HAS_URLLIB3 = False

try:
    import pyone  # noqa: F401  pylint: disable=unused-import
    from pyone.server_xrpc import OneServerXRPC as _PyoneServer
    from pyone.server_xrpc import RequestsTransport as _PyoneTransport
    HAS_PYONE = True
    PYONE_IMPORT_ERROR = None
except ImportError:
    HAS_PYONE = False
    PYONE_IMPORT_ERROR = traceback.format_exc()
    _PyoneServer = object
    _PyoneTransport = object

DEFAULT_URL = 'http://localhost:2633/RPC2'
DEFAULT_AUTH_FILE = '~/.one/one_auth'
DEFAULT_TIMEOUT = 60

# oned's ErrorCode (RequestAttributes), as answered in [False, msg, code, ...]
ERROR_CODES = {
    0x0100: 'AUTHENTICATION',
    0x0200: 'AUTHORIZATION',
    0x0400: 'NO_EXISTS',
    0x0800: 'ACTION',
    0x1000: 'XML_RPC_API',
    0x2000: 'INTERNAL',
    0x4000: 'ALLOCATE',
    0x8000: 'LOCKED',
}

# kinds of failure that are not oned answers
TRANSPORT_KINDS = ('UNREACHABLE', 'DNS', 'TLS', 'TIMEOUT', 'HTTP', 'PROTOCOL', 'CONFIG')


class OneError(Exception):
    """Any failure talking to oned.

    ``kind`` is oned's error name (NO_EXISTS, AUTHENTICATION ...) or a
    transport kind (UNREACHABLE, DNS, TLS, TIMEOUT, HTTP, PROTOCOL, CONFIG);
    ``code`` is oned's numeric code (None for transport failures).
    """

    def __init__(self, message, *, method=None, args=(), code=None, kind=None, detail=None):
        Exception.__init__(self, message)
        self.message = message
        self.method = method
        self.args_repr = args
        self.code = code
        self.kind = kind
        self.detail = detail if detail is not None else message

    def __str__(self):
        return self.message

    @property
    def is_not_found(self):
        return self.kind == 'NO_EXISTS'

    @property
    def is_transport(self):
        return self.kind in TRANSPORT_KINDS


_UPPER_RE = re.compile(r'^[A-Z][A-Z0-9_]*$')


def to_data(obj):
    """pyone binding objects (generateDS) and TEMPLATE OrderedDicts as plain dicts/lists.

    Only oned's upper-case elements are kept, without their empty (None) ones; vm.xsd types
    MONITORING's counters as decimals, which become ints or floats.
    """
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, (list, tuple)):
        return [to_data(o) for o in obj]
    if isinstance(obj, dict):
        return {k: to_data(v) for k, v in obj.items() if not str(k).startswith('@')}
    if not hasattr(obj, '__dict__'):  # any other scalar type a binding may hold
        return str(obj)
    out = {}
    for key, value in vars(obj).items():
        if value is not None and _UPPER_RE.match(key) and not key.endswith('_nsprefix_'):
            out[key] = to_data(value)
    return out


def _short(value, limit=60):
    if isinstance(value, str):
        text = value.replace('\n', ' ')
        if len(text) > limit:
            text = text[:limit - 3] + '...'
        return repr(text)
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return repr(value)


def describe_call(method, args):
    """``one.vn.info(42)`` -- the call as it reads in messages (never the session)."""
    return '{}({})'.format(method, ', '.join(_short(a) for a in args))


def oned_error(method, args, code, text):
    name = ERROR_CODES.get(code, f'ERROR_0x{code:X}' if isinstance(code, int) else 'ERROR')
    text = (text or '').strip()
    return OneError(f'{describe_call(method, args)}: {text} ({name})',
                    method=method, args=args, code=code, kind=name, detail=text)


_ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\"()]+")
_TLS_RE = re.compile(r"certificate verify failed[^'\"()]*|wrong version number|tlsv1 alert[^'\"()]*")


def _reason(text):
    """The useful part of a requests/urllib3 message ("[Errno 111] Connection refused")."""
    for regex in (_TLS_RE, _ERRNO_RE):
        found = regex.search(text)
        if found:
            return found.group(0).strip()
    return text


def transport_error(method, args, url, exc):
    """Map requests/xmlrpc/socket exceptions to a OneError."""
    call = describe_call(method, args)
    text = str(exc)
    kind = 'UNREACHABLE'
    hint = ''
    if HAS_REQUESTS and isinstance(exc, requests.exceptions.SSLError):
        kind = 'TLS'
        hint = ' (the certificate could not be verified; fix the CA or set validate_certs: false)'
    elif HAS_REQUESTS and isinstance(exc, requests.exceptions.Timeout):
        kind = 'TIMEOUT'
    elif HAS_REQUESTS and isinstance(exc, requests.exceptions.ConnectionError):
        low = text.lower()
        if ('name or service not known' in low or 'nameresolution' in low or 'failed to resolve' in low
                or 'temporary failure in name resolution' in low or 'nodename nor servname' in low
                or 'getaddrinfo' in low):
            kind = 'DNS'
        elif 'timed out' in low:
            kind = 'TIMEOUT'
        else:
            kind = 'UNREACHABLE'
    elif HAS_REQUESTS and isinstance(exc, requests.exceptions.InvalidURL):
        kind = 'CONFIG'
    elif HAS_REQUESTS and isinstance(exc, requests.exceptions.RequestException):
        kind = 'UNREACHABLE'
    elif isinstance(exc, xmlrpc.client.ProtocolError):
        kind = 'HTTP'
        text = f'HTTP {exc.errcode} {exc.errmsg}'
    elif isinstance(exc, xmlrpc.client.Fault):
        kind = 'PROTOCOL'
        text = f'XML-RPC fault {exc.faultCode}: {exc.faultString}'
    elif isinstance(exc, (ExpatError, xmlrpc.client.ResponseError)):
        kind = 'PROTOCOL'
        text = f'the answer is not XML-RPC: {text}'
    elif isinstance(exc, OSError):
        kind = 'TIMEOUT' if 'timed out' in text.lower() else 'UNREACHABLE'
    labels = {
        'UNREACHABLE': f'cannot reach oned at {url}',
        'DNS': f'cannot resolve the host of {url}',
        'TLS': f'TLS failure with {url}',
        'TIMEOUT': f'no answer from {url} in time',
        'HTTP': f'HTTP error from {url}',
        'PROTOCOL': f'unexpected answer from {url}',
        'CONFIG': f'invalid endpoint {url}',
    }
    if kind in ('UNREACHABLE', 'DNS', 'TLS', 'TIMEOUT'):
        text = _reason(text)
    msg = f'{call}: {labels[kind]}: {text}{hint} ({kind})'
    return OneError(msg, method=method, args=args, kind=kind, detail=text)


# --------------------------------------------------------------------------
# credentials
# --------------------------------------------------------------------------
def read_auth_file(path=None):
    """(user, password) from an ONE_AUTH file, or (None, None) when there is none."""
    path = os.path.expanduser(path or os.environ.get('ONE_AUTH') or DEFAULT_AUTH_FILE)
    try:
        with open(path) as handle:
            line = handle.readline().strip()
    except OSError:
        return None, None
    if ':' not in line:
        raise OneError(f'{path}: the ONE_AUTH file must hold "user:password"', kind='CONFIG')
    user, password = line.split(':', 1)
    return user, password


def resolve_auth(api_url=None, api_username=None, api_password=None, environ=None, auth_file=None):
    """Endpoint and credentials by precedence: options > environment > ONE_AUTH file.

    The password of the ONE_AUTH file is only used for the user it names.
    Returns a dict with url, username, password and, per field, the source.
    """
    env = os.environ if environ is None else environ
    url, url_src = api_url, 'option'
    if not url:
        url, url_src = env.get('ONE_URL') or env.get('ONE_XMLRPC'), 'environment'
    if not url:
        url, url_src = DEFAULT_URL, 'default'
    user, user_src = api_username, 'option'
    password, pass_src = api_password, 'option'
    if not user:
        user, user_src = env.get('ONE_USERNAME'), 'environment'
    if not password:
        password, pass_src = env.get('ONE_PASSWORD'), 'environment'
    if not user or not password:
        file_path = auth_file or env.get('ONE_AUTH') or DEFAULT_AUTH_FILE
        f_user, f_pass = read_auth_file(file_path)
        if f_user is not None:
            if not user:
                user, user_src = f_user, 'one_auth'
            if not password and user == f_user:
                password, pass_src = f_pass, 'one_auth'
    if not user or not password:
        raise OneError('no OpenNebula credentials: set api_username/api_password, the ONE_USERNAME/ONE_PASSWORD '
                       f'environment variables or an ONE_AUTH file ("user:password", default {DEFAULT_AUTH_FILE})',
                       kind='CONFIG')
    return {'url': url, 'username': user, 'password': password,
            'sources': {'url': url_src, 'username': user_src, 'password': pass_src}}


# --------------------------------------------------------------------------
# pyone glue
# --------------------------------------------------------------------------
class _Transport(_PyoneTransport):
    """pyone's requests transport with a per-request timeout, certificate check and keep-alive."""

    def __init__(self, https, verify, timeout):
        _PyoneTransport.__init__(self)
        self.use_https = https
        self.https_verify = verify
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, host, handler, request_body, verbose=False):
        url = self._build_url(host, handler)
        resp = self.session.post(url, data=request_body, headers=self.headers,
                                 verify=self.https_verify, timeout=self.timeout)
        if resp.status_code >= 400:
            raise xmlrpc.client.ProtocolError(url, resp.status_code, resp.reason, resp.headers)
        return self.parse_response(resp)


class OneServer(_PyoneServer):
    """pyone's XML-RPC server with NebulaVoIP's error mapping, timeout and call counter.

    Use it as pyone: ``one.vn.info(42)`` returns pyone bindings; failures
    raise :class:`OneError`.
    """

    def __init__(self, url, session, validate_certs=True, timeout=DEFAULT_TIMEOUT):
        if not HAS_PYONE:
            raise OneError(f'pyone is required: {PYONE_IMPORT_ERROR}', kind='CONFIG')
        # https_verify is what pyone hands to requests; no timeout here (pyone
        # would set the process-wide socket default instead).
        _PyoneServer.__init__(self, url, session, https_verify=validate_certs)
        self.url = url
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.calls = 0
        self.call_log = []
        self._ServerProxy__transport = _Transport(url.startswith('https'), validate_certs, timeout)
        if not validate_certs and url.startswith('https'):
            if HAS_URLLIB3:
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def _do_request(self, method, params):
        args = tuple(params[1:])  # never the session
        self.calls += 1
        self.call_log.append(method)
        try:
            ret = xmlrpc.client.ServerProxy._ServerProxy__request(self, method, params)
        except Exception as exc:
            raise transport_error(method, args, self.url, exc) from None
        if not isinstance(ret, (list, tuple)) or not ret:
            raise OneError(f'{describe_call(method, args)}: unexpected answer {ret!r} (PROTOCOL)',
                           method=method, args=args, kind='PROTOCOL')
        if not ret[0]:
            code = ret[2] if len(ret) > 2 else None
            raise oned_error(method, args, code, ret[1] if len(ret) > 1 else '')
        return ret


def connect(api_url=None, api_username=None, api_password=None, *, validate_certs=True,
            api_timeout=DEFAULT_TIMEOUT, environ=None, auth_file=None):
    """Build a :class:`OneServer` from options, environment and ONE_AUTH."""
    auth = resolve_auth(api_url, api_username, api_password, environ=environ, auth_file=auth_file)
    if not auth['url'].startswith(('http://', 'https://')):
        raise OneError('api_url must be an http:// or https:// XML-RPC endpoint, got {!r}'.format(auth['url']), kind='CONFIG')
    server = OneServer(auth['url'], '{}:{}'.format(auth['username'], auth['password']),
                       validate_certs=validate_certs, timeout=api_timeout)
    server.username = auth['username']
    return server


def connect_from_params(params):
    """Build a client from an AnsibleModule's params (common arg spec)."""
    return connect(api_url=params.get('api_url'), api_username=params.get('api_username'),
                   api_password=params.get('api_password'),
                   validate_certs=params.get('validate_certs', True),
                   api_timeout=params.get('api_timeout') or DEFAULT_TIMEOUT)


def one_argument_spec():
    """The common options (see the nebulavoip.cloud.opennebula doc fragment)."""
    return {
        'api_url': {'type': 'str', 'aliases': ['api_endpoint'], 'fallback': (env_fallback, ['ONE_URL'])},
        'api_username': {'type': 'str', 'fallback': (env_fallback, ['ONE_USERNAME'])},
        'api_password': {'type': 'str', 'no_log': True, 'fallback': (env_fallback, ['ONE_PASSWORD'])},
        'validate_certs': {'type': 'bool', 'default': True},
        'api_timeout': {'type': 'int', 'default': DEFAULT_TIMEOUT},
        'wait': {'type': 'bool', 'default': True},
        'wait_timeout': {'type': 'int', 'default': 300},
    }
