import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { defineComponent, h } from "vue";
import { fakeApi, mountScreen, settle } from "./screen-helpers";
import DashboardView from "@/views/DashboardView.vue";
import StatCards from "@/components/dashboard/StatCards.vue";
import KeyStates from "@/components/dashboard/KeyStates.vue";
import SecurityAlert from "@/components/dashboard/SecurityAlert.vue";
import EncryptionAlert from "@/components/dashboard/EncryptionAlert.vue";
import {
  healthOf, keyStatesOf, statBar, tokensByModel, trendText, type DashboardStats, type UpstreamHealth, type UsageReport,
} from "@/api/dashboard";
import { SECURITY_DISMISSED } from "@/components/dashboard/alerts";

const STATS: DashboardStats = {
  key_count: { value: 3, sub_value: 1, sub_value_tip: "Invalid Keys", trend: 0, trend_is_growth: true },
  rpm: { value: 0.8, trend: 100, trend_is_growth: true },
  request_count: { value: 1234, trend: -12.5, trend_is_growth: false },
  error_rate: { value: 12.5, trend: -2.25, trend_is_growth: true },
  security_warnings: [
    { type: "auth_key", message: "AUTH_KEY is too short (8 characters)", severity: "high", suggestion: "use at least 32 random characters" },
    { type: "proxy_key", message: "Global Proxy Key #1 is short (20 characters)", severity: "medium", suggestion: "use at least 32 random characters" },
  ],
  key_states: { active: 3, cooling: 2, invalid: 1, disabled: 0 },
};

const USAGE: UsageReport = {
  period: "24h",
  from: "2026-11-29T11:00:00.000Z",
  items: [
    { group_id: 1, group_name: "openai", model: "gpt-4o-mini", requests: 8, input_tokens: 72, output_tokens: 40, total_tokens: 112 },
    { group_id: 2, group_name: "backup", model: "gpt-4o", requests: 2, input_tokens: 1000, output_tokens: 500, total_tokens: 1500 },
  ],
  totals: { requests: 10, input_tokens: 1072, output_tokens: 540, total_tokens: 1612 },
};

const up = (over: Partial<UpstreamHealth>): UpstreamHealth => ({
  group_id: 1, group_name: "openai", upstream: "http://127.0.0.1:9001", weight: 1, requests: 10, failures: 0,
  failure_rate: 0, avg_duration_ms: 120, last_status_code: 200, last_error: "", last_seen_at: "2026-11-30T10:00:00.000Z", ...over,
});

const UPSTREAMS = [
  up({}),
  up({ upstream: "http://127.0.0.1:9002", failures: 2, failure_rate: 0.2, last_status_code: 502, last_error: "bad gateway" }),
  up({ upstream: "http://127.0.0.1:9003", failures: 9, failure_rate: 0.9, last_status_code: 500 }),
  up({ upstream: "http://127.0.0.1:9004", requests: 0, failure_rate: 0, avg_duration_ms: null, last_status_code: null, last_seen_at: null }),
];

const CHART = {
  labels: Array.from({ length: 24 }, (_, i) => new Date(Date.UTC(2026, 10, 30, i)).toISOString()),
  datasets: [
    { label: "Success", data: Array(24).fill(1), color: "rgba(10, 200, 110, 1)" },
    { label: "Failed", data: Array(24).fill(0), color: "rgba(255, 70, 70, 1)" },
  ],
};

describe("dashboard numbers", () => {
  it("treats missing key states as zeros", () => {
    expect(keyStatesOf({})).toEqual({ active: 0, cooling: 0, invalid: 0, disabled: 0 });
    expect(keyStatesOf(null)).toEqual({ active: 0, cooling: 0, invalid: 0, disabled: 0 });
    expect(keyStatesOf({ key_states: { active: 4 } })).toEqual({ active: 4, cooling: 0, invalid: 0, disabled: 0 });
  });

  it("grades upstream health by failure rate", () => {
    expect(healthOf({ requests: 0, failure_rate: 0 })).toBe("idle");
    expect(healthOf({ requests: 100, failure_rate: 0.049 })).toBe("healthy");
    expect(healthOf({ requests: 100, failure_rate: 0.05 })).toBe("degraded");
    expect(healthOf({ requests: 100, failure_rate: 0.49 })).toBe("degraded");
    expect(healthOf({ requests: 100, failure_rate: 0.5 })).toBe("failing");
  });

  it("sums tokens per model, largest first", () => {
    expect(tokensByModel([...USAGE.items, { ...USAGE.items[0], group_id: 2, total_tokens: 8 }])).toEqual([
      { model: "gpt-4o", total_tokens: 1500 },
      { model: "gpt-4o-mini", total_tokens: 120 },
    ]);
  });

  it("formats trends and bar widths", () => {
    expect(trendText(12.345)).toBe("+12.3%");
    expect(trendText(-3)).toBe("-3.0%");
    expect(trendText(0)).toBe("+0.0%");
    expect(statBar("key_count", STATS.key_count)).toBe(75);
    expect(statBar("error_rate", STATS.error_rate)).toBe(12.5);
    expect(statBar("rpm", STATS.rpm)).toBe(100);
    expect(statBar("request_count", { value: 50, trend: 100, trend_is_growth: true })).toBe(100);
    expect(statBar("request_count", { value: 50, trend: -50, trend_is_growth: false })).toBe(50);
  });
});

