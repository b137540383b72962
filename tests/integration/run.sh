#!/bin/sh
# Run the OpenNebula integration targets against tools/one_emulator (see run.py).
# PYTHON defaults to the repository's virtualenv.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
exec "$python" "$here/run.py" "$@"
