// The admin UI end to end, in Debian's Chromium (playwright-core) against a real gateway: each
// step does what a person would and asserts what they would see. Screenshots of every screen at
// 1280 px and 375 px go to target/ui-screenshots/ for review.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, startGateway } from "./gateway.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(ROOT, "target/ui-screenshots");
const GROUP = "e2e-openai";
const AGGREGATE = "e2e-all";
const LIMITED = "e2e-limited";
const PROXY_KEY = "sk-e2e-proxy-key-0001";
const GOOD_KEYS = ["sk-e2e-good-aaaaaaaaaaaaaaaa01", "sk-e2e-good-aaaaaaaaaaaaaaaa02", "sk-e2e-good-aaaaaaaaaaaaaaaa03"];
const REVOKED = "sk-e2e-revoked-bbbbbbbbbbbbbb99";
const WAIT = 15_000;

let gw;
let browser;
let page;
const pageErrors = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  for (const old of readdirSync(SHOTS).filter((f) => f.startsWith("failed-"))) rmSync(join(SHOTS, old));
  gw = await startGateway({ revokedKeys: [REVOKED] });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US", colorScheme: "light" });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  await gw?.stop({ keep: Boolean(process.env.KEEP_E2E) });
});

/** Fails with the gateway's logs and a screenshot, so a red run says what the page showed. */
async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    const shot = join(SHOTS, `failed-${name.replace(/\W+/g, "-")}.png`);
    await page?.screenshot({ path: shot, fullPage: true }).catch(() => {});
    e.message += `\n(screenshot: ${shot})\n${gw?.logs() ?? ""}`;
    throw e;
  }
}

/** Waits until the element's visible text matches. */
async function seeText(locator, pattern, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let text = "";
  while (Date.now() < deadline) {
    text = (await locator.first().innerText().catch(() => "")) ?? "";
    if (pattern instanceof RegExp ? pattern.test(text) : text.includes(pattern)) return text;
    await page.waitForTimeout(100);
  }
  assert.fail(`expected ${pattern} in ${JSON.stringify(text.slice(0, 600))}`);
}

/** Picks `label` in a Naive UI select. */
async function choose(testid, label) {
  await page.getByTestId(testid).click();
  await page.locator(".n-base-select-option", { hasText: label }).first().click();
}

/** Picks `label` in a filterable Naive UI select by typing it (a long list renders only the options in view). */
async function chooseTyped(testid, label) {
  await page.getByTestId(testid).click();
  await page.keyboard.type(label);
  await page.locator(".n-base-select-option", { hasText: label }).first().click();
}

async function shoot(name) {
  await page.waitForTimeout(300);
  const width = page.viewportSize().width;
  await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
}