describe("dashboard parts", () => {
  afterEach(() => {
    document.body.innerHTML = "";
    localStorage.clear();
    sessionStorage.clear();
  });

  it("shows the four stat cards with their values and trends", () => {
    const w = mountScreen(StatCards, { props: { stats: STATS } });
    expect(w.find('[data-testid="stat-key-count"]').text()).toContain("3");
    expect(w.find('[data-testid="stat-key-count"]').text()).toContain("Invalid 1");
    expect(w.find('[data-testid="stat-rpm"]').text()).toContain("0.8");
    expect(w.find('[data-testid="stat-rpm"]').text()).toContain("↑ +100.0%");
    expect(w.find('[data-testid="stat-request-count"]').text()).toContain("1.2K");
    expect(w.find('[data-testid="stat-request-count"]').text()).toContain("↓ -12.5%");
    expect(w.find('[data-testid="stat-error-rate"]').text()).toContain("12.5%");
    expect(w.find('[data-testid="stat-error-rate"] .trend').classes()).toContain("up");
    w.unmount();
  });

  it("labels every key state with its count", () => {
    const w = mountScreen(KeyStates, { props: { states: { active: 3, cooling: 2, invalid: 1, disabled: 0 } } });
    const text = w.find('[data-testid="key-states"]').text();
    expect(w.find('[data-testid="key-state-active"]').text()).toMatch(/Active\s*3/);
    expect(w.find('[data-testid="key-state-cooling"]').text()).toMatch(/Cooling\s*2/);
    expect(w.find('[data-testid="key-state-invalid"]').text()).toMatch(/Invalid\s*1/);
    expect(w.find('[data-testid="key-state-disabled"]').text()).toMatch(/Disabled\s*0/);
    expect(text).toContain("6");
    w.unmount();
  });

  it("summarises security warnings and can be dismissed for good", async () => {
    const w = mountScreen(SecurityAlert, { props: { warnings: STATS.security_warnings } });
    const alert = w.find('[data-testid="security-alert"]');
    expect(alert.text()).toContain("Found 2 security configuration issues, 1 of them need priority attention.");
    await w.find('[data-testid="security-dismiss"]').trigger("click");
    expect(localStorage.getItem(SECURITY_DISMISSED)).toBe("true");
    expect(w.find('[data-testid="security-alert"]').exists()).toBe(false);
    w.unmount();
    const again = mountScreen(SecurityAlert, { props: { warnings: STATS.security_warnings } });
    expect(again.find('[data-testid="security-alert"]').exists()).toBe(false);
    again.unmount();
  });

  it("gives the migrate-keys command of the encryption scenario", async () => {
    for (const [scenario, command] of [
      ["data_not_encrypted", "gateway-admin migrate-keys --to NEW"],
      ["key_not_configured", "gateway-admin migrate-keys --from OLD"],
      ["key_mismatch", "gateway-admin migrate-keys --from OLD --to NEW"],
    ]) {
      const w = mountScreen(EncryptionAlert, {
        props: { status: { has_mismatch: true, scenario_type: scenario, message: "keys do not match", suggestion: "run the migration" } },
      });
      const alert = w.find('[data-testid="encryption-alert"]');
      expect(alert.text()).toContain("keys do not match");
      expect(alert.text()).toContain("run the migration");
      await alert.find(".n-collapse-item__header-main").trigger("click");
      await settle();
      expect(w.find('[data-testid="encryption-alert"]').text()).toContain(command);
      w.unmount();
    }
    const ok = mountScreen(EncryptionAlert, { props: { status: { has_mismatch: false, scenario_type: "", message: "", suggestion: "" } } });
    expect(ok.find('[data-testid="encryption-alert"]').exists()).toBe(false);
    ok.unmount();
  });
});

