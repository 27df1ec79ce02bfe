// Starts a real gateway for the browser tests: the mock provider (testkit), gateway-admin and
// gateway-proxy from target/ (BIN_DIR, default target/debug) on free loopback ports, over a fresh
// SQLite database in a temporary folder, serving the built UI (admin-ui/dist).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";

export const ROOT = resolve(import.meta.dirname, "../../..");
const BIN_DIR = resolve(ROOT, process.env.BIN_DIR ?? "target/debug");

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

function binary(name) {
  const path = join(BIN_DIR, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it first (cargo build --workspace), or set BIN_DIR`);
  }
  return path;
}

async function waitFor(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/** A running gateway; `stop()` ends every process and removes the folder. */
export async function startGateway({ revokedKeys = [] } = {}) {
  const uiDir = process.env.UI_DIST ? resolve(process.env.UI_DIST) : join(ROOT, "admin-ui/dist");
  if (!existsSync(join(uiDir, "index.html"))) throw new Error(`${uiDir} is not built: run npm run build (or make ui)`);
  const dir = mkdtempSync(join(tmpdir(), "gw-e2e-"));
  const procs = [];
  const logOf = (name) => join(dir, `${name}.log`);
  /** Starts `bin` (default: `name`), its output in `<name>.log`. */
  const run = (name, args, env, bin = name) => {
    const out = openSync(logOf(name), "a");
    // Loopback only: an outbound proxy of the machine's environment must not reach the gateway.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(https?|no|all)_proxy$/i.test(k)));
    const child = spawn(binary(bin), args, { cwd: dir, env: { ...inherited, ...env }, stdio: ["ignore", out, out] });
    procs.push({ name, child });
    return child;
  };

  // Two providers, so a group can have two upstreams that are really two servers.
  const mockUrls = [];
  for (const name of ["mock-provider", "mock-provider-2"]) {
    run(name, ["--port", "0", ...revokedKeys.flatMap((k) => ["--revoke", k])], {}, "mock-provider");
    await waitFor(name, () => {
      const m = /listening on (http:\/\/\S+)/.exec(readFileSync(logOf(name), "utf8"));
      if (m) mockUrls.push(m[1]);
      return Boolean(m);
    });
  }

  const port = await freePort();
  const adminPort = await freePort();
  const authKey = `e2e-${randomBytes(24).toString("hex")}`;
  const env = {
    AUTH_KEY: authKey,
    HOST: "127.0.0.1",
    PORT: String(port),
    ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    DATABASE_DSN: join(dir, "gateway.db"),
    UI_DIR: uiDir,
    METRICS_LISTEN: "",
    SERVER_THREADS: "2",
    RELOAD_POLL_INTERVAL_MS: "100",
    LOG_LEVEL: "info",
  };
  run("gateway-admin", [], env);
  await waitFor("gateway-admin", async () => (await fetch(`http://127.0.0.1:${adminPort}/health`)).ok);
  run("gateway-proxy", [], env);
  const base = `http://127.0.0.1:${port}`;
  await waitFor("gateway-proxy", async () => (await fetch(`${base}/health`)).ok);

  let stopped = false;
  return {
    base,
    /** The admin process itself (its `/health` gives the database's configuration revision). */
    adminBase: `http://127.0.0.1:${adminPort}`,
    authKey,
    mockUrls,
    dir,
    logs: () => procs.map((p) => `--- ${p.name}\n${readFileSync(logOf(p.name), "utf8").slice(-4000)}`).join("\n"),
    /** Calls the admin API as the UI would. */
    async api(method, path, body) {
      const res = await fetch(`${base}/api${path}`, {
        method,
        headers: { Authorization: `Bearer ${authKey}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await res.json();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json.data;
    },
    async stop({ keep = false } = {}) {
      if (stopped) return;
      stopped = true;
      for (const { child } of procs.reverse()) {
        if (child.exitCode === null) child.kill("SIGTERM");
      }
      await Promise.all(
        procs.map(
          ({ child }) =>
            new Promise((r) => {
              if (child.exitCode !== null) return r();
              const t = setTimeout(() => {
                child.kill("SIGKILL");
                r();
              }, 15_000);
              child.on("exit", () => {
                clearTimeout(t);
                r();
              });
            }),
        ),
      );
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}
