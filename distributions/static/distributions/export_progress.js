// The response export's progress bar: polls the export's progress JSON until it is complete or failed.
(function () {
  "use strict";
  const POLL_MS = 1000;
  const box = document.getElementById("export-progress");
  if (!box) return;
  const bar = document.getElementById("export-progress-bar");
  const text = document.getElementById("export-progress-text");
  const status = document.querySelector("#export-status strong");
  const errorNote = document.getElementById("export-error");
  const download = document.getElementById("export-download");
  const labels = { inProgress: "In progress", complete: "Complete", failed: "Failed" };

  function show(state) {
    bar.value = state.percentComplete;
    bar.textContent = text.textContent = state.percentComplete + "%";
    status.textContent = labels[state.status] || state.status;
    if (state.error) {
      errorNote.querySelector("p").textContent = state.error;
      errorNote.hidden = false;
    }
    if (state.downloadUrl) {
      const link = download.querySelector("a");
      link.href = state.downloadUrl;
      link.textContent = "Download " + state.filename;
      download.hidden = false;
    }
  }

  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (state) {
        show(state);
        if (state.status === "inProgress") setTimeout(poll, POLL_MS);
      })
      .catch(function () {
        setTimeout(poll, POLL_MS * 5);  // a network hiccup: try again, more slowly
      });
  }

  if (box.dataset.status === "inProgress") setTimeout(poll, POLL_MS);
})();
