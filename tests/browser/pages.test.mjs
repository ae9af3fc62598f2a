// Pages that connect and an account you control, in a real browser (Debian's chromium through
// playwright-core) at phone (390 px) and desktop (1280 px) widths: a person's page, older
// pages and the way back, previous/next photo by link and arrow key, the full-size original,
// a tall photo that fits the window, per-file captions, editing a caption, changing the
// password and deleting the account. The pages it reaches are validated with vnu.
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
import { waitForServer, lighthouseBelowFloor } from "./support.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const fixtures = path.join(root, "tests/fixtures/images");
const shots = path.join(root, "target/screenshots");
const bin = process.env.STRATUS_BIN || path.join(root, "target/debug/stratus");
const port = 20000 + Math.floor(Math.random() * 20000);
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(path.join(tmpdir(), "stratus-pages-"));
const username = `pat${Date.now() % 100000}`;
const password = "correct horse battery";
const newPassword = "another long passphrase";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

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
      ROCKET_SEED_DEMO: "false",
      // Small pages, so a handful of photos spans several.
      ROCKET_FRONT_PAGE_SIZE: "2",
      STRATUS_LOG: "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitForServer(base);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  page.on("pageerror", (error) => assert.fail(`script error on ${page.url()}: ${error.message}`));
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Runs `check` at phone width, then at desktop width (where the session continues). */
async function atBothWidths(name, check) {
  for (const [label, size] of [["phone", PHONE], ["desktop", DESKTOP]]) {
    await page.setViewportSize(size);
    await check(label);
    await page.screenshot({ path: path.join(shots, `${name}-${label}.png`) });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, `${name}: no horizontal scrolling at ${label} width`);
  }
  await page.setViewportSize(DESKTOP);
}

/** A JPEG `width`×`height` drawn by the browser itself, as a file for setInputFiles. */
async function drawnJpeg(name, width, height) {
  const b64 = await page.evaluate(async ([w, h]) => {
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext("2d");
    const sky = g.createLinearGradient(0, 0, 0, h);
    sky.addColorStop(0, "#1d4ed8");
    sky.addColorStop(1, "#f59e0b");
    g.fillStyle = sky;
    g.fillRect(0, 0, w, h);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text);
  }, [width, height]);
  return { name, mimeType: "image/jpeg", buffer: Buffer.from(b64, "base64") };
}

