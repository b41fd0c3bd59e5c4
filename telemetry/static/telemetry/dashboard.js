/* The usage dashboard's charts (templates/telemetry/dashboard.html), drawn by the vendored
 * Chart.js from the JSON the page embeds (#dashboard-data). No inline script: the page's
 * Content-Security-Policy lets scripts come from the gateway only.
 *
 * Each <canvas data-chart="NAME" data-kind="KIND"> is drawn from data[NAME] = {labels,
 * series: [{label, data}], links?}; a chart with nothing to show says so instead. Bars of
 * a ranking with a link drill down: the same page, filtered on that SOEID or project. */
(function () {
  "use strict";

  var source = document.getElementById("dashboard-data");
  if (!source || !window.Chart) {
    return;
  }
  var data = JSON.parse(source.textContent);
  var style = getComputedStyle(document.documentElement);
  var PALETTE = ["#417690", "#e3a21a", "#5b9a68", "#c0504d", "#8064a2", "#4bacc6",
                 "#f79646", "#7f7f7f", "#2c3e50", "#9bbb59"];

  Chart.defaults.color = style.getPropertyValue("--body-fg").trim() || "#333";
  Chart.defaults.borderColor = style.getPropertyValue("--hairline-color").trim() || "#ddd";
  Chart.defaults.animation = false; // drawn at once: for people, screenshots and tests

  function datasets(chart, stacked) {
    return chart.series.map(function (series, i) {
      var colour = PALETTE[i % PALETTE.length];
      return {
        label: series.label,
        data: series.data,
        backgroundColor: colour,
        borderColor: colour,
        spanGaps: true,
        stack: stacked ? "all" : undefined
      };
    });
  }

  function drillDown(chart) {
    return function (event, elements) {
      var link = elements.length && chart.links ? chart.links[elements[0].index] : null;
      if (link) {
        window.location.search = link;
      }
    };
  }

  var KINDS = {
    stacked: function (chart) {
      return {
        type: "bar",
        data: {labels: chart.labels, datasets: datasets(chart, true)},
        options: {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}}
      };
    },
    lines: function (chart) {
      return {
        type: "line",
        data: {labels: chart.labels, datasets: datasets(chart, false)},
        options: {scales: {y: {beginAtZero: true}}}
      };
    },
    bars: function (chart) {
      return {
        type: "bar",
        data: {labels: chart.labels, datasets: datasets(chart, false)},
        options: {plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true}}}
      };
    },
    ranking: function (chart) {
      return {
        type: "bar",
        data: {labels: chart.labels, datasets: datasets(chart, false)},
        options: {
          indexAxis: "y",
          plugins: {legend: {display: false}},
          scales: {x: {beginAtZero: true}},
          onClick: drillDown(chart),
          onHover: function (event, elements) {
            var linked = elements.length && chart.links && chart.links[elements[0].index];
            event.native.target.style.cursor = linked ? "pointer" : "default";
          }
        }
      };
    }
  };

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var chart = data[canvas.dataset.chart];
    if (!chart || !chart.labels.length) {
      var empty = document.createElement("p");
      empty.className = "no-data";
      empty.textContent = "Nothing to show.";
      canvas.replaceWith(empty);
      return;
    }
    new Chart(canvas, KINDS[canvas.dataset.kind](chart));
    canvas.dataset.drawn = "true";
  });
})();
