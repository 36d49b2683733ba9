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

  // counter: the tilesLoaded key (default the grid); view: the projection of the map it
  // is drawn in, when another than its grid's (OpenLayers then reprojects its tiles)
  function tileLayer(p, counter, view) {
    var grid = GRIDS[p.tileMatrixSet];
    var extent = ol.proj.transformExtent(p.bounds, 'EPSG:4326', view || grid.projection);
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
    if (view && view !== grid.projection) {
      // reprojected: its grid bounded by its bounds, so that no tile beyond is asked for
      var mercator = p.tileMatrixSet === 'WebMercatorQuad';
      var half = 20037508.342789244;
      options.tileGrid = new ol.tilegrid.TileGrid({
        origin: mercator ? [-half, half] : [-180, 90], tileSize: 256, minZoom: p.minzoom,
        extent: ol.proj.transformExtent(p.bounds, 'EPSG:4326', grid.projection),
        resolutions: mercator ? Array.apply(null, Array(p.maxzoom + 1)).map(function (_, z) {
          return 2 * half / 256 / Math.pow(2, z);
        }) : cgcsResolutions(p.maxzoom)
      });
    }
    if (state.token && p.classification !== 'public') { options.tileLoadFunction = tokenLoader; }
    var source = new ol.source.XYZ(options);
    var key = counter || p.tileMatrixSet;
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
    showChanges(pyramids, index);
    viewer.ready = true;
    status(pyramids.length + ' 个瓦片金字塔 pyramids · ' + (index.coverage || []).length +
      ' 个覆盖图层 coverage layers' + (index.control ? ' · 控制点 control points' : ''));
  }

  // --- change results over their two epochs, side by side: the two maps share one view,
  // so they pan and zoom together; the change polygons are drawn on both
  var KINDS = {
    'new/raised': ['新增/抬升 new/raised', '#2b8a3e'],
    'removed/lowered': ['拆除/降低 removed/lowered', '#c92a2a'],
    changed: ['变化 changed', '#e67700']
  };
  var changeStyles = {};
  function changeStyle(feature) {
    var kind = feature.get('kind');
    if (!changeStyles[kind]) {
      var colour = (KINDS[kind] || KINDS.changed)[1];
      changeStyles[kind] = new ol.style.Style({
        stroke: new ol.style.Stroke({ color: colour, width: 2 }),
        fill: new ol.style.Fill({ color: 'rgba(255, 255, 255, 0.08)' })
      });
    }
    return changeStyles[kind];
  }
  var pair = { results: [], pyramids: [], maps: {}, epochs: {}, polygons: [] };
  viewer.changes = { result: null, features: 0, before: null, after: null };

  function fillSelect(select, items, chosen) {
    select.textContent = '';
    items.forEach(function (item) {
      var option = document.createElement('option');
      option.value = item[0];
      option.textContent = item[1];
      option.selected = item[0] === chosen;
      select.appendChild(option);
    });
  }

  function setEpoch(side) {
    var map = pair.maps[side];
    var name = document.getElementById('change-' + side).value;
    if (pair.epochs[side]) { map.removeLayer(pair.epochs[side]); }
    var p = pair.pyramids.filter(function (q) { return q.name === name; })[0];
    viewer.changes[side] = p ? p.name : null;
    viewer.tilesLoaded[side] = 0;
    pair.epochs[side] = p ? tileLayer(p, side, map.getView().getProjection()) : null;
    if (p) { map.getLayers().insertAt(0, pair.epochs[side]); }  // under the polygons
  }

  function describe(feature) {
    var f = feature.getProperties();
    return f.change_id + ' · ' + (KINDS[f.kind] || [f.kind])[0] + ' · ' +
      Number(f.area_m2).toFixed(1) + ' m² · 证据 evidence ' + f.evidence +
      (f.height_m === null || f.height_m === undefined ? '' : ' · ' + Number(f.height_m).toFixed(2) + ' m') +
      ' · ' + f.before_date + ' → ' + f.after_date;
  }

  function showResult() {
    var r = pair.results[document.getElementById('change-result').selectedIndex];
    var byName = {};
    pair.pyramids.forEach(function (p) { byName[p.name] = p; });
    var lead = byName[r.pyramids.before[0]] || byName[r.pyramids.after[0]];
    var key = lead ? lead.tileMatrixSet : 'WebMercatorQuad';
    var grid = GRIDS[key];
    // a pyramid on the other grid is reprojected by OpenLayers into this view's
    var choices = [['', '无 none']].concat(pair.pyramids.map(function (p) {
      return [p.name, p.title + ' (' + p.name + ', ' + p.tileMatrixSet + ')'];
    }));
    ['before', 'after'].forEach(function (side) {
      var first = r.pyramids[side].filter(function (n) { return byName[n]; })[0];
      fillSelect(document.getElementById('change-' + side), choices, first || '');
    });
    var viewOptions = { projection: grid.projection, zoom: OVERVIEW.zoom,
      center: ol.proj.transform(OVERVIEW.center, 'EPSG:4326', grid.projection) };
    if (key === 'CGCS2000Quad') {
      viewOptions.resolutions = cgcsResolutions(grid.maxzoom);
      viewOptions.constrainResolution = true;
    }
    var view = new ol.View(viewOptions);
    var polygons = new ol.source.Vector();
    viewer.changes = { result: r.id, features: 0, before: null, after: null };
    getJSON(r.href).then(function (doc) {
      var features = new ol.format.GeoJSON().readFeatures(doc,
        { dataProjection: 'EPSG:4326', featureProjection: grid.projection });
      polygons.addFeatures(features);
      if (viewer.changes.result === r.id) { viewer.changes.features = features.length; }
    }).catch(function (err) { status(String(err)); });
    pair.polygons = [];
    ['before', 'after'].forEach(function (side) {
      if (pair.maps[side]) { pair.maps[side].setTarget(null); }
      pair.epochs[side] = null;
      var target = document.getElementById('map-' + side);
      target.textContent = '';
      var layer = new ol.layer.Vector({ source: polygons, style: changeStyle });
      layer.setVisible(document.getElementById('change-show').checked);
      pair.polygons.push(layer);
      var map = new ol.Map({ target: target, layers: [layer], view: view });
      map.on('singleclick', function (event) {
        var hit = map.forEachFeatureAtPixel(event.pixel, function (f) { return f; });
        if (hit) { document.getElementById('change-info').textContent = describe(hit); }
      });
      pair.maps[side] = map;
      setEpoch(side);
    });
    if (r.bounds) {
      view.fit(ol.proj.transformExtent(r.bounds, 'EPSG:4326', grid.projection),
        { size: pair.maps.before.getSize() || [400, 400], padding: [20, 20, 20, 20],
          maxZoom: lead ? lead.maxzoom : 18 });
    }
    var kinds = Object.keys(r.by_kind).map(function (k) { return (KINDS[k] || [k])[0] + ' ' + r.by_kind[k]; });
    document.getElementById('change-info').textContent = r.changes + ' 处变化 changes, ' +
      r.changed_m2 + ' m² (' + kinds.join(', ') + ') · 前期 before ' + r.before_dates.join('/') +
      ' → 后期 after ' + r.after_dates.join('/') + ' · 点击图斑查看 click a polygon for details';
  }

  function showChanges(pyramids, index) {
    var section = document.getElementById('changes');
    if (!index.links || !index.links.some(function (l) { return l.rel === 'changes'; })) { return; }
    getJSON('api/changes').then(function (doc) {
      pair.results = doc.changes;
      pair.pyramids = pyramids;
      section.hidden = !doc.changes.length;
      if (!doc.changes.length) { return; }
      fillSelect(document.getElementById('change-result'),
        doc.changes.map(function (r) { return [r.id, r.title]; }), doc.changes[0].id);
      showResult();
    }).catch(function (err) { status('变化结果加载失败 Change results failed: ' + err.message); });
  }

  document.getElementById('change-result').addEventListener('change', showResult);
  ['before', 'after'].forEach(function (side) {
    document.getElementById('change-' + side).addEventListener('change', function () { setEpoch(side); });
  });
  document.getElementById('change-show').addEventListener('change', function (event) {
    pair.polygons.forEach(function (layer) { layer.setVisible(event.target.checked); });
  });

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
