// Real-browser tests: Debian's chromium driven by playwright-core, against a real stratus
// process on loopback. Also validates every page's HTML with the W3C Nu validator (vnu-jar).
//
//   STRATUS_BIN=target/debug/stratus node --test     (from tests/browser; tests/run.sh does it)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { waitForServer } from "./support.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const fixtures = path.join(root, "tests/fixtures/images");
const shots = path.join(root, "target/screenshots");
const bin = process.env.STRATUS_BIN || path.join(root, "target/debug/stratus");
const port = 20000 + Math.floor(Math.random() * 20000);
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(path.join(tmpdir(), "stratus-browser-"));
const username = `alice${Date.now() % 100000}`;

let server;
let browser;
let page;

before(async () => {
  server = spawn(bin, [], {
    env: {
      ...process.env,
      ROCKET_PORT: String(port),
      ROCKET_DATA_DIR: dataDir,
      ROCKET_LOG_LEVEL: "off",
      STRATUS_LOG: "warn",
      // The test user is made an admin once registered, so /admin/traffic (fed by this access
      // log) is validated too.
      ROCKET_ACCESS_LOG: path.join(dataDir, "access.log"),
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitForServer(base);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on("pageerror", (error) => assert.fail(`script error on ${page.url()}: ${error.message}`));
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

const password = "correct horse battery";

async function gridCaptions() {
  return page.locator("#photos .grid .caption").allTextContents();
}

test("register, log out and log in again", async () => {
  await page.goto(`${base}/register`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Register" }).click();
  await page.waitForURL(`${base}/`);
  assert.match(await page.locator('nav[aria-label="Account"]').innerText(), new RegExp(`Signed in as ${username}`));
  // Admin is a role granted on the server, as an operator would.
  execFileSync(bin, ["admin", "grant", username], { env: { ...process.env, ROCKET_DATA_DIR: dataDir, STRATUS_LOG: "warn" } });

  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(`${base}/`);
  assert.match(await page.locator('nav[aria-label="Account"]').innerText(), /Log in/);

  await page.getByRole("link", { name: "Log in" }).click();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${base}/`);
  assert.match(await page.locator('nav[aria-label="Account"]').innerText(), new RegExp(`Signed in as ${username}`));
});

test("upload two photos through the file input, with progress and thumbnails", async () => {
  await page.getByLabel("Caption").fill("Browser upload");
  await page.setInputFiles("#photo", [
    path.join(fixtures, "valid/progressive.jpg"),
    path.join(fixtures, "valid/alpha.png"),
  ]);
  await page.getByRole("button", { name: "Upload" }).click();
  await page.locator("#upload-list li.done").nth(1).waitFor();
  const bars = await page.locator("#upload-list li.done progress").evaluateAll((els) => els.map((e) => e.value));
  assert.deepEqual(bars, [100, 100], "each file's progress bar completes");
  await page.waitForFunction(() => {
    const captions = [...document.querySelectorAll("#photos .grid .caption")].slice(0, 2);
    return captions.length === 2 && captions.every((c) => c.textContent === "Browser upload");
  });
  const captions = await gridCaptions();
  assert.deepEqual(captions.slice(0, 2), ["Browser upload", "Browser upload"], "new thumbnails lead the grid");
  const loaded = await page.locator("#photos .grid img").first().evaluate((img) => img.complete && img.naturalWidth > 0);
  assert.ok(loaded, "the new thumbnail loads");
});

test("upload by drag and drop", async () => {
  const bytes = readFileSync(path.join(fixtures, "valid/lossy.webp")).toString("base64");
  await page.getByLabel("Caption").fill("Dropped in");
  await page.evaluate((b64) => {
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([raw], "dropped.webp", { type: "image/webp" }));
    const zone = document.getElementById("dropzone");
    zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, bytes);
  await page.locator("#upload-list li.done", { hasText: "dropped.webp" }).waitFor();
  await page.waitForFunction(() => document.querySelector("#photos .grid .caption")?.textContent === "Dropped in");
});

test("refusals are explained next to the file", async () => {
  await page.setInputFiles("#photo", [
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image") },
    { name: "broken.jpg", mimeType: "image/jpeg", buffer: readFileSync(path.join(fixtures, "invalid/truncated.jpg")) },
  ]);
  await page.getByRole("button", { name: "Upload" }).click();
  const failed = page.locator("#upload-list li.failed");
  await failed.nth(1).waitFor();
  assert.match(await failed.nth(0).innerText(), /not a JPEG, PNG, GIF or WebP/, "checked in the browser");
  assert.match(await failed.nth(1).innerText(), /damaged or incomplete/, "the server's own words");
});

test("teaching panel shows the server, the session and the timings", async () => {
  await page.goto(`${base}/`);
  const panel = page.locator("details.teaching");
  assert.equal(await panel.evaluate((d) => d.open), false, "closed until asked for");
  await panel.locator("summary").click();
  const text = await panel.innerText();
  assert.match(text, /Served by/);
  assert.match(text, /X-Cache: (HIT|MISS)/);
  await page.waitForFunction(() => /render \d/.test(document.getElementById("timings").textContent));
  await panel.locator("summary").click();
  assert.equal(await panel.evaluate((d) => d.open), false, "collapsible");
});

test("keyboard users see where they are", async () => {
  await page.goto(`${base}/`);
  await page.keyboard.press("Tab");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, "none");
});

test("screenshots at phone and desktop widths", async () => {
  await page.goto(`${base}/`);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: path.join(shots, "front-desktop.png"), fullPage: false });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(shots, "front-phone.png"), fullPage: false });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, "no horizontal scrolling on a phone");
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("open a photo, delete it, log out", async () => {
  await page.goto(`${base}/`);
  const first = page.locator("#photos .grid a").first();
  const href = await first.getAttribute("href");
  await first.click();
  await page.waitForURL(`${base}${href}`);
  assert.equal(await page.locator("article.photo h1").innerText(), "Dropped in");
  await page.getByRole("link", { name: "Delete this photo" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete for good" }).click();
  await page.waitForURL(`${base}/`);
  assert.equal(await page.locator(`#photos a[href="${href}"]`).count(), 0, "gone from the front page");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(`${base}/`);
  assert.match(await page.locator('nav[aria-label="Account"]').innerText(), /Log in/);
});

test("every page is valid HTML (W3C Nu validator)", async () => {
  const context = page.context();
  await page.goto(`${base}/login`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${base}/`);
  const photo = await page.locator("#photos .grid a").first().getAttribute("href");
  const pages = ["/", photo, "/no-such-page", "/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/admin/traffic", "/architecture"];
  const anonymous = ["/", "/login", "/register", "/architecture"];
  const dir = mkdtempSync(path.join(tmpdir(), "stratus-vnu-"));
  const files = [];
  for (const [i, url] of pages.entries()) {
    const response = await context.request.get(`${base}${url}`);
    if (url === "/admin/traffic") {
      assert.equal(response.status(), 200);
      assert.match(await response.text(), /<rect width="\d+"/, "bars for the requests made so far");
    }
    files.push(path.join(dir, `signed-in-${i}.html`));
    writeFileSync(files.at(-1), await response.text());
  }
  for (const [i, url] of anonymous.entries()) {
    const response = await fetch(`${base}${url}`);
    files.push(path.join(dir, `anonymous-${i}.html`));
    writeFileSync(files.at(-1), await response.text());
  }
  const vnu = createRequire(import.meta.url).resolve("vnu-jar/build/dist/vnu.jar");
  try {
    execFileSync("java", ["-jar", vnu, "--errors-only", "--format", "text", ...files], { stdio: "pipe" });
  } catch (error) {
    assert.fail(`vnu found errors:\n${error.stderr}${error.stdout}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
