# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The template codec follows oned's template grammar and compares canonically."""


from collections import OrderedDict

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_template as t
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_template import (
    TemplateError,
)
from hypothesis import given, settings
from hypothesis import strategies as st


# ---------------------------------------------------------------- rendering
def test_scalars_are_quoted_and_names_upper_cased():
    assert t.render({'name': 'vm1', 'cpu': 0.5, 'memory': 128, 'persistent': True}) == (
        'NAME="vm1"\nCPU="0.5"\nMEMORY="128"\nPERSISTENT="YES"\n')


def test_vector_renders_sorted_quoted_sub_attributes():
    assert t.render({'NIC': {'network': 'lan', 'ip': '10.0.0.5'}}) == 'NIC=[\n  IP="10.0.0.5",\n  NETWORK="lan" ]\n'


def test_repeated_vectors_keep_their_order():
    text = t.render({'DISK': [{'IMAGE': 'b'}, {'IMAGE': 'a'}]})
    assert text.index('"b"') < text.index('"a"')
    assert text.count('DISK=[') == 2


def test_empty_vector_renders_as_empty_brackets():
    assert t.render({'FEATURES': {}}) == 'FEATURES=[]\n'


def test_double_quote_is_escaped_the_oned_way():
    assert t.render({'A': 'say "hi"'}) == 'A="say \\"hi\\""\n'


def test_value_with_cdata_end_is_refused():
    with pytest.raises(TemplateError, match=r'\]\]>'):
        t.render({'A': 'x]]>y'})


def test_value_ending_with_backslash_is_refused():
    with pytest.raises(TemplateError, match='backslash'):
        t.render({'A': 'C:\\'})


def test_nested_vector_is_refused():
    with pytest.raises(TemplateError):
        t.render({'A': {'B': {'C': '1'}}})


def test_invalid_attribute_name_is_refused():
    with pytest.raises(TemplateError):
        t.render({'BAD NAME': '1'})


def test_name_starting_with_digit_gets_one_prefix_like_oned():
    assert t.canonical_name('1st') == 'ONE_1ST'
    assert t.canonical_name('XMLRPC') == 'ONE_XMLRPC'
    assert t.canonical_name('xmlish') == 'XMLISH'


# ---------------------------------------------------------------- parsing
def test_parse_recorded_oned_request():
    # the exact template text of a recorded one.template.allocate
    text = ('NAME="tpl-full"\nCPU="0.5"\nVCPU="1"\nMEMORY="128"\nDISK=[IMAGE_ID="0"]\nNIC=[NETWORK_ID="0"]\n'
            'CONTEXT=[NETWORK="YES",SSH_PUBLIC_KEY="ssh-ed25519 AAAA golden@test"]\n'
            'GRAPHICS=[TYPE="VNC",LISTEN="0.0.0.0"]\nOS=[ARCH="x86_64",BOOT="disk0"]\nLABELS="golden,tests"')
    got = t.parse(text)
    assert got['CONTEXT'] == {'NETWORK': 'YES', 'SSH_PUBLIC_KEY': 'ssh-ed25519 AAAA golden@test'}
    assert got['LABELS'] == 'golden,tests'
    assert got['DISK'] == {'IMAGE_ID': '0'}


def test_parse_bare_words_comments_blank_and_empty_values():
    got = t.parse('# comment\n  name = vm1\n\nempty =\nvec = [ a = 1 , b = two ]\n')
    assert got == {'NAME': 'vm1', 'EMPTY': '', 'VEC': {'A': '1', 'B': 'two'}}


def test_parse_repeated_attribute_becomes_list():
    got = t.parse('NIC=[NETWORK="a"]\nNIC=[NETWORK="b"]\nNIC=[NETWORK="c"]')
    assert got['NIC'] == [{'NETWORK': 'a'}, {'NETWORK': 'b'}, {'NETWORK': 'c'}]


def test_parse_repeated_key_inside_vector_keeps_first_like_oned():
    assert t.parse('V=[A="1",a="2"]') == {'V': {'A': '1'}}


def test_parse_backslash_is_literal_except_before_quote():
    assert t.parse('A="c:\\dir\\file"') == {'A': 'c:\\dir\\file'}
    assert t.parse('A="x\\"y"') == {'A': 'x"y'}


def test_parse_multiline_value():
    assert t.parse('START_SCRIPT="line1\nline2\n"\nB=1') == {'START_SCRIPT': 'line1\nline2\n', 'B': '1'}


def test_parse_empty_vector():
    assert t.parse('FEATURES=[]\nFEATURES=[ ]') == {'FEATURES': [{}, {}]}


@pytest.mark.parametrize('bad', ['A', 'A="unterminated', 'V=[A="1" B="2"]', 'V=[A="1",', '=1', 'A="x]]>"'])
def test_parse_syntax_errors(bad):
    with pytest.raises(TemplateError):
        t.parse(bad)


