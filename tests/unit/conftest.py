# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.nebulavoip.cloud`` importable for plain pytest runs.

ansible-test sets the collection path itself; a plain ``pytest tests/unit`` uses
``<repo>/.build/collections`` (its ``ansible_collections/nebulavoip/cloud`` is a
symlink to the repository root).
"""


import os
import sys


def _collections_root():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    return os.path.join(repo, '.build', 'collections')


try:
    import ansible_collections.nebulavoip.cloud  # noqa: F401  pylint: disable=unused-import
except ImportError:
    root = _collections_root()
    link = os.path.join(root, 'ansible_collections', 'nebulavoip', 'cloud')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.join('..', '..', '..', '..'), link)
    sys.path.insert(0, root)
    for name in [m for m in sys.modules if m == 'ansible_collections' or m.startswith('ansible_collections.')]:
        del sys.modules[name]
