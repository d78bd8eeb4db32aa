// A Leaflet map of the grid cells drawn from our own GeoJSON (no tiles unless configured).
window.CellMap = (function () {
  "use strict";
  function read(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function create(elementId, cells, options) {
    options = options || {};
    var element = document.getElementById(elementId);
    var map = L.map(element, { attributionControl: !!options.tileUrl, zoomControl: false });
    // Leaflet's own button titles are English: the page gives them in its language.
    L.control.zoom({
      zoomInTitle: element.getAttribute("data-zoom-in") || "Zoom in",
      zoomOutTitle: element.getAttribute("data-zoom-out") || "Zoom out"
    }).addTo(map);
    if (options.tileUrl) {
      L.tileLayer(options.tileUrl, { maxZoom: 19, attribution: options.tileAttribution || "" }).addTo(map);
    }
    var layer = L.geoJSON(cells, {
      style: options.style || function () {
        return { color: "#12355b", weight: 1, fillColor: "#0b6bcb", fillOpacity: 0.15 };
      },
      onEachFeature: function (feature, featureLayer) {
        // A text node, not a string Leaflet would read as HTML: names come from imported files.
        featureLayer.bindTooltip(
          document.createTextNode(feature.properties.name + " (" + feature.properties.code + ")")
        );
        if (options.onCell) {
          featureLayer.on("click", function (event) { options.onCell(feature, event.latlng, featureLayer); });
        }
      }
    }).addTo(map);
    if (cells.features && cells.features.length) {
      map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    } else {
      map.setView([30, 120], 5);
    }
    return { map: map, layer: layer };
  }
  return { create: create, read: read };
})();
