// Behaviour shared by every page. No inline scripts: the pages run under a Content-Security-Policy
// that forbids them (CONTENT_SECURITY_POLICY in governance/settings.py).
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
  // The pool page's one dispatch form, far above most cases' buttons on a phone: each
  // button names the lead it dispatches to, and after it the page comes back where it was
  // (at the case after the one dispatched, which leaves the pool; or the one before), with
  // the same lead chosen and the message saying it was done there, not at the top.
  var pool = document.getElementById("pool-dispatch");
  if (pool) {
    // Enter in one of its checkboxes (the whistle, a department, a row's box) submits it
    // implicitly: past the disabled default button, Chromium presses the first row's
    // button, dispatching the page's oldest case unasked. Enter there does nothing.
    document.addEventListener("keydown", function (event) {
      var field = event.target;
      if (event.key === "Enter" && field.tagName === "INPUT" && field.form === pool) {
        event.preventDefault();
      }
    });
    var landed = window.location.hash && document.getElementById(window.location.hash.slice(1));
    var said = document.querySelector(".messages");
    if (landed && said && landed.classList.contains("pool-case")) {
      landed.parentNode.insertBefore(said, landed);
      // The browser scrolls to the case itself as well, after this script: the message
      // ended just above the screen's top. The case keeps the message's room above it.
      landed.style.scrollMarginTop = said.offsetHeight + 16 + "px";
      said.scrollIntoView();
    }
    var lead = pool.querySelector("select[name=lead]");
    var next = pool.querySelector("input[name=next]");
    var buttons = document.querySelectorAll("button.dispatch-case");
    var named = function () {
      var chosen = lead && lead.value ? lead.options[lead.selectedIndex].text : "";
      buttons.forEach(function (button) {
        // A case waiting for arbitration has its button's own words (data-dispatch-to).
        var words = button.dataset.dispatchTo ? button.dataset : pool.dataset;
        button.textContent = chosen ? words.dispatchTo.replace("{lead}", chosen) : words.dispatch;
      });
    };
    if (lead) { lead.addEventListener("change", named); named(); }
    buttons.forEach(function (button) {
      button.addEventListener("click", function () {
        var article = button.closest("article");
        var sibling = function (step) {
          var found = article[step];
          while (found && found.tagName !== "ARTICLE") { found = found[step]; }
          return found;
        };
        var landing = sibling("nextElementSibling") || sibling("previousElementSibling") || article;
        var back = new URL(next.value, window.location.href);
        if (lead && lead.value) { back.searchParams.set("lead", lead.value); }
        back.hash = landing.id;
        next.value = back.pathname + back.search + back.hash;
      });
    });
  }
  // A table that scrolls sideways in its own box (narrow screens: app.css, the admin's
  // cases.css) takes keyboard focus, so that the arrow keys scroll it: with no link inside,
  // a keyboard could not reach its hidden columns. Only while it scrolls: a table that fits
  // is no Tab stop.
  var scrollingTables = function () {
    document.querySelectorAll("table").forEach(function (table) {
      var scrolls = table.scrollWidth > table.clientWidth + 1 &&
        /auto|scroll/.test(window.getComputedStyle(table).overflowX);
      if (scrolls && !table.hasAttribute("tabindex")) {
        table.setAttribute("tabindex", "0");
        table.dataset.scrollFocus = "";
      } else if (!scrolls && "scrollFocus" in table.dataset) {
        table.removeAttribute("tabindex");
        delete table.dataset.scrollFocus;
      }
    });
  };
  scrollingTables();
  window.addEventListener("resize", scrollingTables);
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
