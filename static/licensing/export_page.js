// The export page's "Select all" box, wired here instead of an inline onchange (the Content-Security-Policy
// runs no inline script); onSelectToggleChange comes from django-import-export's export_selectable_fields.js.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  document.querySelectorAll("input.select-toggle").forEach(function (box) {
    box.addEventListener("change", function (event) {
      if (typeof onSelectToggleChange === "function") onSelectToggleChange(event);
    });
  });
});
