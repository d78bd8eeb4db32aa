// The grid cell's polygon on a small map in the admin, with the other cells of its
// township in grey. Data comes from the page's json_script element (no inline script).
(function () {
  "use strict";
  var node = document.getElementById("cell-map-data");
  var element = document.getElementById("cell-map");
  if (!node || !element || typeof L === "undefined") {
    return;
  }
  var data = JSON.parse(node.textContent);
  var map = L.map(element, { attributionControl: false, zoomControl: false });
  // Leaflet's own button titles are English: the page gives them in its language.
  L.control.zoom({
    zoomInTitle: element.getAttribute("data-zoom-in") || "Zoom in",
    zoomOutTitle: element.getAttribute("data-zoom-out") || "Zoom out"
  }).addTo(map);
  var neighbours = L.geoJSON(data.neighbours, {
    style: function () { return { color: "#888", weight: 1, fillOpacity: 0.05 }; },
    // A text node, not a string Leaflet would read as HTML: the admin's form takes any code.
    onEachFeature: function (feature, layer) {
      layer.bindTooltip(document.createTextNode(feature.properties.code));
    }
  }).addTo(map);
  var cell = L.geoJSON(data.cell, {
    style: function () { return { color: "#ba2121", weight: 2, fillOpacity: 0.25 }; }
  }).addTo(map);
  if (cell.getLayers().length) {
    map.fitBounds(cell.getBounds(), { padding: [20, 20] });
  } else if (neighbours.getLayers().length) {
    map.fitBounds(neighbours.getBounds());
  } else {
    map.setView([30, 120], 5);
  }
  element.setAttribute("data-ready", "1");
})();
