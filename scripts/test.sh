#!/usr/bin/env bash
# The whole check, as CI runs it: install (with test tools), lint, format check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
.venv/bin/ruff check geobase tests bench scripts datasets
.venv/bin/ruff format --check geobase tests bench scripts datasets
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest's 5 means "no tests collected": that is a failure of the suite, not a pass
[ $rc -eq 5 ] && { echo "no tests were collected" >&2; exit 1; }
exit $rc
