// /architecture without reloading: every few seconds the page is fetched again and its
// diagram and tables are swapped in. Without this file the page is a correct snapshot.
"use strict";

(function () {
  const EVERY_MS = 3000;
  const current = () => document.getElementById("architecture");
  if (!current()) return;

  function mark(text) {
    const live = document.getElementById("architecture-live");
    if (live) live.textContent = text;
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const response = await fetch(window.location.pathname, { headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("architecture");
      if (fresh && current()) current().replaceWith(document.importNode(fresh, true));
      mark(`live: updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      mark(`live updates paused (${error.message}); retrying`);
    }
  }

  mark("live: updates every few seconds");
  setInterval(refresh, EVERY_MS);
})();