/** One chat completion through the proxy to `group`, as a client sends it. */
function ask(group, content) {
  return fetch(`${gw.base}/proxy/${group}/v1/chat/completions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${PROXY_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] }),
  });
}

/**
 * An outbound proxy for the gateway, for `user:password` only (407 otherwise): opens CONNECT
 * tunnels (https:// upstreams) and forwards absolute-form requests (the gateway sends those for
 * plain http:// upstreams, as curl does), and records every target asked for, with the
 * Proxy-Authorization it came with.
 */
async function tunnelProxy(user, password) {
  const want = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const tunnels = [];
  const sockets = new Set();
  const track = (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server = createServer((req, res) => {
    const auth = req.headers["proxy-authorization"] ?? "";
    let url;
    try {
      url = new URL(req.url);
    } catch {
      return res.writeHead(400).end();
    }
    tunnels.push({ target: url.host, auth });
    if (auth !== want) return res.writeHead(407).end();
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    const upstream = httpRequest(
      { host: url.hostname, port: url.port, method: req.method, path: `${url.pathname}${url.search}`, headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("connection", track);
  server.on("connect", (req, client, head) => {
    const auth = req.headers["proxy-authorization"] ?? "";
    tunnels.push({ target: req.url, auth });
    if (auth !== want) return client.end("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
    const { hostname, port } = new URL(`http://${req.url}`);
    const upstream = connect(Number(port), hostname, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    tunnels,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function chat(n) {
  const statuses = [];
  for (let i = 0; i < n; i++) {
    const res = await ask(GROUP, `hello ${i}`);
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

/** Sends one request at a time until the proxy answers `want` (settings and switches reach it by a reload poll). */
async function proxyAnswers(want) {
  const deadline = Date.now() + WAIT;
  let got = [];
  while (Date.now() < deadline) {
    got = await chat(1);
    if (got[0] === want) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.fail(`the proxy answered ${got[0]}, expected ${want}`);
}

/** Waits until the proxy serves the configuration last saved: its routing revision reaches the database's. */
async function proxyServesLatest() {
  const { config_revision: want } = await (await fetch(`${gw.adminBase}/health`)).json();
  const deadline = Date.now() + WAIT;
  let got;
  while (Date.now() < deadline) {
    got = (await (await fetch(`${gw.base}/health`)).json()).routing_revision;
    if (got >= want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`the proxy serves revision ${got}, the database is at ${want}`);
}

/** Opens a Naive UI collapse item unless it is open already. */
async function expand(testid) {
  const item = page.getByTestId(testid);
  if (!(await item.getAttribute("class")).includes("n-collapse-item--active")) await item.locator(".n-collapse-item__header-main").click();
  await page.locator(`[data-testid="${testid}"].n-collapse-item--active`).waitFor();
}

/** Waits for a toast containing `text`. */
async function seeToast(text) {
  await page.locator(".n-message", { hasText: text }).first().waitFor();
}

test("log in", () =>
  step("login", async () => {
    await page.goto(`${gw.base}/keys`);
    await page.waitForURL(/\/login/);
    await shoot("login");
    await page.getByTestId("login-key").locator("input").fill("not-the-admin-key");
    await page.getByTestId("login-submit").click();
    await seeText(page.getByTestId("login-error"), /fail/i);
    assert.match(page.url(), /\/login/);
    await page.getByTestId("login-key").locator("input").fill(gw.authKey);
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/keys$/);
    await page.getByTestId("nav-dashboard").waitFor();
  }));

test("create a group with two upstreams", () =>
  step("create-group", async () => {
    await page.getByTestId("create-group").click();
    const form = page.getByTestId("group-form");
    await form.waitFor();
    await page.getByTestId("group-name").locator("input").fill(GROUP);
    await page.getByTestId("group-display-name").locator("input").fill("E2E OpenAI");
    await page.getByTestId("upstream-url-0").locator("input").fill(gw.mockUrls[0]);
    await page.getByTestId("add-upstream").click();
    await page.getByTestId("upstream-url-1").locator("input").fill(gw.mockUrls[1]);
    const proxyKeys = page.getByTestId("group-proxy-keys").locator("textarea");
    await proxyKeys.fill(PROXY_KEY);
    await page.getByTestId("generate-proxy-key").click();
    const keys = await proxyKeys.inputValue();
    assert.match(keys, new RegExp(`^${PROXY_KEY},sk-[A-Za-z0-9_-]{48}$`), keys);
    await shoot("group-form");
    await page.getByTestId("group-form-submit").click();
    await form.waitFor({ state: "hidden" });
    await page.getByTestId(`group-item-${GROUP}`).waitFor();
    const info = page.getByTestId("group-info");
    await seeText(info, "E2E OpenAI");
    await seeText(info, `/proxy/${GROUP}`);
    const groups = await gw.api("GET", "/groups");
    const saved = groups.find((g) => g.name === GROUP);
    assert.deepEqual(saved.upstreams.map((u) => u.url), gw.mockUrls);
  }));

test("import keys from a .txt file and watch the task finish", () =>
  step("import-keys", async () => {
    const file = join(gw.dir, "keys.txt");
    writeFileSync(file, [...GOOD_KEYS, REVOKED, GOOD_KEYS[0]].join("\n") + "\n");
    await page.getByTestId("add-keys").click();
    await page.getByTestId("add-keys-file-mode").click();
    await page.getByTestId("add-keys-file").setInputFiles(file);
    await page.getByTestId("add-keys-submit").click();
    await seeText(page.getByTestId("task-result"), /added 4 keys, ignored 1/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="key-card"]').length === 4);
    assert.equal(await page.locator('[data-testid="key-card"][data-status="active"]').count(), 4);
    await shoot("keys");
  }));

test("change settings", () =>
  step("settings", async () => {
    await page.getByTestId("nav-settings").click();
    await page.getByTestId("settings-category").first().waitFor();
    const threshold = page.getByTestId("setting-blacklist_threshold").locator("input");
    const idle = page.getByTestId("setting-max_idle_conns").locator("input");
    await idle.fill("0");
    await page.getByTestId("settings-save").click();
    // max_idle_conns has a minimum of 1: refused before anything is sent
    await seeText(page.getByTestId("setting-max_idle_conns"), /at least 1/);
    let saved = await gw.api("GET", "/settings");
    const value = (key) => saved.flatMap((c) => c.settings).find((s) => s.key === key).value;
    assert.equal(value("max_idle_conns"), 100);
    await idle.fill("100");
    await threshold.fill("1");
    await page.getByTestId("setting-request_log_write_interval_minutes").locator("input").fill("0");
    await page.getByTestId("settings-save").click();
    await page.waitForFunction(() => document.body.innerText.includes("updated"));
    saved = await gw.api("GET", "/settings");
    assert.equal(value("blacklist_threshold"), 1);
    assert.equal(value("request_log_write_interval_minutes"), 0);
    await page.reload();
    assert.equal(await page.getByTestId("setting-blacklist_threshold").locator("input").inputValue(), "1");
    await shoot("settings");
  }));

test("requests through the proxy show in logs, dashboard and usage", () =>
  step("traffic", async () => {
    // Settings reach the proxy within a reload poll; the revoked key is blacklisted on its first 401.
    await new Promise((r) => setTimeout(r, 1500));
    const statuses = await chat(8);
    assert.deepEqual(statuses, Array(8).fill(200));

    await page.getByTestId("nav-logs").click();
    const table = page.getByTestId("log-table");
    await seeText(table, "gpt-4o-mini");
    await seeText(table, GROUP);
    await page.getByTestId("log-filter-group").locator("input").fill(GROUP);
    await page.getByTestId("log-search").click();
    await seeText(table, "401");
    await shoot("logs");
    await page.getByTestId("log-detail").first().click();
    const detail = page.getByTestId("log-detail-modal");
    await seeText(detail, "/v1/chat/completions");
    await shoot("log-detail");
    await page.keyboard.press("Escape");
    await detail.waitFor({ state: "hidden" });

    await page.getByTestId("nav-dashboard").click();
    await seeText(page.getByTestId("stat-request-count"), /\b8\b/);
    await seeText(page.getByTestId("usage-table"), GROUP);
    await seeText(page.getByTestId("usage-table"), "gpt-4o-mini");
    const health = page.getByTestId("upstream-health");
    await seeText(health, gw.mockUrls[0]);
    await seeText(health, gw.mockUrls[1]);
    await seeText(page.getByTestId("key-states"), /Invalid\D*1/);
    await page.getByTestId("request-chart").locator("canvas").waitFor();
    await shoot("dashboard");
  }));

test("a key the provider revoked shows as invalid", () =>
  step("invalid-key", async () => {
    await page.getByTestId("nav-keys").click();
    await page.getByTestId(`group-item-${GROUP}`).click();
    await page.locator('[data-testid="key-card"][data-status="invalid"]').waitFor();
    assert.equal(await page.locator('[data-testid="key-card"][data-status="invalid"]').count(), 1);
    assert.equal(await page.locator('[data-testid="key-card"][data-status="active"]').count(), 3);
    await choose("key-status-filter", "Invalid");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="key-card"]').length === 1);
    const card = page.getByTestId("key-card");
    await seeText(card.getByTestId("key-status"), "Invalid");
    const field = card.getByTestId("key-value").locator("input");
    const masked = await field.inputValue();
    assert.ok(masked.endsWith(REVOKED.slice(-4)) && !masked.includes(REVOKED), `masked: ${masked}`);
    await card.getByTestId("key-toggle").click();
    assert.equal(await field.inputValue(), REVOKED);
    const keys = await gw.api("GET", `/keys?group_id=${(await gw.api("GET", "/groups"))[0].id}&status=invalid`);
    assert.deepEqual(keys.items.map((k) => k.key_value), [REVOKED]);
  }));

test("disable a key by hand, then switch the group off and on", () =>
  step("manual-control", async () => {
    await choose("key-status-filter", "All statuses");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="key-card"]').length === 4);
    const id = await page.locator('[data-testid="key-card"][data-status="active"]').first().getAttribute("data-key-id");
    const card = page.locator(`[data-testid="key-card"][data-key-id="${id}"]`);
    await card.getByTestId("key-disable").click();
    await seeToast("Keys disabled: 1");
    await page.locator(`[data-testid="key-card"][data-key-id="${id}"][data-status="disabled"]`).waitFor();
    await seeText(card.getByTestId("key-status"), "Disabled");
    await seeText(page.getByTestId("group-key-stats"), /Disabled 1/);
    const groupId = (await gw.api("GET", "/groups")).find((g) => g.name === GROUP).id;
    const disabled = await gw.api("GET", `/keys?group_id=${groupId}&status=disabled`);
    assert.deepEqual(disabled.items.map((k) => String(k.id)), [id]);
    await choose("key-status-filter", "Disabled");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="key-card"]').length === 1);
    await shoot("key-disabled");
    await card.getByTestId("key-enable").click();
    await seeToast("Keys enabled: 1");
    await page.getByTestId("keys-empty").waitFor();
    await choose("key-status-filter", "All statuses");
    await page.locator(`[data-testid="key-card"][data-key-id="${id}"][data-status="active"]`).waitFor();
    assert.equal((await gw.api("GET", `/keys?group_id=${groupId}&status=disabled`)).items.length, 0);

    // The whole group: the info card asks first, saying what switching off does.
    await page.getByTestId("group-toggle-enabled").click();
    const dialog = page.locator(".n-dialog");
    await seeText(dialog, "503");
    await seeText(dialog, "aggregate groups skip it");
    await shoot("group-disable-confirm");
    await dialog.getByRole("button", { name: "Disable" }).click();
    await seeToast(`Group ${GROUP} is disabled`);
    const item = page.getByTestId(`group-item-${GROUP}`);
    await page.locator(`[data-testid="group-item-${GROUP}"][data-enabled="false"]`).waitFor();
    await seeText(item.getByTestId("group-disabled-tag"), "Disabled");
    await seeText(page.getByTestId("group-disabled-alert"), "503");
    assert.equal((await gw.api("GET", "/groups")).find((g) => g.name === GROUP).enabled, false);
    await proxyAnswers(503);
    await shoot("group-disabled");

    await page.getByTestId("group-toggle-enabled").click();
    await dialog.getByRole("button", { name: "Enable" }).click();
    await page.locator(`[data-testid="group-item-${GROUP}"][data-enabled="true"]`).waitFor();
    await page.getByTestId("group-disabled-alert").waitFor({ state: "detached" });
    assert.equal(await item.getByTestId("group-disabled-tag").count(), 0);
    await proxyAnswers(200);
  }));

test("an aggregate group's routing between sub-groups", () =>
  step("aggregate-routing", async () => {
    await page.getByTestId("create-aggregate-group").click();
    const form = page.getByTestId("group-form");
    await form.waitFor();
    await page.getByTestId("group-name").locator("input").fill(AGGREGATE);
    await page.getByTestId("group-proxy-keys").locator("textarea").fill(PROXY_KEY);
    // Until changed, the switches show the system settings and nothing is written.
    const on = async (id) => (await page.getByTestId(`routing-${id}-switch`).getAttribute("class")).includes("n-switch--active");
    assert.equal(await on("failover"), true);
    assert.equal(await on("model-aware"), false);
    await seeText(page.getByTestId("routing-failover-source"), "Follows the system setting (On)");
    await seeText(page.getByTestId("routing-model-aware-source"), "Follows the system setting (Off)");
    await page.getByTestId("group-form-submit").click();
    await form.waitFor({ state: "hidden" });
    await page.getByTestId(`group-item-${AGGREGATE}`).waitFor();
    const find = async () => (await gw.api("GET", "/groups")).find((g) => g.name === AGGREGATE);
    assert.deepEqual((await find()).config, {});

    await page.getByTestId("add-sub-group").click();
    await choose("sub-group-select-0", "E2E OpenAI");
    await page.getByTestId("add-sub-groups-submit").click();
    await page.getByTestId("add-sub-groups-modal").waitFor({ state: "hidden" });
    await seeText(page.getByTestId("group-member-stats"), /Active 1/);

    // Model-aware choice on, failover off: saved into the aggregate's config.
    await page.getByTestId("group-edit").click();
    await form.waitFor();
    await page.getByTestId("routing-model-aware-switch").click();
    await page.getByTestId("routing-failover-switch").click();
    assert.equal(await on("model-aware"), true);
    assert.equal(await on("failover"), false);
    await seeText(page.getByTestId("routing-failover-source"), "Set for this group; system setting: On");
    await shoot("aggregate-routing-form");
    await page.getByTestId("group-form-submit").click();
    await form.waitFor({ state: "hidden" });
    const deadline = Date.now() + WAIT;
    while (Object.keys((await find()).config).length < 2 && Date.now() < deadline) await page.waitForTimeout(100);
    assert.deepEqual((await find()).config, { sub_group_failover: false, model_aware_routing: true });

    // Reopened, the form shows them kept as the group's own settings.
    await page.getByTestId("group-edit").click();
    await form.waitFor();
    assert.equal(await on("model-aware"), true);
    assert.equal(await on("failover"), false);
    assert.equal(await page.getByTestId("routing-failover").getAttribute("data-overridden"), "true");
    assert.equal(await page.getByTestId("routing-model-aware").getAttribute("data-overridden"), "true");
    await form.getByRole("button", { name: "Cancel" }).click();
    await form.waitFor({ state: "hidden" });

    // The info card's details say what applies.
    await page.getByTestId("group-details").locator(".n-collapse-item__header-main").click();
    await seeText(page.getByTestId("group-info-failover"), "Off (set for this group)");
    await seeText(page.getByTestId("group-info-model-aware"), "On (set for this group)");
    await shoot("aggregate-routing");

    // The proxy serves the aggregate with these settings (the member has no rule for the model and is not strict).
    const until = Date.now() + WAIT;
    let status = 0;
    while (Date.now() < until) {
      const res = await fetch(`${gw.base}/proxy/${AGGREGATE}/v1/chat/completions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${PROXY_KEY}`, "Content-Type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello aggregate" }] }),
      });
      await res.arrayBuffer();
      status = res.status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.equal(status, 200, "the aggregate's proxy answer");
  }));

