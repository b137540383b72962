# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenNebula client: auth precedence, error mapping, TLS verification, timeouts.

Every test talks to a real XML-RPC server from the standard library, run in a
thread, answering the way oned does (``[False, "[one.x.y] message", code, ...]``).
"""


import datetime
import importlib
import ipaddress
import socket
import ssl
import sys
import threading
import time
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import opennebula
from ansible_collections.nebulavoip.cloud.plugins.module_utils.opennebula import (
    OneError,
    connect,
    resolve_auth,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VNET_XML = ('<VNET><ID>7</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>'
            '<NAME>lan</NAME><TEMPLATE><BRIDGE><![CDATA[br0]]></BRIDGE></TEMPLATE></VNET>')


class _Quiet(SimpleXMLRPCRequestHandler):
    rpc_paths = ('/RPC2',)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


class FakeOned:
    """A tiny oned: records sessions, answers one.vn.info / one.vn.delete like oned."""

    def __init__(self, tls_context=None, delay=0.0):
        self.sessions = []
        self.delay = delay
        self.server = SimpleXMLRPCServer(('127.0.0.1', 0), requestHandler=_Quiet, logRequests=False,
                                         allow_none=True, bind_and_activate=True)
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.server.register_function(self.vn_info, 'one.vn.info')
        self.server.register_function(self.vn_delete, 'one.vn.delete')
        self.server.register_function(self.fault, 'one.vn.fault')
        self.scheme = 'https' if tls_context else 'http'
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05})
        self.thread.daemon = True
        self.thread.start()

    @property
    def url(self):
        return '%s://127.0.0.1:%d/RPC2' % (self.scheme, self.server.server_address[1])

    def vn_info(self, session, oid, decrypt=False):
        self.sessions.append(session)
        if self.delay:
            time.sleep(self.delay)
        if session != 'oneadmin:onepass':
            return [False, "[one.vn.info] User couldn't be authenticated, aborting call.", 0x100, 0, -1]
        if oid == 7:
            return [True, VNET_XML, 0]
        return [False, '[one.vn.info] Error getting virtual network [%d].' % oid, 0x400, oid, -1]

    def vn_delete(self, session, oid):
        codes = {1: (0x200, 'Not authorized to perform MANAGE NET [1].'),
                 2: (0x800, 'Cannot delete virtual network. Virtual network has leases in use'),
                 3: (0x1000, 'Wrong parameter'),
                 4: (0x2000, 'Internal error'),
                 5: (0x4000, 'NAME is already taken by NET 0.'),
                 6: (0x8000, 'The resource is locked.')}
        code, text = codes[oid]
        return [False, '[one.vn.delete] ' + text, code, oid, -1]

    def fault(self, session):
        raise ValueError('boom')

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def oned():
    server = FakeOned()
    yield server
    server.close()


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ('ONE_URL', 'ONE_XMLRPC', 'ONE_USERNAME', 'ONE_PASSWORD'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('ONE_AUTH', str(tmp_path / 'no_such_one_auth'))
    return monkeypatch


# ---------------------------------------------------------------- auth
def test_options_win_over_environment_and_one_auth_file(clean_env, tmp_path, oned):
    auth = tmp_path / 'one_auth'
    auth.write_text('fileuser:filepass\n')
    clean_env.setenv('ONE_AUTH', str(auth))
    clean_env.setenv('ONE_USERNAME', 'envuser')
    clean_env.setenv('ONE_PASSWORD', 'envpass')
    one = connect(oned.url, 'oneadmin', 'onepass')
    assert one.vn.info(7).NAME == 'lan'
    assert oned.sessions == ['oneadmin:onepass']


def test_environment_wins_over_one_auth_file(clean_env, tmp_path, oned):
    auth = tmp_path / 'one_auth'
    auth.write_text('fileuser:filepass\n')
    clean_env.setenv('ONE_AUTH', str(auth))
    clean_env.setenv('ONE_URL', oned.url)
    clean_env.setenv('ONE_USERNAME', 'oneadmin')
    clean_env.setenv('ONE_PASSWORD', 'onepass')
    one = connect()
    one.vn.info(7)
    assert oned.sessions == ['oneadmin:onepass']


def test_one_auth_file_used_when_nothing_else(clean_env, tmp_path, oned):
    auth = tmp_path / 'one_auth'
    auth.write_text('oneadmin:onepass\n')
    clean_env.setenv('ONE_AUTH', str(auth))
    one = connect(api_url=oned.url)
    one.vn.info(7)
    assert oned.sessions == ['oneadmin:onepass']


def test_one_auth_password_is_not_lent_to_another_user(clean_env, tmp_path):
    auth = tmp_path / 'one_auth'
    auth.write_text('oneadmin:onepass\n')
    clean_env.setenv('ONE_AUTH', str(auth))
    with pytest.raises(OneError) as err:
        resolve_auth('http://x:2633/RPC2', 'bob', None)
    assert err.value.kind == 'CONFIG'
    assert 'ONE_AUTH' in str(err.value)


def test_per_field_sources_are_reported(clean_env, tmp_path):
    auth = tmp_path / 'one_auth'
    auth.write_text('oneadmin:filepass')
    clean_env.setenv('ONE_AUTH', str(auth))
    clean_env.setenv('ONE_URL', 'http://envhost:2633/RPC2')
    got = resolve_auth(None, None, None)
    assert got['url'] == 'http://envhost:2633/RPC2'
    assert (got['username'], got['password']) == ('oneadmin', 'filepass')
    assert got['sources'] == {'url': 'environment', 'username': 'one_auth', 'password': 'one_auth'}


def test_default_url_when_none_given(clean_env):
    got = resolve_auth(None, 'u', 'p')
    assert got['url'] == 'http://localhost:2633/RPC2'


def test_malformed_one_auth_file_is_a_clear_error(clean_env, tmp_path):
    auth = tmp_path / 'one_auth'
    auth.write_text('no-colon-here')
    clean_env.setenv('ONE_AUTH', str(auth))
    with pytest.raises(OneError, match='user:password'):
        resolve_auth('http://x/RPC2', None, None)


# ---------------------------------------------------------------- error mapping
def test_no_such_object_message_names_method_and_object(oned):
    one = connect(oned.url, 'oneadmin', 'onepass')
    with pytest.raises(OneError) as err:
        one.vn.info(42)
    assert str(err.value) == 'one.vn.info(42): [one.vn.info] Error getting virtual network [42]. (NO_EXISTS)'
    assert err.value.code == 0x400
    assert err.value.is_not_found
    assert err.value.method == 'one.vn.info'


def test_wrong_password_is_authentication_error_without_secret(oned):
    one = connect(oned.url, 'oneadmin', 'wrong-secret')
    with pytest.raises(OneError) as err:
        one.vn.info(7)
    assert err.value.kind == 'AUTHENTICATION'
    assert err.value.code == 0x100
    assert 'wrong-secret' not in str(err.value)
    assert str(err.value).startswith('one.vn.info(7): ')


@pytest.mark.parametrize('oid,code,kind', [
    (1, 0x200, 'AUTHORIZATION'),
    (2, 0x800, 'ACTION'),
    (3, 0x1000, 'XML_RPC_API'),
    (4, 0x2000, 'INTERNAL'),
    (5, 0x4000, 'ALLOCATE'),
    (6, 0x8000, 'LOCKED'),
])
def test_every_oned_error_code_maps_to_its_name(oned, oid, code, kind):
    one = connect(oned.url, 'oneadmin', 'onepass')
    with pytest.raises(OneError) as err:
        one.vn.delete(oid)
    assert err.value.code == code
    assert err.value.kind == kind
    assert str(err.value).startswith('one.vn.delete(%d): [one.vn.delete] ' % oid)
    assert str(err.value).endswith(f'({kind})')


def test_xmlrpc_fault_is_protocol_error(oned):
    one = connect(oned.url, 'oneadmin', 'onepass')
    with pytest.raises(OneError) as err:
        one.vn.fault()
    assert err.value.kind == 'PROTOCOL'
    assert 'XML-RPC fault' in str(err.value)


def test_unknown_path_is_http_error(oned):
    one = connect(oned.url.replace('/RPC2', '/nope'), 'oneadmin', 'onepass')
    with pytest.raises(OneError) as err:
        one.vn.info(7)
    assert err.value.kind == 'HTTP'
    assert '404' in str(err.value)


def _closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_closed_port_is_unreachable_one_clear_message():
    one = connect('http://127.0.0.1:%d/RPC2' % _closed_port(), 'oneadmin', 'onepass', api_timeout=5)
    with pytest.raises(OneError) as err:
        one.vn.info(7)
    assert err.value.kind == 'UNREACHABLE'
    msg = str(err.value)
    assert msg.startswith('one.vn.info(7): cannot reach oned at http://127.0.0.1:')
    assert 'Connection refused' in msg
    assert 'Traceback' not in msg and 'HTTPConnectionPool' not in msg


def test_unresolvable_host_is_dns_error():
    one = connect('http://no-such-host.invalid:2633/RPC2', 'oneadmin', 'onepass', api_timeout=5)
    with pytest.raises(OneError) as err:
        one.vn.info(7)
    assert err.value.kind in ('DNS', 'UNREACHABLE')  # resolvers without DNS answer "unreachable"
    assert 'no-such-host.invalid' in str(err.value)


def test_api_timeout_is_honoured_per_request():
    slow = FakeOned(delay=3.0)
    try:
        one = connect(slow.url, 'oneadmin', 'onepass', api_timeout=1)
        started = time.time()
        with pytest.raises(OneError) as err:
            one.vn.info(7)
        assert err.value.kind == 'TIMEOUT'
        assert time.time() - started < 2.5
    finally:
        slow.close()


def test_timeout_does_not_touch_process_socket_default(oned):
    before = socket.getdefaulttimeout()
    connect(oned.url, 'oneadmin', 'onepass', api_timeout=3).vn.info(7)
    assert socket.getdefaulttimeout() == before


def test_calls_are_counted(oned):
    one = connect(oned.url, 'oneadmin', 'onepass')
    one.vn.info(7)
    with pytest.raises(OneError):
        one.vn.info(8)
    assert one.calls == 2
    assert one.call_log == ['one.vn.info', 'one.vn.info']


def test_non_http_url_is_config_error():
    with pytest.raises(OneError) as err:
        connect('localhost:2633', 'u', 'p')
    assert err.value.kind == 'CONFIG'


# ---------------------------------------------------------------- TLS
def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]), False)
            .sign(key, hashes.SHA256()))
    cert_path = tmp_path / 'cert.pem'
    key_path = tmp_path / 'key.pem'
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx, cert_path


@pytest.fixture
def tls_oned(tmp_path, monkeypatch):
    for var in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
        monkeypatch.delenv(var, raising=False)
    ctx, cert_path = _self_signed(tmp_path)
    server = FakeOned(tls_context=ctx)
    server.cert_path = cert_path
    yield server
    server.close()


def test_validate_certs_true_rejects_self_signed_certificate(tls_oned):
    one = connect(tls_oned.url, 'oneadmin', 'onepass', validate_certs=True, api_timeout=5)
    with pytest.raises(OneError) as err:
        one.vn.info(7)
    assert err.value.kind == 'TLS'
    assert 'certificate verify failed' in str(err.value)
    assert 'validate_certs' in str(err.value)
    assert tls_oned.sessions == []  # the request never reached the server


def test_validate_certs_false_really_skips_verification(tls_oned):
    one = connect(tls_oned.url, 'oneadmin', 'onepass', validate_certs=False, api_timeout=5)
    assert one.vn.info(7).NAME == 'lan'
    assert tls_oned.sessions == ['oneadmin:onepass']


def test_validate_certs_true_accepts_a_trusted_ca(tls_oned, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', str(tls_oned.cert_path))
    one = connect(tls_oned.url, 'oneadmin', 'onepass', validate_certs=True, api_timeout=5)
    assert one.vn.info(7).ID == 7


# ---------------------------------------------------------------- guarded import
def test_missing_pyone_is_reported_not_raised(monkeypatch):
    name = opennebula.__name__
    for mod in [m for m in sys.modules if m == 'pyone' or m.startswith('pyone.')]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, 'pyone', None)
    monkeypatch.delitem(sys.modules, name)
    try:
        reloaded = importlib.import_module(name)
        assert reloaded.HAS_PYONE is False
        assert 'pyone' in reloaded.PYONE_IMPORT_ERROR
        with pytest.raises(reloaded.OneError, match='pyone is required'):
            reloaded.OneServer('http://127.0.0.1:1/RPC2', 'a:b')
    finally:
        monkeypatch.undo()
        sys.modules[name] = opennebula
