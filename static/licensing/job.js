// A job's page (admin/licensing/job.html): asks for the job's progress every two seconds and moves the bar;
// once the job has finished, loads the page again to show its result or error. With JavaScript off the page
// refreshes itself instead (a <noscript> meta refresh).
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var facts = document.getElementById("job");
  if (!facts || !facts.dataset.progressUrl) return;
  var bar = document.getElementById("job-progress");
  var text = document.getElementById("job-progress-text");
  var state = document.getElementById("job-state");
  var unit = facts.dataset.unit || "rows";

  function show(progress) {
    state.textContent = progress.label;
    if (progress.total) {
      bar.max = progress.total;
      bar.value = progress.done;
      text.textContent = progress.done.toLocaleString("en-US") + " of " + progress.total.toLocaleString("en-US") + " " + unit;
    }
  }

  function ask() {
    fetch(facts.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (progress) {
        if (!progress) return window.setTimeout(ask, 5000);
        show(progress);
        if (progress.finished) window.location.reload();
        else window.setTimeout(ask, 2000);
      })
      .catch(function () { window.setTimeout(ask, 5000); });
  }
  window.setTimeout(ask, 1000);
});
