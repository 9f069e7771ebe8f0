// Copy buttons for feed addresses: <button class="copy" data-copy="ID" hidden> copies the
// value of the field with that id. The buttons stay hidden where this script does not
// run, so no page offers a button that does nothing. Served from the site itself, as
// the pages' Content-Security-Policy (script-src 'self') requires.
"use strict";
(function () {
  function copied(button, text) {
    var label = button.textContent;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  function copy(button, field) {
    field.focus();
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(
        function () { copied(button, "Copied"); },
        function () { copied(button, "Press Ctrl+C"); });
    } else {
      copied(button, "Press Ctrl+C");
    }
  }

  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) {
      return;
    }
    field.addEventListener("focus", function () { field.select(); });
    button.addEventListener("click", function () { copy(button, field); });
    button.hidden = false;
  });
})();
