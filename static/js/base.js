// Behaviour shared by every page. No inline scripts: the pages carry a CSP later.
(function () {
  "use strict";
  // The language switch submits itself on change; its button is only for no-JS browsers.
  document.querySelectorAll("select.js-autosubmit").forEach(function (select) {
    var button = select.form.querySelector(".js-hide-when-autosubmit");
    if (button) { button.hidden = true; }
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // Ask before a transition form that is marked as needing confirmation.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
