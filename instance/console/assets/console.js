// Follows the account live: long-polls state, swaps the QR image as WhatsApp rotates it, and
// reloads the page when the account signs in or out (the server renders the other view).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  var key = live.getAttribute("data-key");
  var authed = live.getAttribute("data-status") === "authenticated";
  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value || ""; }
  }
  function show(s) {
    if ((s.accountStatus === "authenticated") !== authed) { window.location.reload(); return false; }
    text("status", s.accountStatus);
    text("substatus", s.substatus);
    text("message", s.message);
    var img = document.getElementById("qr");
    if (img) {
      if (s.qr) {
        if (img.getAttribute("src") !== s.qr) { img.setAttribute("src", s.qr); }
        img.hidden = false;
      } else {
        img.hidden = true;
      }
    }
    return true;
  }
  function poll(delay) {
    window.setTimeout(function () {
      fetch("state?wait=" + encodeURIComponent(key), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); return null; }
          if (!r.ok) { throw new Error("state " + r.status); }
          return r.json();
        })
        .then(function (s) {
          if (s === null) { return; }
          key = s.key;
          if (show(s)) { poll(0); }
        })
        .catch(function () { poll(2000); });
    }, delay);
  }
  poll(0);
}());
