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

  var prompt = picked.textContent;
  var cellClicked = false;

  function highlight(cellId) {
    selectedLayer = null;
    cellMap.layer.eachLayer(function (layer) {
      var match = String(layer.feature.properties.id) === cellId;
      layer.setStyle(match ? chosen : normal);
      if (match) { selectedLayer = layer; }
    });
  }
  function describe(feature) {
    return feature.properties.name + " (" + feature.properties.code + ") · " +
      lat.value + ", " + lng.value;
  }
  function setPoint(latlng) {
    lat.value = latlng.lat.toFixed(6);
    lng.value = latlng.lng.toFixed(6);
  }

  var cellMap = window.CellMap.create("cell-map", window.CellMap.read("cells-data"), {
    tileUrl: (window.CellMap.read("map-options") || {}).tileUrl,
    onCell: function (feature, latlng) {
      cellClicked = true;
      cellSelect.value = String(feature.properties.id);
      highlight(cellSelect.value);
      setPoint(latlng);
      picked.textContent = describe(feature);
    }
  });
  // A form the server sent back (an error, possible duplicates) keeps the cell and point
  // chosen: show them again, as a click would have, rather than the prompt.
  if (cellSelect.value !== "") {
    highlight(cellSelect.value);
    if (selectedLayer && lat.value && lng.value) {
      picked.textContent = describe(selectedLayer.feature);
    } else if (cellSelect.selectedIndex >= 0) {
      picked.textContent = cellSelect.options[cellSelect.selectedIndex].text;
    }
  } else if (lat.value && lng.value) {
    picked.textContent = picked.dataset.outside.replace("{point}", lat.value + ", " + lng.value);
  }
  // A click outside every cell (Leaflet passes a cell's click on to the map as well): the
  // point alone, from which the server places the case.
  cellMap.map.on("click", function (event) {
    if (cellClicked) { cellClicked = false; return; }
    cellSelect.value = "";
    highlight("");
    setPoint(event.latlng);
    picked.textContent = picked.dataset.outside.replace("{point}", lat.value + ", " + lng.value);
  });
  // A cell chosen from the list: highlighted, and the point is then unknown. "No cell
  // chosen" keeps the point picked, if any.
  cellSelect.addEventListener("change", function () {
    highlight(cellSelect.value);
    if (cellSelect.value !== "") {
      lat.value = ""; lng.value = "";
      picked.textContent = cellSelect.options[cellSelect.selectedIndex].text;
    } else if (!lat.value) {
      picked.textContent = prompt;
    }
  });

  // `hint`, if any, says so when the search leaves nothing but the empty choice.
  function searchable(input, select, hint) {
    if (!input || !select) { return; }
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      var first = null;
      Array.prototype.forEach.call(select.options, function (option) {
        var hit = !needle || option.value === "" || option.text.toLowerCase().indexOf(needle) !== -1;
        option.hidden = !hit;
        if (hit && option.value !== "" && first === null) { first = option; }
      });
      if (hint) { hint.textContent = needle && !first ? hint.dataset.message : ""; }
      if (needle && first) { select.value = first.value; select.dispatchEvent(new Event("change")); }
    });
    // Enter (a phone keyboard's "search" or "go" key) in a search box would send the whole
    // report, half filled in: it only ends the search.
    input.addEventListener("keydown", function (event) {
      // Enter that ends a Chinese input method's composition belongs to the input method.
      if (event.isComposing || event.keyCode === 229) { return; }
      if (event.key === "Enter") { event.preventDefault(); select.focus(); }
    });
  }
  // A form sent back with errors: show the list of them, which is above the fold only on a
  // desktop, to whoever just pressed "Report" on a phone.
  var errorSummary = document.getElementById("report-errors");
  if (errorSummary) { errorSummary.focus(); }
  searchable(
    document.getElementById("category-search"),
    form.querySelector("select[name=category]"),
    document.getElementById("category-no-match")
  );
  searchable(document.getElementById("cell-search"), cellSelect);
})();
