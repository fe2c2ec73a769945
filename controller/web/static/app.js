// camfleet dashboard: progressive enhancement only. Pages work without this file; with it, pages that
// declare data-live refresh their [data-live-region] parts when the server pushes an event (SSE).
"use strict";
(function () {
  var body = document.body;
  var csrf = body.getAttribute("data-csrf");

  // The JSON API accepts the session too; state-changing calls must carry the CSRF header.
  window.camfleetApi = function (method, url, data) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = csrf || "";
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(data || {});
    }
    return fetch(url, opts).then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  };

  // Confirmation for dangerous buttons (data-confirm="...").
  document.addEventListener("submit", function (ev) {
    var btn = ev.submitter;
    var msg = (btn && btn.getAttribute("data-confirm")) || ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });

  if (!body.hasAttribute("data-live") || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var timer = null;
  var busy = false;

  function refresh() {
    timer = null;
    if (busy) { timer = setTimeout(refresh, 500); return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-region]").forEach(function (el) {
          var fresh = el.id && doc.getElementById(el.id);
          // Do not pull the rug from under a control that has keyboard focus.
          if (fresh && !el.contains(document.activeElement)) { el.replaceWith(fresh); }
        });
        if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function () { if (status) { status.textContent = "Live update failed; reload the page."; } })
      .then(function () { busy = false; });
  }

  var es = new EventSource("/events");
  ["agent", "inventory", "execution", "event", "campaign", "batch"].forEach(function (kind) {
    es.addEventListener(kind, function () { if (!timer) { timer = setTimeout(refresh, 400); } });
  });
  // Some state changes (a gate pausing a batch) happen between events: pages that show them also poll.
  var poll = parseInt(body.getAttribute("data-poll") || "0", 10);
  if (poll > 0) { setInterval(function () { if (!timer && !document.hidden) { timer = setTimeout(refresh, 0); } }, poll); }
  es.onopen = function () { if (status) { status.textContent = "Live"; } };
  es.onerror = function () { if (status) { status.textContent = "Reconnecting…"; } };
})();
