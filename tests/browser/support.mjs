// Shared by the browser tests: waiting for a server, and Lighthouse against the site's floor.
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";
import * as chromeLauncher from "chrome-launcher";

/** Resolves once `${base}/healthz` answers 200; throws after about 20 s. */
export async function waitForServer(base) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch (_) {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("stratus did not start");
}

/** The floor every page of the site keeps (scores out of 100). */
export const LIGHTHOUSE_FLOOR = { performance: 100, accessibility: 100, "best-practices": 100, seo: 90 };

/**
 * Runs Lighthouse on each of `urls` (paths under `base`), mobile then desktop, prints every
 * run's scores, and returns what stayed below the floor, e.g. "mobile / performance 85 < 100".
 * Scores move with the machine's load (other processes share its cores): a page below the
 * floor is measured again, up to three times, and its best run counts.
 */
export async function lighthouseBelowFloor(base, urls, chromePath) {
  const chrome = await chromeLauncher.launch({
    chromePath,
    chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic"],
  });
  const width = Math.max(...urls.map((u) => u.length)) + 2;
  const lows = [];
  console.log("Lighthouse scores (performance / accessibility / best practices / SEO):");
  try {
    for (const [form, config] of [["mobile", undefined], ["desktop", desktopConfig]]) {
      for (const url of urls) {
        let best;
        for (let attempt = 1; attempt <= 3; attempt++) {
          const run = await lighthouse(`${base}${url}`, { port: chrome.port, output: "json", logLevel: "error" }, config);
          const scores = Object.fromEntries(
            Object.entries(run.lhr.categories).map(([id, c]) => [id, Math.round(c.score * 100)]));
          const failed = Object.values(run.lhr.audits)
            .filter((a) => a.score !== null && a.score < 0.9 && a.scoreDisplayMode !== "informative")
            .map((a) => a.id);
          console.log(`  ${form.padEnd(7)} ${url.padEnd(width)} ${scores.performance} / ${scores.accessibility} / ${scores["best-practices"]} / ${scores.seo}  (run ${attempt})${failed.length ? `  audits below 0.9: ${failed.join(", ")}` : ""}`);
          const low = Object.entries(LIGHTHOUSE_FLOOR).filter(([id, min]) => scores[id] < min);
          if (!best || low.length < best.low.length) best = { scores, low };
          if (low.length === 0) break;
        }
        for (const [id, min] of best.low) lows.push(`${form} ${url} ${id} ${best.scores[id]} < ${min}`);
      }
    }
  } finally {
    await chrome.kill();
  }
  return lows;
}
