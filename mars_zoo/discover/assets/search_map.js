/* The search page's map and table: Leaflet over the dataset's basemap in a simple lon/lat
   CRS (x = longitude, y = latitude, in degrees), the hits numbered by rank and coloured by
   score, catalogue circles of the protocol's radius, a labelled graticule, and a table that
   sorts by any column. Everything it shows comes from the page's JSON block (#search-data);
   text reaches the page through textContent only, never as markup. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("search-data").textContent);

  function node(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  /* Score -> colour on a dark-to-bright ramp (perceptually ordered, legible on the basemap). */
  var RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function colour(t) {
    var x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1), i = Math.min(Math.floor(x), RAMP.length - 2), f = x - i;
    return RAMP[i].map(function (v, k) { return Math.round(v + f * (RAMP[i + 1][k] - v)); });
  }

  /* Black or white, whichever contrasts more with the background (WCAG relative luminance). */
  function ink(rgb) {
    var l = rgb.map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    var luminance = 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
    return (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) ? "#000" : "#fff";
  }

  function graticuleStep(span) {
    var steps = [30, 10, 5, 2, 1, 0.5, 0.2];
    for (var i = 0; i < steps.length; i++) if (span / steps[i] >= 3) return steps[i];
    return 0.1;
  }

  function label(value, positive, negative) {
    var text = Math.abs(value).toFixed(2).replace(/\.?0+$/, "");
    return text + "°" + (value < 0 ? negative : value > 0 ? positive : "");
  }

  function initMap() {
    var element = document.getElementById("map");
    var map = L.map(element, {crs: L.CRS.Simple, minZoom: 0, maxZoom: 11, zoomSnap: 0.25,
                              attributionControl: false, maxBounds: [[-100, -200], [100, 200]]});
    var planet = [[-90, -180], [90, 180]];
    if (data.basemap) L.imageOverlay(data.basemap, planet, {alt: "basemap of Mars"}).addTo(map);
    else L.rectangle(planet, {stroke: false, fillColor: "#5a3a2a", fillOpacity: 1, interactive: false}).addTo(map);

    var grid = L.layerGroup().addTo(map);
    function drawGraticule() {
      grid.clearLayers();
      var view = map.getBounds(), step = graticuleStep(Math.min(view.getEast() - view.getWest(), view.getNorth() - view.getSouth()));
      var west = Math.max(-180, Math.floor(view.getWest() / step) * step), east = Math.min(180, view.getEast());
      var south = Math.max(-90, Math.floor(view.getSouth() / step) * step), north = Math.min(90, view.getNorth());
      var style = {color: "#fff", weight: 1, opacity: 0.35, interactive: false};
      var icon = function (text, cls) {
        return L.divIcon({className: "grat-label " + cls, html: node("span", "", text), iconSize: null});
      };
      for (var lon = west; lon <= east + 1e-9; lon += step) {
        grid.addLayer(L.polyline([[-90, lon], [90, lon]], style));
        grid.addLayer(L.marker([view.getSouth(), lon], {icon: icon(label(lon, "E", "W"), "lon"), interactive: false, keyboard: false}));
      }
      for (var lat = south; lat <= north + 1e-9; lat += step) {
        grid.addLayer(L.polyline([[lat, -180], [lat, 180]], style));
        grid.addLayer(L.marker([lat, view.getEast()], {icon: icon(label(lat, "N", "S"), "lat"), interactive: false, keyboard: false}));
      }
    }

    data.truth.forEach(function (point) {
      L.circle([point[1], point[0]], {radius: data.radius, color: "#39d0ff", weight: 2, fill: false,
                                      interactive: false, className: "truth"}).addTo(map);
    });

    var scores = data.hits.map(function (hit) { return hit.score; });
    var low = Math.min.apply(null, scores), high = Math.max.apply(null, scores);
    var points = [];
    data.hits.forEach(function (hit) {  /* in rank order, for the Tab key; the best on top (zIndexOffset) */
      var centre = [hit.lat + data.tile / 2, hit.lon + data.tile / 2];
      points.push(centre);
      var badge = node("span", "rank", String(hit.rank));
      var fill = colour(high > low ? (hit.score - low) / (high - low) : 1);
      badge.style.background = "rgb(" + fill.join(",") + ")";
      badge.style.color = ink(fill);
      var marker = L.marker(centre, {
        icon: L.divIcon({className: "hit-marker " + hit.near_class, html: badge, iconSize: [30, 30], iconAnchor: [15, 15]}),
        title: "#" + hit.rank + " " + hit.tile + ", score " + hit.score.toFixed(4) + (hit.near_text ? ", " + hit.near_text : ""),
        alt: "hit " + hit.rank, riseOnHover: true, keyboard: true, zIndexOffset: data.hits.length - hit.rank
      });
      var popup = node("div", "popup");
      if (hit.thumbnail) {
        var img = node("img");
        img.src = hit.thumbnail; img.alt = "tile " + hit.tile; img.width = 120; img.height = 120;
        popup.appendChild(img);
      }
      popup.appendChild(node("b", "", "#" + hit.rank + " " + hit.tile));
      popup.appendChild(node("div", "", "score " + hit.score.toFixed(4)));
      popup.appendChild(node("div", "", hit.where + " (lower-left corner)"));
      if (hit.near_text) popup.appendChild(node("div", hit.near_class, hit.near_text));
      marker.bindPopup(popup, {maxWidth: 220}).addTo(map);
      marker.on("keypress", function (event) {  /* Enter or space on a focused marker opens its popup */
        var key = event.originalEvent.key;
        if (key === "Enter" || key === " ") marker.openPopup();
      });
    });
    data.truth.forEach(function (point) { points.push([point[1], point[0]]); });
    if (points.length) map.fitBounds(L.latLngBounds(points).pad(0.1), {maxZoom: 9});
    else map.fitBounds(planet);
    map.on("moveend zoomend", drawGraticule);
    drawGraticule();
  }

  function sortable(table) {
    var body = table.tBodies[0];
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, column) {
      var button = cell.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        var ascending = cell.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) { other.removeAttribute("aria-sort"); });
        cell.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].getAttribute("data-sort"), y = b.cells[column].getAttribute("data-sort");
          var nx = parseFloat(x), ny = parseFloat(y);
          var order = (isNaN(nx) || isNaN(ny)) ? (x < y ? -1 : x > y ? 1 : 0) : nx - ny;  /* names by code point */
          if (order === 0) order = a.rowIndex - b.rowIndex;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  initMap();
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
})();
