// Select2 (the admin's autocomplete) builds its own widgets, which carry no accessible name: a screen reader
// would announce "combobox" and nothing else. Name each from the label of the field it stands for, or from
// the name the portal gave the field of an inline row, whenever select2 builds or rebuilds them.
(function () {
  "use strict";

  function fieldName(select) {
    var label = select.id && document.querySelector('label[for="' + select.id + '"]');
    var text = label ? label.textContent : select.getAttribute("aria-label") || select.name || "choice";
    return text.replace(/:\s*$/, "").trim();
  }

  function nameWidgets() {
    document.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
      var container = select.nextElementSibling;
      if (!container || !container.classList.contains("select2")) return;
      var name = fieldName(select);
      var nameId = select.id + "-accessible-name";
      if (!document.getElementById(nameId)) {
        var span = document.createElement("span");
        span.id = nameId;
        span.hidden = true;
        span.textContent = name;
        container.appendChild(span);
      }
      var box = container.querySelector('.select2-selection[role="combobox"]');
      var shown = container.querySelector(".select2-selection__rendered");
      if (shown && shown.getAttribute("role") === "textbox") {
        // The chosen value, shown as text: it is read as part of the combobox's name, not as an input.
        shown.removeAttribute("role");
        shown.removeAttribute("aria-readonly");
      }
      if (box && box.dataset.named !== "yes") {
        box.setAttribute("aria-labelledby", nameId + (shown && shown.id ? " " + shown.id : ""));
        box.dataset.named = "yes";
      }
      container.querySelectorAll(".select2-search__field:not([aria-label])").forEach(function (search) {
        search.setAttribute("aria-label", "Search " + name);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    nameWidgets();
    new MutationObserver(nameWidgets).observe(document.body, { childList: true, subtree: true });
  });
})();
