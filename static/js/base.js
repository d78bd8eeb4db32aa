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
  // A department chosen to lead cannot also assist (the server refuses it): untick it, on
  // the case page and in every row of the pool page, whose boxes belong to its one form.
  document.querySelectorAll("select[name=lead]").forEach(function (select) {
    select.addEventListener("change", function () {
      Array.prototype.forEach.call(select.form.elements, function (box) {
        if (box.type === "checkbox" && /^assisting(-|$)/.test(box.name) &&
            box.value === select.value) {
          box.checked = false;
        }
      });
    });
  });
  // Quick picks on the case page: a suggested department's button makes it the lead. The
  // buttons stay hidden without this script; the department's name shows instead.
  document.querySelectorAll("button.js-pick-lead").forEach(function (button) {
    var select = button.form.querySelector("select[name=lead]");
    var name = button.parentNode.querySelector(".js-hide-with-quick-picks");
    if (!select) { return; }
    button.hidden = false;
    if (name) { name.hidden = true; }
    button.addEventListener("click", function () {
      select.value = button.dataset.lead;
      select.dispatchEvent(new Event("change", { bubbles: true }));
      select.focus();
    });
  });
})();