describe("dashboard screen", () => {
  const ChartStub = defineComponent({
    props: { data: Object, groups: Array, loading: Boolean, groupId: Number },
    emits: ["update:groupId"],
    setup(props, { emit }) {
      return () =>
        h("div", { "data-testid": "request-chart", "data-labels": String((props.data as { labels?: unknown[] } | undefined)?.labels?.length ?? 0) }, [
          h("button", { "data-testid": "pick-group-2", onClick: () => emit("update:groupId", 2) }),
        ]);
    },
  });
  let api: ReturnType<typeof fakeApi>;

  beforeEach(() => {
    api = fakeApi({
      "GET /dashboard/stats": STATS,
      "GET /dashboard/chart": CHART,
      "GET /dashboard/encryption-status": { has_mismatch: false, scenario_type: "", message: "", suggestion: "" },
      "GET /groups/list": [{ id: 1, name: "openai", display_name: "OpenAI" }, { id: 2, name: "backup", display_name: "" }],
      "GET /usage": (c: { url: URL }) => ({ ...USAGE, period: c.url.searchParams.get("period") }),
      "GET /dashboard/upstreams": UPSTREAMS,
    });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    document.body.innerHTML = "";
  });

  const mountDashboard = () =>
    mountScreen(DashboardView, { global: { stubs: { RequestChart: ChartStub, UsageBarChart: true } } });

  it("loads every section", async () => {
    const w = mountDashboard();
    await settle();
    expect(w.find('[data-testid="stat-request-count"]').text()).toContain("1.2K");
    expect(w.find('[data-testid="key-states"]').text()).toMatch(/Invalid\s*1/);
    expect(w.find('[data-testid="security-alert"]').exists()).toBe(true);
    expect(w.find('[data-testid="request-chart"]').attributes("data-labels")).toBe("24");
    const usage = w.find('[data-testid="usage-table"]');
    expect(usage.text()).toContain("openai");
    expect(usage.text()).toContain("gpt-4o-mini");
    expect(usage.text()).toContain("1,500");
    const health = w.find('[data-testid="upstream-health"]');
    for (const u of UPSTREAMS) expect(health.text()).toContain(u.upstream);
    for (const word of ["Healthy", "Degraded", "Failing", "No traffic"]) expect(health.text()).toContain(word);
    w.unmount();
  });

  it("sorts usage by total tokens, largest first, with the totals", async () => {
    const w = mountDashboard();
    await settle();
    const rows = w.findAll('[data-testid="usage-table"] tbody tr').map((r) => r.text());
    expect(rows[0]).toContain("gpt-4o");
    expect(rows[0]).toContain("1,500");
    expect(rows[1]).toContain("gpt-4o-mini");
    expect(w.find('[data-testid="usage-table"]').text()).toContain("1,612");
    w.unmount();
  });

  it("asks for the chosen group's chart (groupId) and the chosen usage period", async () => {
    const w = mountDashboard();
    await settle();
    await w.find('[data-testid="pick-group-2"]').trigger("click");
    await settle();
    const chartCalls = api.calls.filter((c) => c.url.pathname === "/api/dashboard/chart");
    expect(chartCalls.at(0)!.url.search).toBe("");
    expect(chartCalls.at(-1)!.url.searchParams.get("groupId")).toBe("2");
    await w.find('[data-testid="usage-period-7d"] input').setValue(true);
    await settle();
    const usageCalls = api.calls.filter((c) => c.url.pathname === "/api/usage");
    expect(usageCalls.at(0)!.url.searchParams.get("period")).toBe("24h");
    expect(usageCalls.at(-1)!.url.searchParams.get("period")).toBe("7d");
    w.unmount();
  });

  it("keeps the answer of the latest choice when an older one arrives late", async () => {
    // Answers held until released, so they can come back out of order.
    const held: { url: URL; release: () => void }[] = [];
    const hold = (data: (url: URL) => unknown) => (c: { url: URL }) =>
      new Promise<Response>((ok) => {
        held.push({
          url: c.url,
          release: () => ok(new Response(JSON.stringify({ code: 0, message: "Success", data: data(c.url) }), { status: 200 })),
        });
      });
    fakeApi({
      "GET /dashboard/stats": STATS,
      "GET /dashboard/chart": hold((u) => ({ ...CHART, labels: CHART.labels.slice(0, u.searchParams.get("groupId") === "2" ? 2 : 5) })),
      "GET /dashboard/encryption-status": { has_mismatch: false, scenario_type: "", message: "", suggestion: "" },
      "GET /groups/list": [],
      "GET /usage": hold((u) => ({ ...USAGE, items: USAGE.items.map((i) => ({ ...i, model: `${i.model}@${u.searchParams.get("period")}` })) })),
      "GET /dashboard/upstreams": [],
    });
    const w = mountDashboard();
    await settle();
    await w.find('[data-testid="pick-group-2"]').trigger("click");
    await w.find('[data-testid="usage-period-7d"] input').setValue(true);
    await settle();
    const by = (path: string) => held.filter((x) => x.url.pathname === path);
    // The newest answers first, then the first (stale) ones.
    for (const path of ["/api/dashboard/chart", "/api/usage"]) {
      const [first, second] = by(path);
      second.release();
      await settle();
      first.release();
      await settle();
    }
    expect(w.find('[data-testid="request-chart"]').attributes("data-labels")).toBe("2");
    const usage = w.find('[data-testid="usage-table"]').text();
    expect(usage).toContain("@7d");
    expect(usage).not.toContain("@24h");
    w.unmount();
  });

  it("shows all-zero key states when the server does not send them", async () => {
    fakeApi({
      "GET /dashboard/stats": { ...STATS, key_states: undefined },
      "GET /dashboard/chart": CHART,
      "GET /dashboard/encryption-status": { has_mismatch: false, scenario_type: "", message: "", suggestion: "" },
      "GET /groups/list": [],
      "GET /usage": USAGE,
      "GET /dashboard/upstreams": [],
    });
    const w = mountDashboard();
    await settle();
    expect(w.find('[data-testid="key-state-active"]').text()).toMatch(/Active\s*0/);
    w.unmount();
  });
});
