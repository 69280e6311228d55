// PriceAlert web UI: progressive enhancement only. Every action works without this file.
"use strict";

// Real-user timing: report this page's load time (Navigation Timing) once it has loaded.
function reportLoad() {
  var body = document.body;
  var entry = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
  if (!entry || !navigator.sendBeacon || !body.dataset.beacon) return;
  var end = entry.loadEventEnd || entry.loadEventStart;
  if (!end) return;
  navigator.sendBeacon("/rum", JSON.stringify({
    page: body.dataset.page, token: body.dataset.beacon, load: end / 1000
  }));
}
window.addEventListener("load", function () { setTimeout(reportLoad, 0); });

document.addEventListener("DOMContentLoaded", function () {
  // The sign-in form tells a new account the browser's time zone.
  document.querySelectorAll("[data-fill=time-zone]").forEach(function (input) {
    try { input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* none */ }
  });

  // Ask before destructive actions.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // Secrets shown once: one click selects them for copying.
  document.querySelectorAll("[data-copy]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });

  // The activity log's first page fetches new rows while it is visible.
  document.querySelectorAll("[data-live]").forEach(function (rows) {
    var note = document.querySelector("[data-live-note]");
    if (note) note.hidden = false;
    setInterval(function () {
      if (document.hidden) return;
      fetch(rows.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) { if (html !== null && html.trim() !== rows.innerHTML.trim()) rows.innerHTML = html; })
        .catch(function () { /* offline for a moment: the next tick tries again */ });
    }, 3000);
  });
});
