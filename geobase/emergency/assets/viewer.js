"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const R = 6378137, TILE = 256;
const map = document.getElementById("map"), layer = document.getElementById("tiles"),
  svg = document.getElementById("overlay");
const T = D.tiles, cache = new Map();
let z = T ? T.maxzoom : 17;
function merc(lon, lat) {
  const x = R * lon * Math.PI / 180;
  const y = R * Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360));
  return [x, y];
}
function px(lon, lat) {  // global pixel at zoom z
  const [x, y] = merc(lon, lat), size = TILE * 2 ** z, half = Math.PI * R;
  return [(x + half) / (2 * half) * size, (half - y) / (2 * half) * size];
}
const b = D.bounds;
let centre = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], off = [0, 0];
function ring(coords) {
  return coords.map(c => px(c[0], c[1])).map(p => (p[0] - off[0]) + "," + (p[1] - off[1])).join(" ");
}
function polys(geom) {
  return geom.type === "Polygon" ? [geom.coordinates] : geom.coordinates;
}
function draw() {
  const w = map.clientWidth, h = map.clientHeight, c = px(centre[0], centre[1]);
  off = [c[0] - w / 2, c[1] - h / 2];
  const shown = new Set();
  if (T && z >= T.minzoom && z <= T.maxzoom) {
    for (let tx = Math.floor(off[0] / TILE); tx <= Math.floor((off[0] + w) / TILE); tx++) {
      for (let ty = Math.floor(off[1] / TILE); ty <= Math.floor((off[1] + h) / TILE); ty++) {
        const key = z + "/" + tx + "/" + ty;
        let img = cache.get(key);
        if (!img) {
          img = new Image();
          img.onerror = () => { img.dataset.missing = "1"; img.remove(); };  // outside the area
          img.src = "viewer/tiles/" + key + ".jpg";
          cache.set(key, img);
        }
        if (img.dataset.missing) continue;
        img.style.left = (tx * TILE - off[0]) + "px"; img.style.top = (ty * TILE - off[1]) + "px";
        if (img.parentNode !== layer) layer.appendChild(img);
        shown.add(img);
      }
    }
  }
  for (const img of Array.from(layer.children)) if (!shown.has(img)) img.remove();
  svg.setAttribute("width", w); svg.setAttribute("height", h);
  let s = "";
  for (const f of D.sheets) {
    if (String(f.properties.scale) !== "500" && z >= 15) continue;
    for (const p of polys(f.geometry)) s += '<polygon points="' + ring(p[0]) +
      '" fill="none" stroke="#06c" stroke-width="0.7"><title>' + f.properties.code + "</title></polygon>";
  }
  for (const p of polys(D.area.geometry)) s += '<polygon points="' + ring(p[0]) +
    '" fill="none" stroke="#d22" stroke-width="2.5"/>';
  for (const f of D.control) {
    const q = px(...f.geometry.coordinates);
    s += '<circle cx="' + (q[0] - off[0]) + '" cy="' + (q[1] - off[1]) +
      '" r="5" fill="#0a0" stroke="#fff"><title>' + f.properties.point_id + " " + f.properties.name + "</title></circle>";
  }
  for (const f of D.cors) {
    const q = px(...f.geometry.coordinates), x = q[0] - off[0], y = q[1] - off[1];
    s += '<polygon points="' + x + "," + (y - 7) + " " + (x - 6) + "," + (y + 5) + " " + (x + 6) + "," + (y + 5) +
      '" fill="#c0c" stroke="#fff"><title>CORS ' + f.properties.point_id + "</title></polygon>";
  }
  svg.innerHTML = s;
}
document.getElementById("zin").onclick = () => { z = Math.min(z + 1, 22); draw(); };
document.getElementById("zout").onclick = () => { z = Math.max(z - 1, 1); draw(); };
let drag = null;
map.addEventListener("mousedown", e => { drag = [e.clientX, e.clientY]; });
window.addEventListener("mouseup", () => { drag = null; });
window.addEventListener("mousemove", e => {
  if (!drag) return;
  const c = px(centre[0], centre[1]), nx = c[0] - (e.clientX - drag[0]), ny = c[1] - (e.clientY - drag[1]);
  const size = TILE * 2 ** z, half = Math.PI * R;
  const lon = (nx / size * 2 * half - half) / R * 180 / Math.PI;
  const lat = (2 * Math.atan(Math.exp((half - ny / size * 2 * half) / R)) - Math.PI / 2) * 180 / Math.PI;
  centre = [lon, lat]; drag = [e.clientX, e.clientY]; draw();
});
window.addEventListener("resize", draw);
// start with the whole area in view
while (z > 1) {
  const a = px(b[0], b[3]), c = px(b[2], b[1]);
  if (c[0] - a[0] <= map.clientWidth && c[1] - a[1] <= map.clientHeight) break;
  z -= 1;
}
draw();
document.body.dataset.ready = "1";