test("rate limits: a group's key_rpm_limit override refuses the request over the limit", () =>
  step("rate-limit", async () => {
    // A group of its own with one key: a key limit refuses a request only once every key is at it.
    await page.getByTestId("create-group").click();
    const form = page.getByTestId("group-form");
    await form.waitFor();
    await page.getByTestId("group-name").locator("input").fill(LIMITED);
    await page.getByTestId("group-display-name").locator("input").fill("E2E Limited");
    await page.getByTestId("upstream-url-0").locator("input").fill(gw.mockUrls[0]);
    await page.getByTestId("group-proxy-keys").locator("textarea").fill(PROXY_KEY);
    await page.getByTestId("group-form-submit").click();
    await form.waitFor({ state: "hidden" });
    await page.getByTestId(`group-item-${LIMITED}`).waitFor();
    await seeText(page.getByTestId("group-info-title"), "E2E Limited");
    await page.getByTestId("add-keys").click();
    await page.getByTestId("add-keys-text").locator("textarea").fill("sk-e2e-limited-cccccccccccccc01");
    await page.getByTestId("add-keys-submit").click();
    await page.locator('[data-testid="key-card"][data-status="active"]').waitFor();
    assert.equal(await page.getByTestId("key-card").count(), 1);

    // The overrides, picked by their English names; a picked setting starts at the system value.
    await page.getByTestId("group-edit").click();
    await form.waitFor();
    await expand("group-advanced");
    await page.getByTestId("add-config").click();
    await chooseTyped("config-key-0", "Key requests per minute");
    const rpm = page.getByTestId("config-value-0").locator("input");
    assert.equal(await rpm.inputValue(), "0");
    await seeText(form, "System value: 0");
    await rpm.fill("1");
    await page.getByTestId("add-config").click();
    await chooseTyped("config-key-1", "Rate limit wait (s)");
    const wait = page.getByTestId("config-value-1").locator("input");
    assert.equal(await wait.inputValue(), "5");
    await wait.fill("0");
    await shoot("rate-limit-form");
    await page.getByTestId("group-form-submit").click();
    await form.waitFor({ state: "hidden" });
    const find = async () => (await gw.api("GET", "/groups")).find((g) => g.name === LIMITED);
    const deadline = Date.now() + WAIT;
    while (Object.keys((await find()).config).length < 2 && Date.now() < deadline) await page.waitForTimeout(100);
    assert.deepEqual((await find()).config, { key_rpm_limit: 1, rate_limit_max_wait_seconds: 0 });

    // The info card's details list the group's own settings.
    await expand("group-details");
    const details = page.getByTestId("group-details");
    await seeText(details, /Key requests per minute\s*1\b/);
    await seeText(details, /Rate limit wait \(s\)\s*0\b/);
    await shoot("rate-limit-details");

    // One request a minute for the only key: the first passes, the next is refused at once.
    await proxyServesLatest();
    const first = await ask(LIMITED, "first");
    assert.equal(first.status, 200, await first.text());
    const second = await ask(LIMITED, "second");
    const body = await second.json();
    assert.equal(second.status, 429, JSON.stringify(body));
    const retryAfter = Number(second.headers.get("retry-after"));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `retry-after: ${second.headers.get("retry-after")}`);
    assert.equal(body.error?.code, "rate_limited", JSON.stringify(body));
    assert.match(body.error.message, /key_rpm_limit/);

    // Without the overrides the group follows the system settings (no limit) again.
    await page.getByTestId("group-edit").click();
    await form.waitFor();
    await expand("group-advanced");
    for (let i = 0; i < 2; i++) await form.locator(".config-row").first().getByRole("button", { name: "Remove this row" }).click();
    assert.equal(await form.locator(".config-row").count(), 0);
    await page.getByTestId("group-form-submit").click();
    await form.waitFor({ state: "hidden" });
    const until = Date.now() + WAIT;
    while (Object.keys((await find()).config).length > 0 && Date.now() < until) await page.waitForTimeout(100);
    assert.deepEqual((await find()).config, {});
    await seeText(details, "None: system settings apply");
    await proxyServesLatest();
    const third = await ask(LIMITED, "third");
    assert.equal(third.status, 200, await third.text());

    // The system settings themselves are in Request Settings, off by default.
    await page.getByTestId("nav-settings").click();
    const field = page.getByTestId("setting-key_rpm_limit");
    await seeText(field, "Key requests per minute");
    await seeText(page.getByTestId("settings-category").filter({ has: field }), "Request Settings");
    assert.equal(await field.locator("input").inputValue(), "0");
    assert.equal(await page.getByTestId("setting-rate_limit_max_wait_seconds").locator("input").inputValue(), "5");
  }));

