#!/usr/bin/env bash
# The whole check, as CI runs it: install (with test tools, at the versions of
# constraints.txt), lint, format check, the tests; then the smoke tests against today's
# newest releases in a second environment (scripts/test-newest.sh).
# Arguments go to pytest in both environments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
.venv/bin/ruff check geobase tests bench scripts datasets
.venv/bin/ruff format --check geobase tests bench scripts datasets
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest's 5 means "no tests were collected": that is a failure of the suite, not a pass
[ $rc -eq 5 ] && { echo "no tests were collected" >&2; rc=1; }
echo "--- the smoke tests with today's newest releases (.venv-newest) ---" >&2
set +e
bash scripts/test-newest.sh "$@"
newest=$?
set -e
[ $newest -ne 0 ] && echo "the smoke tests fail with today's newest releases (see above)" >&2
[ $rc -ne 0 ] && exit $rc
exit $newest
