#!/usr/bin/env bash
# Refresh the viewer's vendored OpenLayers (geobase/server/static/vendor/ol/) from the npm
# registry: the single-file browser build and its stylesheet, with the licences of
# OpenLayers and of every package bundled into ol.js (read from its source map). Needs
# npm and node here only; installing and testing geobase never do.
#   bash scripts/vendor-openlayers.sh            # the version in vendor/ol/VERSION
#   bash scripts/vendor-openlayers.sh 10.12.0    # another one (then run the viewer tests)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=geobase/server/static/vendor/ol
version=${1:-$(cat "$dest/VERSION")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm install --silent --prefix "$work" --no-audit --no-fund --ignore-scripts "ol@$version" >/dev/null
mods="$work/node_modules"
# the packages bundled into dist/ol.js: those its source map names (besides ol itself)
bundled=$(node -e '
  const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const names = new Set(m.sources.filter(s => s.includes("node_modules/"))
    .map(s => s.split("node_modules/").pop().split("/")[0]));
  process.stdout.write([...names].sort().join(" "));' "$mods/ol/dist/ol.js.map")
rm -f "$dest"/LICENSE-*.txt
mkdir -p "$dest"
# the sourceMappingURL comment would make devtools request a file that is not shipped
sed '${/^\/\/# sourceMappingURL=/d}' "$mods/ol/dist/ol.js" >"$dest/ol.js"
cp "$mods/ol/ol.css" "$dest/ol.css"
cp "$mods/ol/LICENSE.md" "$dest/LICENSE.md"
for name in $bundled; do
  licence=$(ls "$mods/$name"/LICEN[CS]E* 2>/dev/null | head -1)
  [ -n "$licence" ] || { echo "no licence file in the bundled package $name" >&2; exit 1; }
  cp "$licence" "$dest/LICENSE-$name.txt"
done
node -e '
  const fs = require("fs"), mods = process.argv[1], names = process.argv.slice(2);
  const v = n => JSON.parse(fs.readFileSync(`${mods}/${n}/package.json`)).version;
  const l = n => JSON.parse(fs.readFileSync(`${mods}/${n}/package.json`)).license;
  for (const n of ["ol", ...names]) console.log(`${n} ${v(n)} ${l(n)}`);' "$mods" $bundled \
  >"$dest/BUNDLED"
echo "$version" >"$dest/VERSION"
(cd "$dest" && sha256sum ol.js ol.css >SHA256SUMS)
echo "vendored OpenLayers $version (bundling: $bundled) into $dest" >&2
