// Keeps /dashboard current: the page is complete without this script; with
// it, each `stats` event from the page's event stream (data-events) sets
// every cell (data-cell) and funnel bar (data-bar) it names.
"use strict";
(function () {
  var section = document.querySelector("[data-events]");
  if (!section || !window.EventSource) {
    return;
  }
  var live = document.getElementById("live");
  var asOf = document.getElementById("as-of");
  var cells = {};
  var bars = {};
  document.querySelectorAll("[data-cell]").forEach(function (el) {
    cells[el.getAttribute("data-cell")] = el;
  });
  document.querySelectorAll("[data-bar]").forEach(function (el) {
    bars[el.getAttribute("data-bar")] = el;
  });
  function say(text, state) {
    live.textContent = text;
    section.setAttribute("data-live", state);
  }
  var source = new EventSource(section.getAttribute("data-events"));
  source.addEventListener("stats", function (event) {
    var data = JSON.parse(event.data);
    Object.keys(data.cells).forEach(function (key) {
      if (cells[key] && cells[key].textContent !== data.cells[key]) {
        cells[key].textContent = data.cells[key];
      }
    });
    Object.keys(data.bars).forEach(function (key) {
      var bar = bars[key];
      var v = data.bars[key];
      if (bar) {
        bar.max = v[1];
        bar.value = v[0];
        bar.textContent = v[2];
      }
      if (cells[key.replace("all.", "all.bar.")]) {
        cells[key.replace("all.", "all.bar.")].textContent = v[2];
      }
    });
    asOf.textContent = data.as_of;
    say("Updating live.", "on");
  });
  source.addEventListener("unavailable", function () {
    say("The database is not answering: these figures may be old.", "stale");
  });
  source.onerror = function () {
    say("Reconnecting…", "stale");
  };
})();
