// A family's page follows the family's changes: on each, its content is fetched again.
"use strict";
(function () {
  const live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) {
    return;
  }
  const source = new EventSource(live.dataset.live);
  source.addEventListener("change", async function () {
    const response = await fetch(live.dataset.fragment, { credentials: "same-origin" });
    if (response.ok) {
      live.innerHTML = await response.text();
      live.setAttribute("data-updated", String(Date.now()));
    }
  });
})();
