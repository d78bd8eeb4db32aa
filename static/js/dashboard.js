// The dashboard's chart and shaded cell map, from data the page embeds with json_script.
(function () {
  "use strict";
  var chart = window.CellMap.read("chart-data");
  var canvas = document.getElementById("rates-chart");
  if (chart && canvas && window.Chart) {
    var colours = ["#0b6bcb", "#1e7b34", "#c77700", "#b3261e", "#6a3fb5", "#6b7785"];
    var keys = Object.keys(chart.series);
    var colourOf = function (key) { return colours[keys.indexOf(key) % colours.length]; };
    var small = window.matchMedia("(max-width: 700px)").matches;
    // An axis titled in the page's words (chart.axes), in the colour of the line it scales
    // when it scales one line only: the counts and the 1–5 rating each have a scale of their own.
    var axis = function (id, colour) {
      var title = { display: true, text: chart.axes[id] };
      if (colour) { title.color = colour; }
      return colour ? { title: title, ticks: { color: colour } } : { title: title };
    };
    var scales = {
      // Month and day on one line (the page writes them short): never turned to 45°.
      x: { ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 8 } },
      y: Object.assign(axis("y"), { min: 0, max: 100, position: "left" }),
      y2: Object.assign(axis("y2", colourOf("total")), {
        min: 0, position: "right", grid: { drawOnChartArea: false }
      }),
      y3: Object.assign(axis("y3", colourOf("satisfaction")), {
        min: 0, max: 5, position: "right", grid: { drawOnChartArea: false }
      })
    };
    scales.y2.ticks.precision = 0;  // whole cases
    var rates = new window.Chart(canvas, {
      type: "line",
      data: {
        labels: chart.labels,
        datasets: keys.map(function (key) {
          return {
            label: chart.names[key], data: chart.series[key], borderColor: colourOf(key),
            backgroundColor: colourOf(key),
            // Rates in %, counts, and the 1–5 rating each on a scale of their own.
            yAxisID: key === "total" ? "y2" : key === "satisfaction" ? "y3" : "y", spanGaps: true
          };
        })
      },
      options: {
        animation: false, responsive: true,
        // The box's CSS height, not a 300:220 ratio that left a phone a sliver of a plot.
        maintainAspectRatio: false,
        // A tap anywhere over a day shows its figures, not only one on a point's dot.
        interaction: { mode: "index", intersect: false },
        plugins: {
          // Smaller legend keys on a phone: six series took three rows.
          legend: { labels: { boxWidth: small ? 12 : 40, font: { size: small ? 11 : 12 } } },
          // The tooltip names the full date, or a week's first and last days counted: the
          // first and last may be cut short.
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? chart.spans[items[0].dataIndex] : ""; }
            }
          }
        },
        scales: scales
      }
    });
    // Chart.js thins the dates for the axis' length before the three scales took their
    // share of a phone's width: "11月18日11月28日" read as one word. Fewer, until they part.
    var datesTouch = function () {
      var x = rates.scales.x, ctx = rates.ctx, touch = false;
      ctx.save();
      ctx.font = window.Chart.helpers.toFont(x.options.ticks.font).string;
      for (var i = 1; i < x.ticks.length; i++) {
        var room = x.getPixelForTick(i) - x.getPixelForTick(i - 1);
        var half = (ctx.measureText(x.ticks[i].label).width +
          ctx.measureText(x.ticks[i - 1].label).width) / 2;
        if (room - half < 8) { touch = true; }
      }
      ctx.restore();
      return touch;
    };
    for (var shown = rates.scales.x.ticks.length; shown > 2 && datesTouch(); shown--) {
      rates.options.scales.x.ticks.maxTicksLimit = shown - 1;
      rates.update();
    }
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
