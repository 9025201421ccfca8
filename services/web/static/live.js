// A family's page follows the family's changes: on each, its content is fetched again.
"use strict";
(function () {
  const live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) {
    return;
  }
  let asked = 0;
  async function refresh() {
    const mine = ++asked;
    let response;
    try {
      response = await fetch(live.dataset.fragment, { credentials: "same-origin" });
    } catch (error) {
      // Offline for a moment: the page keeps what it shows, and the next change fetches again.
      return;
    }
    // Only the newest answer is shown, whatever order the answers come in.
    if (response.ok && mine === asked) {
      live.innerHTML = await response.text();
      live.setAttribute("data-updated", String(Date.now()));
      // Said to a screen reader, briefly, rather than the whole view read again.
      const status = document.getElementById("live-status");
      if (status && opened) {
        // Emptied first, so the same words are announced again.
        status.textContent = "";
        window.setTimeout(() => { status.textContent = status.dataset.text; }, 100);
      }
    }
  }
  const source = new EventSource(live.dataset.live);
  // On each change, and on each (re)connection: a change between the page and the stream, or
  // while the stream was down, is shown too.
  let opened = false;
  source.addEventListener("change", refresh);
  source.addEventListener("open", () => {
    refresh().then(() => { opened = true; });
  });
})();