test("outbound proxy: the proxy URL's password is masked and a bad URL is refused", () =>
  step("outbound-proxy", async () => {
    const secret = "e2e-Secret-99";
    const tunnel = await tunnelProxy("e2e-user", secret);
    try {
      const masked = `http://e2e-user:****@127.0.0.1:${tunnel.port}`;
      const proxyUrl = async () => (await gw.api("GET", "/settings")).flatMap((c) => c.settings).find((s) => s.key === "proxy_url").value;
      await page.getByTestId("nav-settings").click();
      const field = page.getByTestId("setting-proxy_url");
      await seeText(field, "Outbound proxy URL");
      await seeText(page.getByTestId("settings-category").filter({ has: field }), "Request Settings");
      const input = field.locator("input");
      assert.equal(await input.inputValue(), "");

      // A scheme the gateway cannot use: the server refuses it, the user sees why, nothing is stored.
      await input.fill("ftp://someone:pw@127.0.0.1:21");
      await page.getByTestId("settings-save").click();
      await seeToast("unsupported scheme");
      await seeText(field, /unsupported scheme 'ftp'/);
      await shoot("proxy-url-refused");
      assert.equal(await proxyUrl(), "");

      // With credentials: shown from then on with the password masked, on no page in clear.
      await input.fill(`http://e2e-user:${secret}@127.0.0.1:${tunnel.port}`);
      await page.getByTestId("settings-save").click();
      await seeToast("updated");
      assert.equal(await proxyUrl(), masked);
      await page.getByTestId("nav-dashboard").click();
      await page.getByTestId("stat-key-count").waitFor();
      await page.getByTestId("nav-settings").click();
      await field.waitFor();
      assert.equal(await input.inputValue(), masked);
      await page.reload();
      await field.waitFor();
      assert.equal(await input.inputValue(), masked);
      const shown = await page.evaluate(() => [document.body.innerText, ...[...document.querySelectorAll("input, textarea")].map((e) => e.value)].join("\n"));
      assert.ok(!shown.includes(secret), "the proxy password is on the page");
      await shoot("proxy-url-masked");

      // Saved again with the masked URL left as shown (another setting changed), and the masked URL
      // sent back as a client would: the stored password is kept, the proxy still lets the gateway in.
      const timeout = page.getByTestId("setting-connect_timeout").locator("input");
      assert.equal(await timeout.inputValue(), "15");
      await timeout.fill("16");
      await page.getByTestId("settings-save").click();
      await seeToast("updated");
      const saved = (await gw.api("GET", "/settings")).flatMap((c) => c.settings);
      assert.equal(saved.find((s) => s.key === "connect_timeout").value, 16);
      assert.equal(saved.find((s) => s.key === "proxy_url").value, masked);
      assert.equal(await input.inputValue(), masked);
      await gw.api("PUT", "/settings", { proxy_url: masked });
      assert.equal(await proxyUrl(), masked);
      await proxyServesLatest();
      const through = await ask(GROUP, "through the outbound proxy");
      assert.equal(through.status, 200, await through.text());
      assert.ok(tunnel.tunnels.length > 0, "nothing went through the outbound proxy");
      for (const { target, auth } of tunnel.tunnels) {
        assert.ok(gw.mockUrls.includes(`http://${target}`), `tunnel to ${target}`);
        assert.equal(Buffer.from(auth.replace(/^Basic /, ""), "base64").toString(), `e2e-user:${secret}`);
      }

      // Cleared (and the timeout back), so the steps after this one reach the providers directly.
      await page.locator(".n-message", { hasText: "updated" }).waitFor({ state: "detached" });
      await input.fill("");
      await timeout.fill("15");
      await page.getByTestId("settings-save").click();
      await seeToast("updated");
      assert.equal(await proxyUrl(), "");
      await page.reload();
      await field.waitFor();
      assert.equal(await input.inputValue(), "");
      assert.equal(await timeout.inputValue(), "15");
      await proxyServesLatest();
      const tunnels = tunnel.tunnels.length;
      const direct = await ask(GROUP, "without a proxy");
      assert.equal(direct.status, 200, await direct.text());
      assert.equal(tunnel.tunnels.length, tunnels, "a tunnel after the proxy URL was cleared");
    } finally {
      tunnel.close();
    }
  }));

