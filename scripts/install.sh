#!/usr/bin/env bash
# Create the isolated environment (.venv) and install geobase with its extras, at the
# versions it is tested with (constraints.txt; scripts/refresh-constraints.sh renews it).
#   bash scripts/install.sh            # geobase + server, pdf, dask, postgis extras
#   bash scripts/install.sh test       # also the test tools
# System packages (fonts, GDAL's command-line tools, chromium, PostgreSQL) are installed
# by scripts/install-system-deps.sh when running as root; without root they are skipped
# and the tests that need them say so.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extras="server,pdf,dask,postgis"
[ "${1:-}" = "test" ] && extras="$extras,test"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.geobase-installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[$extras]"
  touch "$stamp"
fi
bash scripts/install-system-deps.sh "${1:-run}"
