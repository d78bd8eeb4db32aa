// The dashboard's chart and shaded cell map, from data the page embeds with json_script.
(function () {
  "use strict";
  var chart = window.CellMap.read("chart-data");
  var canvas = document.getElementById("rates-chart");
  if (chart && canvas && window.Chart) {
    var colours = ["#0b6bcb", "#1e7b34", "#c77700", "#b3261e", "#6a3fb5", "#6b7785"];
    var keys = Object.keys(chart.series);
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: chart.labels,
        datasets: keys.map(function (key, i) {
          return {
            label: chart.names[key], data: chart.series[key], borderColor: colours[i % colours.length],
            // Rates in %, counts, and the 1–5 rating each on a scale of their own.
            yAxisID: key === "total" ? "y2" : key === "satisfaction" ? "y3" : "y", spanGaps: true
          };
        })
      },
      options: {
        animation: false, responsive: true,
        // A week's tooltip names the days it counts: the first and last may be cut short.
        plugins: chart.spans ? {
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? chart.spans[items[0].dataIndex] : ""; }
            }
          }
        } : {},
        scales: {
          y: { min: 0, max: 100, position: "left" },
          y2: { min: 0, position: "right", grid: { drawOnChartArea: false } },
          y3: { min: 0, max: 5, position: "right", grid: { drawOnChartArea: false } }
        }
      }
    });
  }
  var cells = window.CellMap.read("cells-data");
  var options = window.CellMap.read("map-options") || {};
  if (cells && document.getElementById("dashboard-map")) {
    var max = 1;
    cells.features.forEach(function (f) { max = Math.max(max, f.properties.open); });
    window.CellMap.create("dashboard-map", cells, {
      tileUrl: options.tileUrl,
      style: function (feature) {
        var p = feature.properties;
        var overdue = p.overdue > 0;
        return {
          color: "#12355b", weight: 1,
          fillColor: overdue ? "#b3261e" : "#0b6bcb",
          fillOpacity: 0.1 + 0.6 * (p.open / max)
        };
      }
    }).layer.eachLayer(function (layer) {
      var p = layer.feature.properties;
      // A text node, not a string Leaflet would read as HTML: names come from imported files.
      // The page writes it in the reader's words and punctuation (北一网格：未结 3，已超期 2).
      layer.bindTooltip(document.createTextNode(p.tooltip));
    });
  }
})();
