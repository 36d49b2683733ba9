#!/usr/bin/env bash
# Debian packages geobase uses at run time ("run") and in its tests ("test"). (The
# viewer's OpenLayers is vendored in geobase/server/static/vendor/ol/: no npm.)
# Installs only what is missing, and only as root; otherwise it lists what is missing.
set -uo pipefail
mode=${1:-run}
cd "$(dirname "$0")/.."

# run: a CJK TrueType font for Chinese text in datasheet PDFs and report charts
pkgs="fonts-wqy-zenhei"
# test: GDAL's tools (gdal2tiles, WMTS driver), headless chromium, PDF rendering, and
# PostgreSQL + PostGIS for the PostGIS store tests (they start a throw-away cluster)
[ "$mode" = "test" ] && pkgs="$pkgs gdal-bin chromium poppler-utils postgresql nginx-light"

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
postgis_pkg() {
  # postgresql-<major>-postgis-3 for the distribution's PostgreSQL major version
  local major
  major=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
  [ -n "$major" ] && echo "postgresql-$major-postgis-3"
}

missing=""
for p in $pkgs; do is_installed "$p" || missing="$missing $p"; done
if [ "$mode" = "test" ]; then
  pg=$(postgis_pkg)
  if [ -z "$pg" ] || ! is_installed "$pg"; then missing="$missing postgis"; fi
fi

if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1
    # resolve the PostGIS package name now that the package lists are fresh
    missing=${missing/postgis/$(postgis_pkg)}
    echo "installing Debian packages:$missing" >&2
    apt-get install -y -qq --no-install-recommends $missing >/dev/null \
      || echo "warning: could not install:$missing" >&2
  else
    echo "note: missing Debian packages (need root to install):$missing" >&2
  fi
fi

exit 0
