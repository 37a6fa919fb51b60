// crossbar dashboard: the only script (no third-party code). Live updates of the overview (server push),
// copy buttons, confirmations and the narrow-screen menu. Loaded with `defer`; the CSP allows
// scripts from this origin only, so nothing here is inline.
"use strict";

(function () {
  // Overview: the server pushes the stats fragment (server-rendered, escaped HTML) over
  // Server-Sent Events whenever new usage is recorded. A hidden tab closes its stream (a
  // session may hold only a few) and opens it again when shown.
  var live = document.getElementById("live");
  if (live && live.dataset.stream && window.EventSource) {
    var es = null;
    var open = function () {
      if (es) return;
      es = new EventSource(live.dataset.stream);
      es.addEventListener("overview", function (e) {
        live.innerHTML = e.data;
        live.dataset.updated = String(Date.now());
      });
      es.addEventListener("signed-out", function () { close(); window.location = "/ui/signin"; });
      es.addEventListener("error", function () {
        // The browser retries by itself unless the answer was not a stream (signed out, or
        // too many streams): then ask the fragment whether the session is gone.
        if (!es || es.readyState !== EventSource.CLOSED) return;
        close();
        fetch(live.dataset.src, { credentials: "same-origin" })
          .then(function (r) { if (r.status === 401) window.location = "/ui/signin"; })
          .catch(function () {});
      });
    };
    var close = function () { if (es) { es.close(); es = null; } };
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) close(); else open();
    });
    window.addEventListener("pagehide", close);
    if (!document.hidden) open();
  }

  // Copy buttons: data-copy names the element whose text is copied.
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!b) return;
    var el = document.getElementById(b.dataset.copy);
    if (!el) return;
    var text = el.textContent;
    var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(el); });
    } else {
      select(el);
      try { document.execCommand("copy"); done(); } catch (_) { /* selected: the user copies */ }
    }
  });

  function select(el) {
    var r = document.createRange();
    r.selectNodeContents(el);
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
  }

  // Confirmations on destructive buttons (revoke).
  document.addEventListener("submit", function (e) {
    var b = e.submitter;
    if (b && b.dataset && b.dataset.confirm && !window.confirm(b.dataset.confirm)) e.preventDefault();
  });

  // Narrow screens: the menu button shows and hides the navigation.
  var t = document.getElementById("nav-toggle");
  var nav = document.getElementById("nav");
  if (t && nav) {
    t.addEventListener("click", function () {
      var open = nav.classList.toggle("open");
      t.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
})();
