"""Stand-in for pip's ``get-pip.py`` bootstrap script, used by ansible-test.

ansible-test bootstraps pip into each virtual environment with a script that it downloads
from a host we cannot reach; it looks first in its cache, where the Makefile puts this file.
It installs pip from the interpreter's bundled wheel (ensurepip), then installs what
ansible-test asked for with that pip, keeping the caller's environment (ensurepip scrubs
every PIP_* variable, and the index settings live there).
"""

import ensurepip
import os
import subprocess
import sys


def main():
    saved_env = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=saved_env)


if __name__ == "__main__":
    sys.exit(main())
