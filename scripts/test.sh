#!/usr/bin/env bash
# The whole check, as CI runs it: install (with test tools, at the versions of
# constraints.txt), the pre-commit hooks (ruff lint, ruff format check, mypy: see
# .pre-commit-config.yaml), the tests; then the smoke tests against today's
# newest releases in a second environment (scripts/test-newest.sh).
# Arguments go to pytest in both environments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
# the hooks run the tools of .venv (local hooks: nothing is fetched); pre-commit needs a
# git checkout, so a copy without .git runs the same three tools directly
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  PATH="$PWD/.venv/bin:$PATH" .venv/bin/pre-commit run --all-files --show-diff-on-failure
else
  .venv/bin/ruff check geobase tests bench scripts datasets
  .venv/bin/ruff format --check geobase tests bench scripts datasets
  .venv/bin/mypy
fi
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