test("register, then upload three photos with a caption each (JavaScript)", async () => {
  await page.goto(`${base}/register`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Register" }).click();
  await page.waitForURL(`${base}/`);

  const tall = await drawnJpeg("tall.jpg", 600, 2400);
  const file = (name, mimeType) => ({ name, mimeType, buffer: readFileSync(path.join(fixtures, "valid", name)) });
  await page.setInputFiles("#photo", [file("progressive.jpg", "image/jpeg"), file("lossy.webp", "image/webp"), tall]);
  await page.getByLabel("Caption of progressive.jpg").fill("First of three");
  // The second file's caption is left empty: it takes the shared one.
  await page.locator("#caption").fill("Shared words");
  await page.getByLabel("Caption of tall.jpg").fill("A tall one");
  await page.getByLabel("Text alternative of tall.jpg (optional)").fill("A gradient from blue to amber");
  await page.getByRole("button", { name: "Upload" }).click();
  await page.locator("#upload-list li.done").nth(2).waitFor();
  assert.equal(await page.locator("#file-words").count(), 0, "the per-file fields go once uploaded");
  await page.waitForFunction(() => document.querySelectorAll("#photos .grid .caption").length === 2);
  // Page size 2: the newest two are here, the first one is on the older page.
  assert.deepEqual(await page.locator("#photos .grid .caption").allTextContents(), ["A tall one", "Shared words"]);
  assert.equal(await page.locator("#photos .grid img").first().getAttribute("alt"), "A gradient from blue to amber");
});

test("older front pages say where they are and link back", async () => {
  await atBothWidths("older-front", async () => {
    await page.goto(`${base}/`);
    await page.getByRole("link", { name: "Older photos →" }).click();
    await page.waitForURL(/\/\?before=/);
    assert.match(await page.title(), /^Older photos/);
    assert.equal(await page.locator("h1").innerText(), "Older photos");
    assert.match(await page.locator(".where").innerText(), /Uploaded from .+ back to .+\./);
    assert.deepEqual(await page.locator("#photos .grid .caption").allTextContents(), ["First of three"]);
    const back = page.locator('a[rel="prev"]', { hasText: "Newer photos" });
    const box = await back.boundingBox();
    assert.ok(box.height >= 44, `the way back is a 44 px tap target (${box.height})`);
    await back.click();
    await page.waitForURL(`${base}/`);
    assert.equal(await page.locator("h1").innerText(), "Latest photos");
  });
});

// A script that rewrites text after the first paint shifts whatever is below it (Lighthouse's
// layout shift), which a slow network or server makes likely on a phone.
test("at phone width the script moves nothing: pages lay out the same with and without it", async () => {
  const first = await (await fetch(`${base}/`)).text();
  const older = first.match(/href="(\/\?before=[0-9A-Z]{26})"/)[1];
  const photo = first.match(/href="(\/photos\/[0-9A-Z]{26})"/)[1];
  const urls = ["/", older, photo, `/u/${username}${older.slice(1)}`];
  const visitors = [];
  for (const javaScriptEnabled of [false, true]) {
    visitors.push(await (await browser.newContext({ viewport: PHONE, javaScriptEnabled })).newPage());
  }
  // Each page is loaded both ways back to back, so the times on it read the same.
  const layouts = {};
  for (const url of urls) {
    for (const visitor of visitors) {
      await visitor.goto(`${base}${url}`);
      const boxes = await visitor.evaluate(() => [...document.querySelectorAll("main *")].map((e) => {
        const box = e.getBoundingClientRect();
        return `${e.tagName.toLowerCase()} at ${Math.round(box.top)}, ${Math.round(box.height)} high`;
      }));
      (layouts[url] ??= []).push(boxes);
    }
  }
  for (const visitor of visitors) await visitor.context().close();
  for (const [url, [without, withScript]] of Object.entries(layouts)) {
    assert.deepEqual(withScript, without, `${url}: running the script moved what is on it`);
  }
});

test("owner names lead to a person's page, paged the same way", async () => {
  await atBothWidths("user-page", async () => {
    await page.goto(`${base}/`);
    await page.locator("#photos .owner a").first().click();
    await page.waitForURL(`${base}/u/${username}`);
    assert.equal(await page.locator("h1").innerText(), `Photos by ${username}`);
    assert.equal(await page.locator("#photos .grid li").count(), 2);
    await page.getByRole("link", { name: "Older photos →" }).click();
    await page.waitForURL(new RegExp(`/u/${username}\\?before=`));
    assert.equal(await page.locator("h1").innerText(), `Older photos by ${username}`);
    await page.getByRole("link", { name: "← Newer photos" }).click();
    await page.waitForURL(`${base}/u/${username}`);
  });
});

test("a photo page: previous and next by link and arrow key, the original, a tall photo in view", async () => {
  await page.goto(`${base}/u/${username}`);
  await page.locator("#photos .grid a").nth(1).click();
  await page.waitForURL(/\/photos\//);
  const middle = page.url();
  assert.equal(await page.locator("article.photo h1").innerText(), "Shared words");
  assert.equal(await page.locator('a[rel="prev"]').count(), 1);
  assert.equal(await page.locator('a[rel="next"]').count(), 1);

  await page.keyboard.press("ArrowRight");
  await page.waitForURL((url) => url.href !== middle);
  assert.equal(await page.locator("article.photo h1").innerText(), "First of three", "right arrow: older");
  assert.equal(await page.locator('a[rel="next"]').count(), 0, "the oldest has no older photo");
  await page.keyboard.press("ArrowLeft");
  await page.waitForURL(middle);
  await page.keyboard.press("ArrowLeft");
  await page.waitForURL((url) => url.href !== middle);
  assert.equal(await page.locator("article.photo h1").innerText(), "A tall one", "left arrow: newer");

  // Typing in a field is not navigating.
  await page.getByText("Edit caption").click();
  const before = page.url();
  await page.locator("#edit-caption").press("ArrowLeft");
  assert.equal(page.url(), before);
  await page.getByText("Edit caption").click();

  const original = await page.getByRole("link", { name: "View full size" }).getAttribute("href");
  const response = await page.request.get(new URL(original, base).href);
  assert.equal(response.status(), 200);
  assert.equal(response.headers()["content-type"], "image/jpeg");
  assert.equal(await page.getByRole("link", { name: "Download original" }).getAttribute("download"), "");

  await atBothWidths("tall-photo", async (label) => {
    await page.reload();
    await page.locator("article.photo img").evaluate((img) => img.decode());
    const fit = await page.evaluate(() => {
      const inView = (el) => {
        const r = el.getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight;
      };
      const img = document.querySelector("article.photo img").getBoundingClientRect();
      return {
        image: img.bottom <= window.innerHeight,
        caption: inView(document.querySelector("article.photo h1")),
        delete: inView(document.querySelector("article.photo button.danger")),
      };
    });
    assert.ok(fit.image, `${label}: the whole photo fits the window`);
    assert.ok(fit.caption, `${label}: its caption is in view`);
    if (label === "desktop") assert.ok(fit.delete, "desktop: its actions are in view");
  });
});

test("the owner edits a caption and its text alternative", async () => {
  await page.getByText("Edit caption").click();
  await page.locator("#edit-caption").fill("A tall one, renamed");
  await page.locator("#edit-alt").fill("A tall gradient, blue above amber");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState();
  assert.equal(await page.locator("article.photo h1").innerText(), "A tall one, renamed");
  assert.equal(await page.locator("article.photo img").getAttribute("alt"), "A tall gradient, blue above amber");
});

test("every page reached here is valid HTML (W3C Nu validator)", async () => {
  const context = page.context();
  const photo = new URL(page.url()).pathname;
  const first = await (await context.request.get(`${base}/`)).text();
  const older = first.match(/href="(\/\?before=[0-9A-Z]{26})"/)[1];
  const pages = ["/account", `/u/${username}`, older, photo, `/u/${username}${older.slice(1)}`];
  const dir = mkdtempSync(path.join(tmpdir(), "stratus-vnu-"));
  const files = [];
  for (const [i, url] of pages.entries()) {
    const response = await context.request.get(`${base}${url}`);
    assert.equal(response.status(), 200, url);
    files.push(path.join(dir, `page-${i}.html`));
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

test("axe-core finds no violations on these pages, phone and desktop", async () => {
  const photo = new URL(page.url()).pathname;
  const first = await (await page.context().request.get(`${base}/`)).text();
  const older = first.match(/href="(\/\?before=[0-9A-Z]{26})"/)[1];
  const urls = ["/account", `/u/${username}`, `/u/${username}${older.slice(1)}`, older, photo];
  const results = [];
  for (const [width, viewport] of [["phone", PHONE], ["desktop", DESKTOP]]) {
    // axe is injected by the test, which the site's CSP would (rightly) refuse; the session
    // comes along, so the owner's forms are checked too.
    const context = await browser.newContext({ viewport, bypassCSP: true, storageState: await page.context().storageState() });
    const checked = await context.newPage();
    for (const url of urls) {
      await checked.goto(`${base}${url}`);
      await checked.evaluate(axeSource);
      const { violations } = await checked.evaluate(() => window.axe.run(document));
      results.push({ width, url, violations: violations.map((v) => `${v.id} (${v.nodes.length})`) });
    }
    await context.close();
  }
  console.log("axe-core results:");
  for (const r of results) console.log(`  ${r.width.padEnd(7)} ${r.url.padEnd(48)} ${r.violations.length} violations ${r.violations.join(", ")}`);
  assert.deepEqual(results.filter((r) => r.violations.length > 0), []);
});

test("Lighthouse scores of a person's page and an older page, mobile and desktop", { timeout: 600_000 }, async () => {
  const first = await (await fetch(`${base}/`)).text();
  const older = first.match(/href="(\/\?before=[0-9A-Z]{26})"/)[1];
  const urls = [`/u/${username}`, older];
  assert.deepEqual(await lighthouseBelowFloor(base, urls, process.env.CHROMIUM || "/usr/bin/chromium"), []);
});

test("change the password: this browser stays signed in, the old password stops working", async () => {
  await atBothWidths("account", async () => {
    await page.goto(`${base}/account`);
    assert.equal(await page.locator("h1").innerText(), "Your account");
  });
  await page.getByRole("link", { name: "Your account" }).first().click();
  await page.waitForURL(`${base}/account`);
  // A wrong current password: the form again, the message at the field, nothing changed.
  await page.getByLabel("Current password").fill("not the password");
  await page.getByLabel("New password").fill(newPassword);
  await page.getByRole("button", { name: "Change password" }).click();
  await page.locator("#current-error").waitFor();
  assert.equal(await page.getByLabel("Current password").getAttribute("aria-invalid"), "true");

  await page.getByLabel("Current password").fill(password);
  await page.getByLabel("New password").fill(newPassword);
  await page.getByRole("button", { name: "Change password" }).click();
  await page.waitForURL(`${base}/account`);
  assert.equal(await page.locator("#current-error").count(), 0);
  assert.match(await page.locator('nav[aria-label="Account"]').innerText(), new RegExp(`Signed in as ${username}`));

  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(`${base}/`);
  for (const [attempt, works] of [[password, false], [newPassword, true]]) {
    await page.goto(`${base}/login`);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(attempt);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForLoadState();
    const signedIn = (await page.getByText(/Signed in as/).count()) > 0;
    assert.equal(signedIn, works, works ? "the new password works" : "the old password does not");
  }
});

test("delete the account: signed out, photos and page gone", async () => {
  await page.goto(`${base}/account`);
  await page.getByLabel("Your password", { exact: true }).fill(newPassword);
  await page.getByRole("button", { name: "Delete my account and photos" }).click();
  await page.waitForURL(`${base}/`);
  assert.match(await page.locator('nav[aria-label="Account"]').innerText(), /Log in/);
  assert.equal(await page.locator("#photos .grid li").count(), 0, "no photos left");
  const gone = await page.request.get(`${base}/u/${username}`);
  assert.equal(gone.status(), 404);
});
