// Real-browser tests of issue 17's first half, at phone (390 px, touch) and desktop widths:
// forms that forgive, visible focus, tap targets, delete that asks first, one-time messages,
// times, the teaching panel; then axe-core on every page and Lighthouse (mobile and desktop),
// whose results are printed.
//
//   STRATUS_BIN=target/debug/stratus node --test ux.test.mjs     (from tests/browser)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const port = 20000 + Math.floor(Math.random() * 20000);
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(path.join(tmpdir(), "stratus-ux-"));
const username = `uma${Date.now() % 100000}`;
const password = "correct horse battery";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const WIDTHS = {
  phone: { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 },
  desktop: { viewport: { width: 1280, height: 900 } },
};

let server;
let browser;

before(async () => {
  server = spawn(bin, [], {
    env: { ...process.env, ROCKET_PORT: String(port), ROCKET_DATA_DIR: dataDir, ROCKET_LOG_LEVEL: "off", STRATUS_LOG: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitForServer(base);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

async function open(width, options = {}) {
  const context = await browser.newContext({ ...WIDTHS[width], ...options });
  const page = await context.newPage();
  page.on("pageerror", (error) => assert.fail(`script error on ${page.url()}: ${error.message}`));
  return page;
}

async function logIn(page) {
  await page.goto(`${base}/login`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${base}/`);
}

/** Submits the current page's form with `click`, returning the response to the POST. */
async function submit(page, click) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && r.request().isNavigationRequest()),
    click(),
  ]);
  await page.waitForLoadState();
  return response;
}

function luminance([r, g, b]) {
  const lin = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

const rgb = (css) => css.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);

test("a refused registration is the form again, the name kept, the password not", async () => {
  const page = await open("desktop");
  await page.goto(`${base}/register`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Register" }).click();
  await page.waitForURL(`${base}/`);
  assert.equal(await page.getByRole("status").innerText(), "Welcome! Your account is ready and you are logged in.");
  await page.reload();
  assert.equal(await page.getByRole("status").count(), 0, "the message shows once");
  await page.getByRole("button", { name: "Log out" }).click();
  assert.equal(await page.getByRole("status").innerText(), "You are logged out.");

  for (const width of ["phone", "desktop"]) {
    const page = await open(width);
    await page.goto(`${base}/register`);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill("another password");
    const response = await submit(page, () => page.getByRole("button", { name: "Register" }).click());
    assert.equal(response.status(), 409, "the status is kept");
    assert.equal(page.url(), `${base}/register`, "at the form's own URL");
    assert.equal(await page.title(), "Error: Register · Stratus");
    assert.equal(await page.getByLabel("Username").inputValue(), username);
    assert.equal(await page.getByLabel("Password").inputValue(), "");
    assert.match(await page.getByRole("alert").innerText(), /already taken/);
    assert.equal(await page.evaluate(() => document.activeElement.id), "username", "focus on the field to fix");
    assert.ok(await page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Log in" }).isVisible(),
      "the normal header");
    await page.screenshot({ path: path.join(shots, `register-refused-${width}.png`) });
    await page.context().close();
  }

  const login = await open("phone");
  await login.goto(`${base}/login`);
  await login.getByLabel("Username").fill(username);
  await login.getByLabel("Password").fill("wrong password!");
  const response = await submit(login, () => login.getByRole("button", { name: "Log in" }).click());
  assert.equal(response.status(), 401);
  assert.equal(await login.getByLabel("Username").inputValue(), username);
  assert.equal(await login.getByLabel("Password").inputValue(), "");
  assert.match(await login.getByRole("alert").innerText(), /Wrong username or password/);
  await login.context().close();
  await page.context().close();
});

test("without JavaScript a refused upload is the upload form again, and delete asks on a page", async () => {
  const page = await open("phone", { javaScriptEnabled: false });
  await logIn(page);
  await page.getByLabel("Caption").fill("Kept caption");
  await page.setInputFiles("#photo", path.join(fixtures, "invalid/truncated.jpg"));
  const response = await submit(page, () => page.getByRole("button", { name: "Upload" }).click());
  assert.equal(response.status(), 422);
  assert.equal(page.url(), `${base}/photos`);
  assert.equal(await page.title(), "Error: Share photos · Stratus");
  assert.equal(await page.getByLabel("Caption").inputValue(), "Kept caption");
  assert.match(await page.getByRole("alert").innerText(), /damaged or incomplete/);

  await page.setInputFiles("#photo", path.join(fixtures, "valid/progressive.jpg"));
  await page.getByLabel("Caption").fill("No-script photo");
  await page.getByRole("button", { name: "Upload" }).click();
  await page.waitForURL(/\/photos\/[0-9A-Z]{26}$/);
  assert.equal(await page.getByRole("status").innerText(), "Your photo is uploaded.");
  const photoUrl = page.url();
  await page.getByRole("link", { name: "Delete this photo" }).click();
  await page.waitForURL(`${photoUrl}/delete`);
  assert.equal(await page.getByRole("heading", { level: 1 }).innerText(), "Delete this photo?");
  await page.getByRole("link", { name: "Keep it" }).click();
  await page.waitForURL(photoUrl);
  await page.getByRole("link", { name: "Delete this photo" }).click();
  await page.getByRole("button", { name: "Delete for good" }).click();
  await page.waitForURL(`${base}/`);
  assert.equal(await page.getByRole("status").innerText(), "The photo was deleted.");
  await page.context().close();
});

test("with JavaScript delete asks in a dialog, and times read relative", async () => {
  const page = await open("desktop");
  await logIn(page);
  await page.getByLabel("Caption").fill("Dialog photo");
  await page.setInputFiles("#photo", path.join(fixtures, "valid/progressive.jpg"));
  await page.getByRole("button", { name: "Upload" }).click();
  const link = page.locator("#upload-list li.done a");
  await link.waitFor();
  await link.click();
  await page.waitForURL(/\/photos\/[0-9A-Z]{26}$/);
  const photoUrl = page.url();
  const time = page.locator("article time");
  assert.match(await time.innerText(), /now|second|minute/, "relative");
  assert.ok((await time.getAttribute("title")).length > 5, "the reader's local time on hover");

  await page.getByRole("link", { name: "Delete this photo" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete this photo?" });
  await dialog.waitFor();
  assert.equal(page.url(), photoUrl, "no navigation: a dialog");
  await page.screenshot({ path: path.join(shots, "delete-dialog-desktop.png") });
  await dialog.getByRole("button", { name: "Keep it" }).click();
  assert.equal(await dialog.isVisible(), false);
  await page.getByRole("link", { name: "Delete this photo" }).click();
  await dialog.getByRole("button", { name: "Delete for good" }).click();
  await page.waitForURL(`${base}/`);
  assert.equal(await page.getByRole("status").innerText(), "The photo was deleted.");
  await page.context().close();
});

test("focus is visible on thumbnails, with at least 3:1 contrast", async () => {
  for (const width of ["phone", "desktop"]) {
    const page = await open(width);
    await page.goto(`${base}/`);
    const thumb = page.locator("#photos .grid a").first();
    await thumb.waitFor();
    await page.keyboard.press("Tab");
    for (let i = 0; i < 20 && !(await thumb.evaluate((a) => a === document.activeElement)); i++) {
      await page.keyboard.press("Tab");
    }
    assert.ok(await thumb.evaluate((a) => a === document.activeElement), "the thumbnail takes focus");
    const style = await thumb.evaluate((a) => {
      const s = getComputedStyle(a);
      return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
        clip: getComputedStyle(a.closest("li")).overflow, page: getComputedStyle(document.body).backgroundColor };
    });
    assert.notEqual(style.style, "none");
    assert.ok(style.width >= 2, `outline ${style.width}px`);
    assert.notEqual(style.clip, "hidden", "the card does not clip the ring");
    for (const against of [[255, 255, 255], rgb(style.page)]) {
      assert.ok(contrast(rgb(style.color), against) >= 3, `focus ring ${style.color} vs ${against}`);
    }
    await page.screenshot({ path: path.join(shots, `thumbnail-focus-${width}.png`) });
    await page.goto(`${base}/login`);
    const border = await page.getByLabel("Username").evaluate((i) => getComputedStyle(i).borderTopColor);
    assert.ok(contrast(rgb(border), [255, 255, 255]) >= 3, `input border ${border}`);
    await page.context().close();
  }
});

test("on a phone every control is at least 44 px tall and no drop hint shows", async () => {
  const phone = await open("phone");
  await logIn(phone);
  const panel = phone.locator("details.teaching");
  assert.equal(await panel.evaluate((d) => d.open), false, "the teaching panel starts closed");
  const controls = ["nav button", ".brand", "input[type=file]", "#upload-form button", "details.teaching summary",
    "input[type=text]"];
  for (const selector of controls) {
    const box = await phone.locator(selector).first().boundingBox();
    assert.ok(box && box.height >= 44, `${selector}: ${box?.height}px`);
  }
  assert.equal(await phone.locator("#drop-hint").isVisible(), true, "several photos may be chosen");
  assert.equal(await phone.locator("#drop-anywhere").isVisible(), false, "nowhere to drop on a touch screen");
  const href = await phone.locator("#photos .grid a").first().getAttribute("href");
  await phone.goto(`${base}${href}`);
  const back = await phone.getByRole("link", { name: /All photos/ }).boundingBox();
  assert.ok(back.height >= 44, `All photos: ${back.height}px`);
  await phone.getByRole("button", { name: "Log out" }).click();
  for (const name of ["Log in", "Register"]) {
    const box = await phone.getByRole("link", { name, exact: true }).first().boundingBox();
    assert.ok(box.height >= 44, `${name}: ${box.height}px`);
  }
  await phone.screenshot({ path: path.join(shots, "front-phone-ux.png") });
  await phone.context().close();

  const desktop = await open("desktop");
  await logIn(desktop);
  assert.equal(await desktop.locator("#drop-anywhere").isVisible(), true, "a mouse can drop files");
  await desktop.context().close();
});

test("the new pages are valid HTML (W3C Nu validator)", async () => {
  const page = await open("desktop");
  await logIn(page);
  const href = await page.locator("#photos .grid a").first().getAttribute("href");
  const pages = {};
  for (const url of ["/photos", `${href}/delete`, href]) {
    pages[url] = await (await page.goto(`${base}${url}`)).text();
  }
  await page.goto(`${base}/register`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill("another password");
  const refused = await submit(page, () => page.getByRole("button", { name: "Register" }).click());
  pages["/register refused"] = await refused.text();
  await page.context().close();
  const dir = mkdtempSync(path.join(tmpdir(), "stratus-ux-vnu-"));
  const files = Object.values(pages).map((html, i) => {
    writeFileSync(path.join(dir, `page-${i}.html`), html);
    return path.join(dir, `page-${i}.html`);
  });
  const vnu = createRequire(import.meta.url).resolve("vnu-jar/build/dist/vnu.jar");
  try {
    execFileSync("java", ["-jar", vnu, "--errors-only", "--format", "text", ...files], { stdio: "pipe" });
  } catch (error) {
    assert.fail(`vnu found errors in ${Object.keys(pages).join(", ")}:\n${error.stderr}${error.stdout}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("axe-core finds no violations, phone and desktop", async () => {
  const results = [];
  for (const width of ["phone", "desktop"]) {
    // axe is injected by the test, which the site's CSP would (rightly) refuse.
    const page = await open(width, { bypassCSP: true });
    const check = async (label) => {
      await page.evaluate(axeSource);
      const { violations } = await page.evaluate(() => window.axe.run(document));
      results.push({ width, page: label, violations: violations.map((v) => `${v.id} (${v.nodes.length})`) });
    };
    for (const url of ["/", "/login", "/register", "/no-such-page"]) {
      await page.goto(`${base}${url}`);
      await check(url);
    }
    await page.goto(`${base}/login`);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill("wrong password!");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForLoadState();
    await check("/login refused");
    await logIn(page);
    await check("/ signed in");
    const href = await page.locator("#photos .grid a").first().getAttribute("href");
    await page.goto(`${base}${href}`);
    await check("photo page");
    await page.goto(`${base}/photos`);
    await check("/photos");
    await page.context().close();
  }
  console.log("axe-core results:");
  for (const r of results) console.log(`  ${r.width.padEnd(7)} ${r.page.padEnd(16)} ${r.violations.length} violations ${r.violations.join(", ")}`);
  assert.deepEqual(results.filter((r) => r.violations.length > 0), []);
});

test("Lighthouse scores, mobile and desktop", { timeout: 600_000 }, async () => {
  const photo = (await (await fetch(`${base}/api/photos`)).json()).photos?.[0]?.id;
  const urls = ["/", "/login", photo ? `/photos/${photo}` : null].filter(Boolean);
  assert.deepEqual(await lighthouseBelowFloor(base, urls, chromiumPath), []);
});