test("switch language and theme", () =>
  step("language-theme", async () => {
    await page.getByTestId("nav-dashboard").click();
    await choose("language-select", "中文");
    await seeText(page.getByTestId("nav-dashboard"), "仪表盘");
    await seeText(page.getByTestId("nav-keys"), "密钥");
    // Texts the API localises follow too: the settings categories come back in Chinese.
    await page.getByTestId("nav-settings").click();
    await seeText(page.getByTestId("settings-category").first(), "基础设置");
    await choose("language-select", "日本語");
    await seeText(page.getByTestId("settings-category").first(), "基本設定");
    await page.getByTestId("nav-dashboard").click();
    await seeText(page.getByTestId("nav-dashboard"), "ダッシュボード");
    await page.reload();
    await seeText(page.getByTestId("nav-dashboard"), "ダッシュボード");
    await choose("language-select", "English");
    await seeText(page.getByTestId("nav-dashboard"), "Dashboard");

    const toggle = page.getByTestId("theme-toggle");
    assert.equal(await toggle.getAttribute("data-theme-mode"), "auto");
    await toggle.click();
    assert.equal(await toggle.getAttribute("data-theme-mode"), "light");
    await toggle.click();
    assert.equal(await toggle.getAttribute("data-theme-mode"), "dark");
    assert.ok(await page.evaluate(() => document.documentElement.classList.contains("dark")));
    // The page fades to the dark background (a short CSS transition).
    await page.waitForFunction(() => {
      const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
      return r + g + b < 100;
    });
    await shoot("dashboard-dark");
    await page.reload();
    assert.equal(await page.getByTestId("theme-toggle").getAttribute("data-theme-mode"), "dark");
    await page.getByTestId("theme-toggle").click();
    assert.ok(!(await page.evaluate(() => document.documentElement.classList.contains("dark"))));
  }));