# ---------------------------------------------------------------- nasty round trips
NASTY = {
    'QUOTES': 'he said "hi" and \\"escaped\\"',
    'BRACKETS_COMMAS': 'a,b],[c=d#e',
    'MULTI': 'line one\n  line two\n\nline four',
    'BACKSLASH_INSIDE': 'a\\b\\\\c',
    'EMPTY': '',
    'SPACES': '  padded  ',
    'UNICODE': 'caf\u00e9 \u2603',
    'CONTEXT': {'START_SCRIPT': 'echo "x" > /tmp/a, [b]\nexit 0', 'NETWORK': 'YES'},
    'NIC': [{'NETWORK': 'lan,1'}, {'NETWORK': 'wan]2'}, {}],
    'DISK': [{'IMAGE': 'os "img"'}, {'IMAGE': 'data'}],
    'EMPTYVEC': {},
}


def test_nasty_values_survive_a_round_trip():
    back = t.parse(t.render(NASTY))
    assert back == t.normalize(NASTY)
    assert back['QUOTES'] == NASTY['QUOTES']
    assert back['NIC'][2] == {}


# ---------------------------------------------------------------- pyone shapes
def test_normalize_pyone_single_vector_dict_and_list_of_vectors():
    one_nic = OrderedDict([('NIC', OrderedDict([('NETWORK_ID', '0')])), ('CPU', '1')])
    two_nics = OrderedDict([('NIC', [OrderedDict([('NETWORK_ID', '0')]), OrderedDict([('NETWORK_ID', '1')])])])
    assert t.normalize(one_nic) == {'NIC': {'NETWORK_ID': '0'}, 'CPU': '1'}
    assert t.normalize(two_nics) == {'NIC': [{'NETWORK_ID': '0'}, {'NETWORK_ID': '1'}]}
    assert t.vectors(one_nic, 'nic') == [{'NETWORK_ID': '0'}]
    assert t.vectors(two_nics, 'NIC') == [{'NETWORK_ID': '0'}, {'NETWORK_ID': '1'}]
    assert t.vectors({}, 'NIC') == []


def test_as_list():
    assert t.as_list(None) == []
    assert t.as_list({'A': '1'}) == [{'A': '1'}]
    assert t.as_list([1, 2]) == [1, 2]


# ---------------------------------------------------------------- canonical comparison
def test_key_order_and_case_do_not_matter():
    assert t.equal({'cpu': 1, 'memory': '128'}, OrderedDict([('MEMORY', '128'), ('CPU', '1')]))


def test_values_compare_as_strings_like_oned_stores_them():
    assert t.equal({'CPU': 1, 'ENABLED': True}, {'CPU': '1', 'ENABLED': 'YES'})
    assert not t.equal({'CPU': 1}, {'CPU': '1.0'})


def test_repeated_vector_order_matters():
    a = {'DISK': [{'IMAGE': 'a'}, {'IMAGE': 'b'}]}
    b = {'DISK': [{'IMAGE': 'b'}, {'IMAGE': 'a'}]}
    assert not t.equal(a, b)


def test_single_vector_equals_one_element_list():
    assert t.equal({'NIC': {'NETWORK': 'x'}}, {'NIC': [{'NETWORK': 'x'}]})


def test_empty_vector_equals_pyone_empty_string():
    assert t.equal({'FEATURES': {}}, {'FEATURES': ''})


def test_value_case_matters():
    assert not t.equal({'A': 'yes'}, {'A': 'YES'})


def test_subset_differences_ignore_oned_added_attributes():
    current = {'BRIDGE': 'br0', 'SECURITY_GROUPS': '0', 'BRIDGE_TYPE': 'linux'}
    assert t.subset_differences({'bridge': 'br0'}, current) == []
    assert t.subset_differences({'bridge': 'br1'}, current) == ['BRIDGE']
    assert t.subset_differences({'dns': '1.1.1.1'}, current) == ['DNS']


def test_merge_replaces_only_desired_names():
    merged = t.merge({'A': '1', 'SECURITY_GROUPS': '0'}, {'a': '2', 'b': '3'}, remove=['c'])
    assert merged == {'A': '2', 'SECURITY_GROUPS': '0', 'B': '3'}


# ---------------------------------------------------------------- property
_names = st.from_regex(r'[A-Z][A-Z0-9_]{0,8}', fullmatch=True)
_values = st.text(alphabet=st.characters(blacklist_categories=('Cs',), blacklist_characters='\x00'), max_size=30).filter(
    lambda s: ']]>' not in s and not s.endswith('\\'))
_vector = st.dictionaries(_names, _values, max_size=4)
_item = st.one_of(_values, _vector)
_attr = st.one_of(_item, st.lists(_item, min_size=2, max_size=3))
_templates = st.dictionaries(_names, _attr, max_size=6)


@settings(max_examples=300, deadline=None)
@given(_templates)
def test_property_render_then_parse_is_identity(template):
    text = t.render(template)
    assert t.parse(text) == t.normalize(template)
    assert t.equal(t.parse(text), template)
