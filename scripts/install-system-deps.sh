#!/usr/bin/env bash
# Debian packages geobase uses at run time ("run") and in its tests ("test").
# Installs only what is missing, and only as root; otherwise it lists what is missing.
set -uo pipefail
mode=${1:-run}
cd "$(dirname "$0")/.."
# run: a CJK font for Chinese text in datasheet PDFs and report charts
RUN_PKGS="fonts-wqy-zenhei"
# test: GDAL's tools (gdal2tiles, WMTS driver), headless chromium, PDF rendering
TEST_PKGS="gdal-bin chromium poppler-utils"
# test: PostgreSQL and PostGIS for the PostGIS store tests (they start a throw-away cluster)
pg_major=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
TEST_PKGS="$TEST_PKGS postgresql ${pg_major:+postgresql-$pg_major-postgis-3}"
[ -n "$pg_major" ] || TEST_PKGS="$TEST_PKGS postgresql-postgis"
pkgs=$RUN_PKGS
[ "$mode" = "test" ] && pkgs="$RUN_PKGS $TEST_PKGS"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null \
      || echo "warning: could not install:$missing" >&2
  else
    echo "note: missing Debian packages (need root to install):$missing" >&2
  fi
fi
# front-end assets (OpenLayers) for the viewer, from the npm registry
if [ -f geobase/server/static/package.json ] && [ ! -d geobase/server/static/node_modules ] && command -v npm >/dev/null; then
  (cd geobase/server/static && npm install --silent --no-audit --no-fund >/dev/null) \
    || echo "warning: npm install of the viewer's assets failed" >&2
fi
exit 0
