#!/usr/bin/env bash
# The CLI smoke tests against today's newest releases of every dependency (no
# constraints), in a second environment (.venv-newest), so that a new pandas or shapely
# release shows up here as a red test before a user meets it. scripts/test.sh runs it
# after the main suite; run it alone with `bash scripts/test-newest.sh [pytest args]`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
venv=.venv-newest
extras="server,pdf,dask,postgis,test"
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# eager: every dependency, not only geobase's direct ones, at its newest release
"$venv/bin/python" -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[$extras]"
# what differs from the tested versions (constraints.txt), for the log
"$venv/bin/python" - <<'PY'
import re
from importlib.metadata import distributions

pinned = {}
for line in open("constraints.txt", encoding="utf-8"):
    m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
    if m:
        pinned[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
newer = []
for d in distributions():
    name = re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
    if name in pinned and pinned[name] != d.version:
        newer.append(f"{name} {d.version} (constraints {pinned[name]})")
print("newest releases that differ from constraints.txt:", ", ".join(sorted(newer)) or "none")
PY
# The smoke tests (marker `smoke`: every documented command line on the demo workspace),
# plus a fast CLI-level subset that reads and writes real files through pandas, shapely,
# geopandas, rasterio and pyproj (tens of seconds).
NEWEST_ALSO=(tests/test_real_data.py tests/test_cli_sheets.py tests/test_cli_crs.py
  tests/test_ingest_raster.py tests/test_coverage_report.py)
set +e
"$venv/bin/python" -m pytest -q -m smoke "$@"
smoke=$?
"$venv/bin/python" -m pytest -q "${NEWEST_ALSO[@]}" "$@"
also=$?
set -e
if [ $smoke -eq 5 ]; then
  # pytest's 5: nothing collected. Only acceptable while the smoke module does not exist.
  if [ -e tests/test_smoke_cli.py ]; then
    echo "no smoke tests were collected from tests/test_smoke_cli.py" >&2
  else
    echo "note: no smoke tests yet (tests/test_smoke_cli.py); ran the CLI subset only" >&2
    smoke=0
  fi
fi
[ $smoke -eq 0 ] && [ $also -eq 0 ]
