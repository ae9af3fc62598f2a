// /architecture in chromium on the fleet profile: instances of one site (MariaDB, S3 on
// SeaweedFS, Redis — the shared servers of tests/services.sh) behind a real haproxy; every
// instance appears on the page, the one that drew it highlighted, and an instance that starts
// while the page is open appears without a reload. Saves the diagram as
// target/screenshots/architecture-fleet.png; with STRATUS_UPDATE_DOCS=1 also as
// docs/architecture-fleet.png (the README's picture).
//
//   STRATUS_BIN=target/debug/stratus node --test architecture.test.mjs   (after tests/services.sh)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const shots = path.join(root, "target/screenshots");
const bin = process.env.STRATUS_BIN || path.join(root, "target/debug/stratus");
const run = `arch${process.pid}`;
const database = `stratus_browser_${run}`;
const dir = mkdtempSync(path.join(tmpdir(), "stratus-architecture-"));
const processes = [];
let browser;
let page;
let lb;
let ports;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(url) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch (_) {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

const mariadb = (sql) => execFileSync("mariadb", ["-h127.0.0.1", "-uroot", "-e", sql], { stdio: "pipe" });

function required(name) {
  assert.ok(process.env[name], `${name} is not set: run tests/services.sh first (tests/run.sh does)`);
  return process.env[name];
}

async function startInstance(id, port) {
  const child = spawn(bin, [], {
    env: {
      ...process.env,
      // Level 6 draws every box the diagram has: load balancer, CDN, cache, Stream.
      STRATUS_LEVEL: "6",
      ROCKET_PORT: String(port),
      ROCKET_INSTANCE_ID: id,
      ROCKET_DATA_DIR: path.join(dir, id),
      ROCKET_DATABASE_URL: `mysql://root@127.0.0.1:3306/${database}`,
      ROCKET_STORAGE_URL: `s3://${required("STRATUS_TEST_BUCKET")}/${run}`,
      ROCKET_KEY_PREFIX: `${run}:`,
      ROCKET_SECRET_KEY: "browser-test-secret-key-shared-by-every-instance",
      ROCKET_ACCESS_LOG: path.join(dir, `${id}.log`),
      // haproxy connects from an address of its own, as a load balancer would.
      ROCKET_TRUSTED_PROXIES: '["127.0.0.2"]',
      ROCKET_SEED_DEMO: "false",
      ROCKET_LOG_LEVEL: "off",
      STRATUS_LOG: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  processes.push(child);
  await waitFor(`http://127.0.0.1:${port}/readyz`);
}

before(async () => {
  mariadb(`CREATE DATABASE ${database} CHARACTER SET utf8mb4`);
  // Three servers behind haproxy; the third starts later, in a test, while the page is open.
  ports = [await freePort(), await freePort(), await freePort()];
  await startInstance("web-1", ports[0]);
  await startInstance("web-2", ports[1]);
  const lbPort = await freePort();
  writeFileSync(
    path.join(dir, "haproxy.cfg"),
    [
      "defaults",
      "    mode http",
      "    timeout connect 2s",
      "    timeout client 30s",
      "    timeout server 30s",
      // Until its first health check marks web-3 down, a request sent there is sent elsewhere.
      "    retries 2",
      "    option redispatch",
      "    retry-on conn-failure empty-response",
      "frontend site",
      `    bind 127.0.0.1:${lbPort}`,
      "    option forwardfor",
      "    default_backend web",
      "backend web",
      "    source 127.0.0.2",
      "    balance roundrobin",
      "    option httpchk GET /readyz",
      "    default-server inter 500ms fall 1 rise 1",
      ...ports.map((port, i) => `    server web-${i + 1} 127.0.0.1:${port} check`),
      "",
    ].join("\n"),
  );
  processes.push(spawn("haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], { stdio: ["ignore", "ignore", "inherit"] }));
  lb = `http://127.0.0.1:${lbPort}`;
  await waitFor(`${lb}/healthz`);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on("pageerror", (error) => assert.fail(`script error on ${page.url()}: ${error.message}`));
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  for (const child of processes) child.kill("SIGKILL");
  try {
    mariadb(`DROP DATABASE IF EXISTS ${database}`);
    execFileSync("redis-cli", ["del", `${run}:access-log`], { stdio: "pipe" });
  } catch (_) {
    /* the server went away: nothing to drop */
  }
  rmSync(dir, { recursive: true, force: true });
});

const rosterIds = () => page.locator("#instances tbody tr td:first-child").evaluateAll(
  (cells) => cells.map((c) => c.textContent.trim().split(/\s/)[0]).sort());

test("every fleet instance appears on /architecture, behind the load balancer", async () => {
  await page.goto(`${lb}/architecture`);
  // The second instance may not have beaten yet when the first draws the page: the page's
  // own refresh (every 3 s, no reload) brings it.
  await page.waitForFunction(() => document.querySelectorAll("#instances tbody tr").length === 2, null, { timeout: 15000 });
  assert.deepEqual(await rosterIds(), ["web-1", "web-2"]);
  const svg = page.locator("#architecture svg");
  const drawn = await svg.locator("g.box text.head").allTextContents();
  assert.ok(drawn.some((t) => t.startsWith("web-1")) && drawn.some((t) => t.startsWith("web-2")), drawn.join(" | "));
  assert.ok(drawn.includes("Load balancer"), "the request came through haproxy, a trusted proxy");
  assert.equal(await svg.locator("g.box.this").count(), 1, "one instance drew the page");
  assert.match(await page.locator("#instances tr.this").innerText(), /drew this page/);
  assert.match(await svg.locator("desc").textContent(), /2 instances .* behind a load balancer/);
});

test("an instance that starts while the page is open appears without a reload", async () => {
  await page.goto(`${lb}/architecture`);
  await page.waitForFunction(() => document.querySelectorAll("#instances tbody tr").length === 2, null, { timeout: 15000 });
  const navigations = [];
  page.on("framenavigated", (frame) => frame === page.mainFrame() && navigations.push(frame.url()));
  await startInstance("web-3", ports[2]);
  await page.waitForFunction(() => document.querySelectorAll("#instances tbody tr").length === 3, null, { timeout: 15000 });
  assert.deepEqual(await rosterIds(), ["web-1", "web-2", "web-3"]);
  assert.deepEqual(navigations, [], "the script swapped the diagram in place");
  assert.match(await page.locator("#architecture-live").textContent(), /live: updated/);
  // Let a few requests make figures for the picture.
  for (let i = 0; i < 20; i++) await fetch(`${lb}/`);
  await page.waitForTimeout(3500);
  await page.locator("#architecture svg").screenshot({ path: path.join(shots, "architecture-fleet.png") });
  if (process.env.STRATUS_UPDATE_DOCS === "1") {
    copyFileSync(path.join(shots, "architecture-fleet.png"), path.join(root, "docs/architecture-fleet.png"));
  }
});

test("on the single profile, one instance and no load balancer", async () => {
  const port = await freePort();
  const data = path.join(dir, "single");
  const env = { ...process.env, ROCKET_PORT: String(port), ROCKET_DATA_DIR: data, ROCKET_SEED_DEMO: "false",
    ROCKET_LOG_LEVEL: "off", STRATUS_LOG: "warn" };
  for (const key of Object.keys(env)) if (/^ROCKET_(DATABASE|STORAGE|CACHE|SESSION)_URL$/.test(key)) delete env[key];
  processes.push(spawn(bin, ["--level", "0"], { env, stdio: ["ignore", "ignore", "inherit"] }));
  await waitFor(`http://127.0.0.1:${port}/readyz`);
  await page.goto(`http://127.0.0.1:${port}/architecture`);
  assert.equal(await page.locator("#instances tbody tr").count(), 1);
  const drawn = await page.locator("#architecture svg g.box text.head").allTextContents();
  assert.ok(!drawn.includes("Load balancer"), drawn.join(" | "));
  assert.match(await page.locator("#architecture svg title").textContent(), /Architecture diagram/);
  assert.match(await page.locator("#architecture svg desc").textContent(), /^1 instance .*Database: SQLite file/);
  assert.match(await page.locator(".architecture .meta").first().innerText(), /Profile single · tutorial level 0/);
});
