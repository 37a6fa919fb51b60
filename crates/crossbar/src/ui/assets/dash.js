// crossbar dashboard: the only script (no third-party code). Live refresh of the overview,
// copy buttons, confirmations and the narrow-screen menu. Loaded with `defer`; the CSP allows
// scripts from this origin only, so nothing here is inline.
"use strict";

(function () {
  // Overview: re-fetch the stats fragment every 5 s (server-rendered, escaped HTML).
  var live = document.getElementById("live");
  if (live && live.dataset.src) {
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(live.dataset.src, { credentials: "same-origin", headers: { "x-requested-with": "fetch" } })
        .then(function (r) {
          if (r.status === 401) { window.location = "/ui/signin"; return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined) {
            live.innerHTML = html;
            live.dataset.updated = String(Date.now());
          }
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, 5000);
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