test("every screen at 1280 px and 375 px", () =>
  step("screens", async () => {
    for (const width of [1280, 375]) {
      await page.setViewportSize({ width, height: width > 800 ? 900 : 812 });
      for (const [name, path, ready] of [
        ["dashboard", "/", "stat-key-count"],
        ["keys", `/keys`, "group-info"],
        ["logs", "/logs", "log-table"],
        ["settings", "/settings", "settings-category"],
      ]) {
        await page.goto(`${gw.base}${path}`);
        await page.getByTestId(ready).first().waitFor();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `${name} at ${width} px scrolls sideways by ${overflow} px`);
        await shoot(`screen-${name}`);
      }
    }
    await page.setViewportSize({ width: 375, height: 812 });
    await page.getByTestId("menu-toggle").click();
    await page.getByTestId("drawer-nav-logs").click();
    await page.waitForURL(/\/logs$/);
    await page.getByTestId("menu-toggle").click();
    await page.getByTestId("drawer-logout").click();
    await page.waitForURL(/\/login/);
    await shoot("login");
  }));

test("no script errors on any page", () => {
  assert.deepEqual(pageErrors, []);
});

test("a 401 anywhere returns to login", () =>
  step("unauthorized", async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.evaluate(() => localStorage.setItem("authKey", "a-key-that-is-wrong"));
    await page.goto(`${gw.base}/logs`);
    await page.waitForURL(/\/login/);
    assert.equal(await page.evaluate(() => localStorage.getItem("authKey")), null);
  }));
