// The report form: pick the cell on the map, search categories and cells.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) { return; }
  var cellSelect = form.querySelector("select[name=cell]");
  var lat = form.querySelector("input[name=lat]");
  var lng = form.querySelector("input[name=lng]");
  var picked = document.getElementById("picked-point");
  var selectedLayer = null;
  var normal = { color: "#12355b", weight: 1, fillColor: "#0b6bcb", fillOpacity: 0.15 };
  var chosen = { color: "#b3261e", weight: 3, fillColor: "#b3261e", fillOpacity: 0.35 };

  var cellMap = window.CellMap.create("cell-map", window.CellMap.read("cells-data"), {
    tileUrl: (window.CellMap.read("map-options") || {}).tileUrl,
    onCell: function (feature, latlng, layer) {
      if (selectedLayer) { selectedLayer.setStyle(normal); }
      layer.setStyle(chosen);
      selectedLayer = layer;
      cellSelect.value = String(feature.properties.id);
      lat.value = latlng.lat.toFixed(6);
      lng.value = latlng.lng.toFixed(6);
      picked.textContent = feature.properties.name + " (" + feature.properties.code + ") · " +
        lat.value + ", " + lng.value;
    }
  });
  // Choosing from the list highlights the cell; the point is then unknown.
  cellSelect.addEventListener("change", function () {
    lat.value = ""; lng.value = "";
    cellMap.layer.eachLayer(function (layer) {
      var match = String(layer.feature.properties.id) === cellSelect.value;
      layer.setStyle(match ? chosen : normal);
      if (match) { selectedLayer = layer; }
    });
  });

  function searchable(input, select) {
    if (!input || !select) { return; }
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      var first = null;
      Array.prototype.forEach.call(select.options, function (option) {
        var hit = !needle || option.value === "" || option.text.toLowerCase().indexOf(needle) !== -1;
        option.hidden = !hit;
        if (hit && option.value !== "" && first === null) { first = option; }
      });
      if (needle && first) { select.value = first.value; select.dispatchEvent(new Event("change")); }
    });
  }
  searchable(document.getElementById("category-search"), form.querySelector("select[name=category]"));
  searchable(document.getElementById("cell-search"), cellSelect);
})();
