// Refreshes the dashboard's values from dashboard.json every 5 seconds, and
// reloads the page when what it lays out changed (a release, a journal
// entry, a verify run). The page is complete without it.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-json");
  var status = document.getElementById("refresh");
  function say(text, offline) {
    if (!status) return;
    status.textContent = text;
    status.className = offline ? "offline" : "";
  }
  function apply(page) {
    if (page.shape !== body.getAttribute("data-shape")) {
      window.location.reload();
      return;
    }
    var cells = document.querySelectorAll("[data-k]");
    for (var i = 0; i < cells.length; i++) {
      var v = page.values[cells[i].getAttribute("data-k")];
      if (typeof v === "string" && cells[i].textContent !== v) {
        cells[i].textContent = v; // text, never markup
      }
    }
    var g = document.getElementById("generated");
    if (g) g.textContent = page.generated;
    say("· live", false);
  }
  function tick() {
    fetch(url, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(apply)
      .catch(function (e) {
        say("· cannot refresh (" + e.message + "); the values shown may be old", true);
      });
  }
  window.setInterval(tick, 5000);
})();
