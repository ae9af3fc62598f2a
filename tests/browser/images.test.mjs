// What a front page view costs in image bytes, in a real browser: a phone-width (390 px) and a
// desktop (1280 px) window on the demo site's front page (ten photos). Prints both figures
// (the README quotes them) and checks the responsive markup does its job: the small
// thumbnails at one device pixel, the large ones at three, and no layout shift while images
// load.
//
//   STRATUS_BIN=target/debug/stratus node --test images.test.mjs   (from tests/browser)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const bin = process.env.STRATUS_BIN || path.join(root, "target/debug/stratus");
const port = 20000 + Math.floor(Math.random() * 20000);
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(path.join(tmpdir(), "stratus-images-"));

let server;
let browser;

before(async () => {
  server = spawn(bin, [], {
    env: { ...process.env, ROCKET_PORT: String(port), ROCKET_DATA_DIR: dataDir, ROCKET_LOG_LEVEL: "off",
      ROCKET_SEED_DEMO: "true", STRATUS_LOG: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch (_) {
      /* not up yet */
    }
    if (i > 300) throw new Error("stratus did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Loads the front page in a fresh window; returns the bytes fetched and what was fetched. */
async function frontPageView(width, height, deviceScaleFactor) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor });
  const page = await context.newPage();
  const fetched = [];
  page.on("requestfinished", (request) => {
    fetched.push(request.sizes().then((sizes) =>
      ({ url: new URL(request.url()).pathname, bytes: sizes.responseBodySize + sizes.responseHeadersSize })));
  });
  await page.addInitScript(() => {
    window.__shift = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__shift += entry.value;
    }).observe({ type: "layout-shift", buffered: true });
  });
  await page.goto(`${base}/`, { waitUntil: "networkidle" });
  await page.waitForTimeout(300);
  const shift = await page.evaluate(() => window.__shift);
  const images = await page.locator("#photos .grid img").evaluateAll((imgs) =>
    imgs.map((img) => ({ current: img.currentSrc, complete: img.complete && img.naturalWidth > 0 })));
  const done = await Promise.all(fetched);
  const total = done.reduce((sum, f) => sum + f.bytes, 0);
  const imageRequests = done.filter((f) => f.url.startsWith("/media/"));
  const imageBytes = imageRequests.reduce((sum, f) => sum + f.bytes, 0);
  return { context, page, total, imageRequests, imageBytes, shift, images };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

test("a phone-width front page fetches the small thumbnails", async () => {
  const view = await frontPageView(390, 844, 1);
  console.log(`front page at 390 px (1x): ${kb(view.total)} in all, ${view.imageRequests.length} images ${kb(view.imageBytes)}`);
  assert.equal(view.images.length, 10);
  // Chromium starts lazy images 1250 px or more before they scroll into view, which covers
  // this whole ten-photo grid: lazy loading pays off on longer pages, not here.
  assert.ok(view.imageRequests.length >= 4, `${view.imageRequests.length} images fetched`);
  for (const r of view.imageRequests) assert.match(r.url, /-320\.jpg$/, "the small size at 1x");
  assert.equal(view.shift, 0, "nothing shifts while images load");
  await view.page.locator("#photos .grid img").last().scrollIntoViewIfNeeded();
  await view.page.waitForLoadState("networkidle");
  const loaded = await view.page.locator("#photos .grid img").evaluateAll((imgs) => imgs.filter((i) => i.complete && i.naturalWidth > 0).length);
  assert.equal(loaded, 10, "every image loads once scrolled to");
  await view.context.close();
});

test("a phone at 3x gets the large thumbnails", async () => {
  const view = await frontPageView(390, 844, 3);
  console.log(`front page at 390 px (3x): ${kb(view.total)} in all, ${view.imageRequests.length} images ${kb(view.imageBytes)}`);
  for (const r of view.imageRequests) assert.doesNotMatch(r.url, /-320\.jpg$/, "the large size at 3x");
  await view.context.close();
});

test("a desktop front page fetches the visible thumbnails at their size", async () => {
  const view = await frontPageView(1280, 800, 1);
  console.log(`front page at 1280 px (1x): ${kb(view.total)} in all, ${view.imageRequests.length} images ${kb(view.imageBytes)}`);
  assert.equal(view.shift, 0, "nothing shifts while images load");
  for (const r of view.imageRequests) assert.match(r.url, /-320\.jpg$/, "columns are ~17rem: the small size at 1x");
  assert.ok(view.imageRequests.length >= 4, `${view.imageRequests.length} images fetched`);
  await view.context.close();
});
