import { afterEach, describe, expect, it, vi } from "vitest";
import { nextTick } from "vue";
import { mountScreen, settle } from "./screen-helpers";

interface FakeConfig {
  type: string;
  data: { labels: string[]; datasets: { label: string; data: number[]; borderColor?: string }[] };
  options: { scales: { x: { ticks: { color: string } }; y: { ticks: { color: string } } } };
}

const made: { config: FakeConfig; destroyed: boolean }[] = [];

vi.mock("@/components/dashboard/charts", async (importOriginal) => {
  const real = await importOriginal<typeof import("@/components/dashboard/charts")>();
  class FakeChart {
    entry: { config: FakeConfig; destroyed: boolean };
    constructor(_canvas: unknown, config: FakeConfig) {
      this.entry = { config, destroyed: false };
      made.push(this.entry);
    }
    destroy() {
      this.entry.destroyed = true;
    }
  }
  return { ...real, Chart: FakeChart };
});

const { default: RequestChart } = await import("@/components/dashboard/RequestChart.vue");
const { default: UsageBarChart } = await import("@/components/dashboard/UsageBarChart.vue");
const { theme } = await import("@/composables/theme");
const { chartPalette } = await import("@/components/dashboard/charts");
const { i18n } = await import("@/i18n");

const DATA = {
  labels: Array.from({ length: 24 }, (_, i) => new Date(Date.UTC(2026, 10, 30, i)).toISOString()),
  datasets: [
    { label: "Success", data: Array(24).fill(2), color: "rgba(10, 200, 110, 1)" },
    { label: "Failed", data: Array(24).fill(1), color: "rgba(255, 70, 70, 1)" },
  ],
};

describe("charts", () => {
  afterEach(() => {
    made.length = 0;
    theme.set("light");
    document.body.innerHTML = "";
  });

  it("draws success and failure lines and redraws in the dark theme's colours", async () => {
    theme.set("light");
    const w = mountScreen(RequestChart, { props: { data: DATA, groups: [], groupId: 0 } });
    await settle();
    expect(w.find('[data-testid="request-chart"] canvas').exists()).toBe(true);
    const first = made.at(-1)!;
    expect(first.config.type).toBe("line");
    expect(first.config.data.datasets.map((d) => d.label)).toEqual(["Success", "Failed"]);
    expect(first.config.data.datasets[1].borderColor).toBe("rgba(255, 70, 70, 1)");
    expect(first.config.data.labels).toHaveLength(24);
    expect(first.config.options.scales.x.ticks.color).toBe(chartPalette(false).text);

    theme.set("dark");
    await nextTick();
    await settle();
    const second = made.at(-1)!;
    expect(first.destroyed).toBe(true);
    expect(second).not.toBe(first);
    expect(second.config.options.scales.y.ticks.color).toBe(chartPalette(true).text);
    w.unmount();
    expect(second.destroyed).toBe(true);
  });

  it("names the series in the user's language", async () => {
    const w = mountScreen(RequestChart, { props: { data: DATA, groups: [], groupId: 0 } });
    await settle();
    i18n.global.locale.value = "zh-CN";
    await nextTick();
    await settle();
    expect(made.at(-1)!.config.data.datasets.map((d) => d.label)).toEqual(["成功", "失败"]);
    i18n.global.locale.value = "en-US";
    w.unmount();
  });

  it("draws one bar of total tokens per model", async () => {
    const w = mountScreen(UsageBarChart, { props: { rows: [{ model: "gpt-4o", total_tokens: 1500 }, { model: "gpt-4o-mini", total_tokens: 120 }] } });
    await settle();
    const c = made.at(-1)!;
    expect(c.config.type).toBe("bar");
    expect(c.config.data.labels).toEqual(["gpt-4o", "gpt-4o-mini"]);
    expect(c.config.data.datasets[0].data).toEqual([1500, 120]);
    w.unmount();
  });
});
