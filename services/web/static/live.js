// A family's page follows the family's changes: on each, its content is fetched again.
"use strict";
(function () {
  const live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) {
    return;
  }
  const paused = document.getElementById("live-paused");
  let asked = 0;
  let opened = false;
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
  function state(now) {
    live.setAttribute("data-live-state", now);
    if (paused) {
      // Its words are written as it is shown, so that a screen reader announces them.
      const waiting = now === "waiting";
      if (waiting && paused.hidden) {
        paused.hidden = false;
        paused.textContent = paused.dataset.text;
      } else if (!waiting) {
        paused.hidden = true;
        paused.textContent = "";
      }
    }
  }
  // The browser reconnects by itself when a stream ends (the session that opened it ended, the
  // server restarted). A reconnection refused (signed out, or signed in as someone without need
  // to know) closes the stream for good: the page tries again itself, 1 s to 8 s apart, so that
  // it follows again once its window's person is signed in again. A refusal by the services is
  // remembered for the session by the web server, which refuses again without asking them.
  const FIRST_WAIT = 1000;
  const LONGEST_WAIT = 8000;
  let wait = FIRST_WAIT;
  let timer = 0;
  function connect() {
    timer = 0;
    const source = new EventSource(live.dataset.live);
    source.addEventListener("change", refresh);
    // On each (re)connection: a change between the page and the stream, or while the stream was
    // down, is shown too.
    source.addEventListener("open", () => {
      wait = FIRST_WAIT;
      state("open");
      refresh().then(() => { opened = true; });
    });
    source.addEventListener("error", () => {
      if (source.readyState !== EventSource.CLOSED) {
        return;
      }
      state("waiting");
      timer = window.setTimeout(connect, wait);
      wait = Math.min(wait * 2, LONGEST_WAIT);
    });
  }
  // A window shown or focused again does not wait out the rest of its pause.
  function now() {
    if (document.visibilityState === "visible" && timer !== 0) {
      window.clearTimeout(timer);
      connect();
    }
  }
  document.addEventListener("visibilitychange", now);
  window.addEventListener("focus", now);
  connect();
})();
