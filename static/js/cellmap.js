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
    // Zoom in quarter steps: fitted to whole ones, the grid kept clear of the zoom buttons
    // (fitClearOfButtons) came out half the size a phone's map has room for.
    var map = L.map(element, {
      attributionControl: !!options.tileUrl, zoomControl: false, zoomSnap: 0.25
    });
    // Leaflet's own button titles are English: the page gives them in its language.
    var zoom = L.control.zoom({
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
        // Out of the Tab order. The tooltip's focus listeners make Chromium stop on every
        // outline, nameless, as many stops as the township has cells (hundreds); the
        // searchable cell list beside the map is the keyboard's way to pick a cell, and a
        // cell's numbers are in the page's tables. A click or a tap still focuses it.
        featureLayer.on("add", function () {
          var path = featureLayer.getElement && featureLayer.getElement();
          if (path) { path.setAttribute("tabindex", "-1"); }
        });
        if (options.onCell) {
          featureLayer.on("click", function (event) { options.onCell(feature, event.latlng, featureLayer); });
        }
      }
    }).addTo(map);
    if (cells.features && cells.features.length) {
      fitClearOfButtons(map, layer.getBounds(), zoom.getContainer());
    } else {
      map.setView([30, 120], 5);
    }
    if (options.labels !== false) {
      labelCells(map, layer);
    }
    return { map: map, layer: layer };
  }

  // The cells fill the map but for its top left corner, where the zoom buttons are: over
  // a cell they hid its code ("CD-13" read "D-13") and took a tap meant for it. The grid
  // keeps clear of them sideways or downwards, whichever leaves it bigger (a tall grid
  // fills the map's height, so the room beside the buttons costs it nothing).
  function fitClearOfButtons(map, bounds, buttons) {
    var margin = 10;
    var beside = [buttons.offsetLeft + buttons.offsetWidth + margin / 2, margin];
    var below = [margin, buttons.offsetTop + buttons.offsetHeight + margin / 2];
    var zoomWith = function (topLeft) {
      return map.getBoundsZoom(bounds, false, L.point(topLeft).add([margin, margin]));
    };
    var topLeft = zoomWith(beside) >= zoomWith(below) ? beside : below;
    map.fitBounds(bounds, { paddingTopLeft: topLeft, paddingBottomRight: [margin, margin] });
  }

  // Without map tiles every cell is the same square: each is labelled with its code at its
  // centre, so that a grid worker finds theirs before tapping. A label shows only where
  // its cell is big enough on screen to hold it: a township of hundreds of cells, seen
  // whole, is not buried under their codes; zoomed in, its cells are labelled.
  function labelCells(map, layer) {
    var labels = [];
    layer.eachLayer(function (cellLayer) {
      var code = cellLayer.feature && cellLayer.feature.properties.code;
      if (!code) { return; }
      var text = document.createElement("span");
      text.textContent = code;  // a text node: codes come from imported files
      var centre = cellLayer.getCenter ? cellLayer.getCenter() : cellLayer.getBounds().getCenter();
      var marker = L.marker(centre, {
        // Not a target: a tap on the label goes through to its cell, and no Tab stop.
        icon: L.divIcon({ className: "cell-label", html: text, iconSize: null }),
        interactive: false, keyboard: false
      });
      // Room the code needs: about 7 px a Latin character, 12 a Chinese one, and a margin.
      var width = 8;
      for (var i = 0; i < code.length; i++) { width += code.charCodeAt(i) > 255 ? 12 : 7; }
      // A cell of several parts is labelled on its first, as getCenter() does: its size is
      // that part's, not the whole's (a far-off sliver would make a small cell look big).
      var outline = cellLayer.getLatLngs();
      while (Array.isArray(outline[0])) { outline = outline[0]; }
      labels.push({ bounds: L.latLngBounds(outline), marker: marker, width: width });
    });
    function update() {
      labels.forEach(function (label) {
        var bounds = label.bounds;
        var topLeft = map.latLngToLayerPoint(bounds.getNorthWest());
        var bottomRight = map.latLngToLayerPoint(bounds.getSouthEast());
        var fits = bottomRight.x - topLeft.x >= label.width && bottomRight.y - topLeft.y >= 18;
        if (fits && !map.hasLayer(label.marker)) {
          label.marker.addTo(map);
        } else if (!fits && map.hasLayer(label.marker)) {
          label.marker.remove();
        }
      });
    }
    map.on("zoomend", update);
    update();
  }
  return { create: create, read: read };
})();
