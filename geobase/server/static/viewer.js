/* geobase viewer: each pyramid in its own grid (Web Mercator, CGCS2000), coverage and
   public control points, with a layer switcher. Uses the OpenLayers build served by
   geobase (static/ol.js); every request goes to the service that served this page. */
(function () {
  'use strict';

  var LEVELS = { public: '公开 public', internal: '内部 internal', restricted: '涉密 restricted' };
  var OVERVIEW = { center: [105, 35], zoom: 4 };  // China, until a pyramid says where to look
  var state = { token: sessionStorage.getItem('geobase-token') || '', maps: {} };
  var viewer = { maps: state.maps, tilesLoaded: {}, tileErrors: {}, ready: false };
  window.geobaseViewer = viewer;

  // --- the CGCS2000 geographic grid (Tianditu "c"): level L is 0.703125° / 2^(L-1) per pixel
  var cgcs2000 = new ol.proj.Projection({
    code: 'EPSG:4490', units: 'degrees', extent: [-180, -90, 180, 90],
    worldExtent: [-180, -90, 180, 90], global: true
  });
  ol.proj.addProjection(cgcs2000);
  ol.proj.addEquivalentProjections([ol.proj.get('EPSG:4326'), cgcs2000]);
  ol.proj.addCoordinateTransforms(cgcs2000, 'EPSG:3857',
    function (c) { return ol.proj.transform(c, 'EPSG:4326', 'EPSG:3857'); },
    function (c) { return ol.proj.transform(c, 'EPSG:3857', 'EPSG:4326'); });

  function cgcsResolutions(maxzoom) {
    var out = [];
    for (var level = 0; level <= maxzoom; level++) { out.push(0.703125 / Math.pow(2, level - 1)); }
    return out;
  }

  var GRIDS = {
    WebMercatorQuad: { projection: ol.proj.get('EPSG:3857'), maxzoom: 22 },
    CGCS2000Quad: { projection: cgcs2000, maxzoom: 22 }
  };

  function headers() {
    return state.token ? { Authorization: 'Bearer ' + state.token } : {};
  }

  function getJSON(url) {
    return fetch(url, { headers: headers() }).then(function (r) {
      if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); }
      return r.json();
    });
  }

  function status(text) { document.getElementById('status').textContent = text; }

  // tiles that need a token are fetched with it; public ones load as plain images
  function tokenLoader(tile, src) {
    fetch(src, { headers: headers() }).then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      return r.blob();
    }).then(function (blob) {
      var image = tile.getImage();
      var url = URL.createObjectURL(blob);
      image.onload = function () { URL.revokeObjectURL(url); };
      image.src = url;
    }).catch(function () { tile.setState(3); });
  }

  function tileLayer(p) {
    var grid = GRIDS[p.tileMatrixSet];
    var extent = ol.proj.transformExtent(p.bounds, 'EPSG:4326', grid.projection);
    var options = {
      url: p.tiles, projection: grid.projection, crossOrigin: null,
      minZoom: p.minzoom, maxZoom: p.maxzoom, transition: 0
    };
    if (p.tileMatrixSet === 'CGCS2000Quad') {
      options.tileGrid = new ol.tilegrid.TileGrid({
        origin: [-180, 90], extent: [-180, -90, 180, 90], tileSize: 256,
        resolutions: cgcsResolutions(p.maxzoom), minZoom: p.minzoom
      });
    }
    if (state.token && p.classification !== 'public') { options.tileLoadFunction = tokenLoader; }
    var source = new ol.source.XYZ(options);
    var key = p.tileMatrixSet;
    source.on('tileloadend', function () { viewer.tilesLoaded[key] = (viewer.tilesLoaded[key] || 0) + 1; });
    source.on('tileloaderror', function () { viewer.tileErrors[key] = (viewer.tileErrors[key] || 0) + 1; });
    return new ol.layer.Tile({ source: source, extent: extent, minZoom: p.minzoom - 1 });
  }

  var STYLES = {
    coverage: new ol.style.Style({
      stroke: new ol.style.Stroke({ color: '#d9480f', width: 2 }),
      fill: new ol.style.Fill({ color: 'rgba(217, 72, 15, 0.12)' })
    }),
    control: new ol.style.Style({
      image: new ol.style.RegularShape({
        points: 3, radius: 6, fill: new ol.style.Fill({ color: '#1864ab' }),
        stroke: new ol.style.Stroke({ color: '#fff', width: 1 })
      })
    })
  };

  function vectorLayer(url, style, projection) {
    return new ol.layer.Vector({
      source: new ol.source.Vector({
        format: new ol.format.GeoJSON({ dataProjection: 'EPSG:4326', featureProjection: projection }),
        loader: function (extent, resolution, proj, success, failure) {
          var source = this;
          getJSON(url).then(function (doc) {
            var features = source.getFormat().readFeatures(doc, { featureProjection: projection });
            source.addFeatures(features);
            success(features);
          }).catch(function (err) { status(String(err)); failure(); });
        }
      }),
      style: style
    });
  }

  // A map starts at its grid's first pyramid (else the other grid's): its bounds, no
  // further out than its minzoom and no closer than its maxzoom (its TileJSON's bounds
  // and zooms). Never the middle of several pyramids, where there may be no tile at all.
  function startView(map, grid, lead) {
    if (!lead) { return; }
    var view = map.getView();
    view.fit(ol.proj.transformExtent(lead.bounds, 'EPSG:4326', grid.projection),
      { size: map.getSize() || [400, 400], maxZoom: lead.maxzoom });
    if (!(view.getZoom() >= lead.minzoom)) { view.setZoom(lead.minzoom); }
  }

  function addSwitch(list, label, layer) {
    var row = document.createElement('label');
    var box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = layer.getVisible();
    box.addEventListener('change', function () { layer.setVisible(box.checked); });
    row.appendChild(box);
    row.appendChild(document.createTextNode(' ' + label));
    list.appendChild(row);
  }

  function build(pyramids, index) {
    Object.keys(GRIDS).forEach(function (key) {
      var grid = GRIDS[key];
      var panel = document.querySelector('.panel[data-grid="' + key + '"]');
      var list = panel.querySelector('.list');
      list.textContent = '';
      var target = document.getElementById('map-' + key);
      target.textContent = '';
      var mine = pyramids.filter(function (p) { return p.tileMatrixSet === key; });
      var viewOptions = {
        projection: grid.projection, zoom: OVERVIEW.zoom,
        center: ol.proj.transform(OVERVIEW.center, 'EPSG:4326', grid.projection)
      };
      if (key === 'CGCS2000Quad') {
        viewOptions.resolutions = cgcsResolutions(grid.maxzoom);
        viewOptions.constrainResolution = true;
      }
      var map = new ol.Map({ target: target, layers: [], view: new ol.View(viewOptions) });
      state.maps[key] = map;
      viewer.tilesLoaded[key] = 0;
      mine.forEach(function (p, i) {
        var layer = tileLayer(p);
        layer.setVisible(i === 0 || (p.format === 'png' && !p.encoding));  // not heights as colours
        map.addLayer(layer);
        addSwitch(list, p.title + ' (' + p.name + ', ' + (LEVELS[p.classification] || p.classification) +
          ', z' + p.minzoom + '-' + p.maxzoom + ')', layer);
      });
      if (!mine.length) {
        var none = document.createElement('p');
        none.className = 'empty';
        none.textContent = '此格网无瓦片 No pyramid on this grid';
        list.appendChild(none);
      }
      (index.coverage || []).forEach(function (c) {
        var layer = vectorLayer(c.href, STYLES.coverage, grid.projection);
        layer.setVisible(false);
        map.addLayer(layer);
        addSwitch(list, '覆盖范围 Coverage: ' + c.name_zh + ' ' + c.name_en + ' (' + c.product + ')', layer);
      });
      if (index.control) {
        var control = vectorLayer(index.control, STYLES.control, grid.projection);
        map.addLayer(control);
        addSwitch(list, '控制点(概略位置) Control points (generalised)', control);
      }
      startView(map, grid, mine[0] || pyramids[0]);
    });
    viewer.ready = true;
    status(pyramids.length + ' 个瓦片金字塔 pyramids · ' + (index.coverage || []).length +
      ' 个覆盖图层 coverage layers' + (index.control ? ' · 控制点 control points' : ''));
  }

  function load() {
    viewer.ready = false;
    Promise.all([getJSON('api/pyramids'), getJSON('api')]).then(function (docs) {
      build(docs[0].pyramids, docs[1]);
    }).catch(function (err) { status('加载失败 Loading failed: ' + err.message); });
  }

  document.getElementById('token').value = state.token;
  document.getElementById('token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    state.token = document.getElementById('token').value.trim();
    if (state.token) { sessionStorage.setItem('geobase-token', state.token); } else { sessionStorage.removeItem('geobase-token'); }
    load();
  });
  load();
}());
