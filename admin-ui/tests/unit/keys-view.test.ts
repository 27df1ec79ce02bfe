import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { enableAutoUnmount, flushPromises, mount } from "@vue/test-utils";
import { createMemoryHistory, createRouter } from "vue-router";
import { i18n, setLocale } from "@/i18n";
import type { Group } from "@/api/groups";

const api = vi.hoisted(() => ({
  listGroups: vi.fn(), groupStats: vi.fn(), parentAggregates: vi.fn(), listSubGroups: vi.fn(), deleteGroup: vi.fn(), listKeys: vi.fn(),
  confirm: vi.fn(), configOptions: vi.fn(), setGroupEnabled: vi.fn(),
}));
const toasts = vi.hoisted(() => ({ success: vi.fn(), error: vi.fn(), info: vi.fn(), warning: vi.fn() }));
vi.mock("@/api/groups", () => ({
  listGroups: () => api.listGroups(),
  channelTypes: async () => ["openai", "openai-response", "gemini", "anthropic"],
  configOptions: () => api.configOptions(),
  groupStats: (id: number) => api.groupStats(id),
  parentAggregates: (id: number) => api.parentAggregates(id),
  listSubGroups: (id: number) => api.listSubGroups(id),
  deleteGroup: (id: number) => api.deleteGroup(id),
  setGroupEnabled: (id: number, enabled: boolean) => api.setGroupEnabled(id, enabled),
  createGroup: vi.fn(), updateGroup: vi.fn(), copyGroup: vi.fn(), reorderGroups: vi.fn(), addSubGroups: vi.fn(), setSubGroupWeight: vi.fn(),
  removeSubGroup: vi.fn(),
}));
vi.mock("@/api/keys", () => ({
  listKeys: () => api.listKeys(),
  exportKeysUrl: () => "",
}));
vi.mock("@/composables/toast", () => ({
  confirm: (o: unknown) => api.confirm(o),
  toast: toasts,
}));
vi.mock("@/composables/tasks", async () => {
  const { ref } = await import("vue");
  return { tasks: { watch: vi.fn(), finishedTick: ref(0) } };
});

import KeysView from "@/views/KeysView.vue";

enableAutoUnmount(afterEach);

function group(id: number, name: string, extra: Partial<Group> = {}): Group {
  return {
    id, name, endpoint: `http://localhost:3001/proxy/${name}`, display_name: "", description: "", group_type: "standard",
    upstreams: [{ url: "https://api.openai.com", weight: 1 }], channel_type: "openai", sort: id * 10, test_model: "gpt-4.1-nano",
    validation_endpoint: "", param_overrides: {}, model_redirect_rules: {}, model_redirect_strict: false, config: {}, header_rules: [],
    proxy_keys: "sk-proxy-abcdefghijklmnop", enabled: true, last_validated_at: null, created_at: "", updated_at: "", ...extra,
  };
}

const STATS = {
  key_stats: { total_keys: 12, active_keys: 9, invalid_keys: 1, cooling_keys: 2 },
  stats_24_hour: { total_requests: 1500, failed_requests: 15, failure_rate: 0.01 },
  stats_7_day: { total_requests: 2000, failed_requests: 20, failure_rate: 0.01 },
  stats_30_day: { total_requests: 3000, failed_requests: 30, failure_rate: 0.01 },
};

async function mountAt(path: string) {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [{ path: "/keys", name: "keys", component: KeysView }, { path: "/", component: { template: "<div />" } }],
  });
  await router.push(path);
  const w = mount({ template: "<router-view />" }, { global: { plugins: [i18n, router], stubs: { teleport: true } }, attachTo: document.body });
  await flushPromises();
  await flushPromises();
  return { w, router };
}

beforeEach(() => {
  setLocale("en-US");
  Object.values(api).forEach((f) => f.mockReset());
  Object.values(toasts).forEach((f) => f.mockReset());
  api.listGroups.mockResolvedValue([
    group(1, "openai-main", { display_name: "OpenAI Main" }),
    group(2, "claude_pool", { channel_type: "anthropic" }),
    group(3, "all-gpt", { group_type: "aggregate", upstreams: [], test_model: "-" }),
  ]);
  api.groupStats.mockResolvedValue(STATS);
  api.parentAggregates.mockResolvedValue([]);
  api.listSubGroups.mockResolvedValue([]);
  api.configOptions.mockResolvedValue([]);
  api.listKeys.mockResolvedValue({ items: [], pagination: { page: 1, page_size: 12, total_items: 0, total_pages: 0 } });
});
afterEach(() => {
  document.body.innerHTML = "";
});

describe("keys page", () => {
  it("lists the groups and puts the first one in the URL", async () => {
    const { w, router } = await mountAt("/keys");
    expect(w.find('[data-testid="group-item-openai-main"]').text()).toContain("OpenAI Main");
    expect(w.find('[data-testid="group-item-claude_pool"]').text()).toContain("Claude Pool");
    expect(w.find('[data-testid="group-item-all-gpt"]').text()).toContain("Aggregate");
    expect(router.currentRoute.value.query.groupId).toBe("1");
    const info = w.find('[data-testid="group-info"]');
    expect(info.text()).toContain("OpenAI Main");
    expect(info.text()).toContain("http://localhost:3001/proxy/openai-main");
    const stats = w.find('[data-testid="group-key-stats"]').text();
    expect(stats).toContain("12");
    expect(stats).toContain("Active 9");
    expect(stats).toContain("Cooling 2");
    expect(stats).toContain("Invalid 1");
    expect(w.find('[data-testid="group-stats"]').text()).toContain("1.5K");
    expect(w.find('[data-testid="key-table"]').exists()).toBe(true);
  });

  it("searches the list by name or display name", async () => {
    const { w } = await mountAt("/keys");
    await w.find('[data-testid="group-search"] input').setValue("CLAUDE");
    expect(w.find('[data-testid="group-item-claude_pool"]').exists()).toBe(true);
    expect(w.find('[data-testid="group-item-openai-main"]').exists()).toBe(false);
  });

  it("opens the group named in the URL and keeps the choice in the URL", async () => {
    const { w, router } = await mountAt("/keys?groupId=3");
    expect(w.find('[data-testid="sub-group-table"]').exists()).toBe(true);
    expect(w.find('[data-testid="group-copy"]').exists()).toBe(false);
    await w.find('[data-testid="group-item-claude_pool"]').trigger("click");
    await flushPromises();
    expect(router.currentRoute.value.query.groupId).toBe("2");
    expect(w.find('[data-testid="group-info"]').text()).toContain("Claude Pool");
  });

  it("deletes a group only after the confirmation and the exact name", async () => {
    api.confirm.mockResolvedValue(true);
    api.deleteGroup.mockResolvedValue(null);
    const { w } = await mountAt("/keys?groupId=2");
    await w.find('[data-testid="group-delete"]').trigger("click");
    await flushPromises();
    expect(api.confirm).toHaveBeenCalledWith(expect.objectContaining({ content: expect.stringContaining("claude_pool") }));
    const submit = w.find('[data-testid="confirm-name-submit"]');
    expect(submit.attributes("disabled")).toBeDefined();
    await w.find('[data-testid="confirm-name-input"] input').setValue("Claude_Pool");
    expect(w.find('[data-testid="confirm-name-submit"]').attributes("disabled")).toBeDefined();
    expect(api.deleteGroup).not.toHaveBeenCalled();
    await w.find('[data-testid="confirm-name-input"] input').setValue("claude_pool");
    await w.find('[data-testid="confirm-name-submit"]').trigger("click");
    await flushPromises();
    expect(api.deleteGroup).toHaveBeenCalledWith(2);
  });

  it("does nothing when the first confirmation is declined", async () => {
    api.confirm.mockResolvedValue(false);
    const { w } = await mountAt("/keys?groupId=2");
    await w.find('[data-testid="group-delete"]').trigger("click");
    await flushPromises();
    expect(w.find('[data-testid="confirm-name-input"]').exists()).toBe(false);
    expect(api.deleteGroup).not.toHaveBeenCalled();
  });

  it("shows boolean setting overrides as Yes / No and an empty one as (empty) in the details", async () => {
    api.configOptions.mockResolvedValue([
      { key: "enable_request_logging", name: "Log requests", description: "", default_value: true },
      { key: "proxy_url", name: "Outbound proxy URL", description: "", default_value: "" },
    ]);
    api.listGroups.mockResolvedValue([group(1, "openai-main", { config: { enable_request_logging: false, proxy_url: "" } })]);
    const { w } = await mountAt("/keys");
    await w.find('[data-testid="group-details"] .n-collapse-item__header-main').trigger("click");
    await flushPromises();
    const details = w.find('[data-testid="group-details"]').text();
    expect(details).toContain("Log requests");
    expect(details).toContain("No");
    expect(details).not.toContain("false");
    expect(details).toContain("Outbound proxy URL(empty)");
    setLocale("zh-CN");
    await flushPromises();
    expect(w.find('[data-testid="group-details"]').text()).toContain("否");
  });

  it("fetches the setting names again when the language changes", async () => {
    api.configOptions.mockResolvedValue([{ key: "max_retries", name: "Max retries", description: "", default_value: 3 }]);
    api.listGroups.mockResolvedValue([group(1, "openai-main", { config: { max_retries: 5 } })]);
    const { w } = await mountAt("/keys");
    expect(api.configOptions).toHaveBeenCalledTimes(1);
    api.configOptions.mockResolvedValue([{ key: "max_retries", name: "最大重试次数", description: "", default_value: 3 }]);
    setLocale("zh-CN");
    await flushPromises();
    expect(api.configOptions).toHaveBeenCalledTimes(2);
    await w.find('[data-testid="group-details"] .n-collapse-item__header-main').trigger("click");
    await flushPromises();
    expect(w.find('[data-testid="group-details"]').text()).toContain("最大重试次数");
  });
});

describe("aggregate routing in the info card", () => {
  it("shows both effective values and whether the aggregate sets them", async () => {
    api.configOptions.mockResolvedValue([
      { key: "sub_group_failover", name: "Fail over between sub-groups", description: "", default_value: true },
      { key: "model_aware_routing", name: "Model-aware sub-group choice", description: "", default_value: false },
    ]);
    api.listGroups.mockResolvedValue([
      group(1, "openai-main"),
      group(3, "all-gpt", { group_type: "aggregate", upstreams: [], test_model: "-", config: { model_aware_routing: true } }),
    ]);
    const { w } = await mountAt("/keys?groupId=3");
    await w.find('[data-testid="group-details"] .n-collapse-item__header-main').trigger("click");
    await flushPromises();
    const failover = w.find('[data-testid="group-info-failover"]');
    expect(failover.text()).toContain("Fail over between sub-groups");
    expect(failover.text()).toContain("On (system setting)");
    expect(failover.attributes("data-value")).toBe("true");
    const aware = w.find('[data-testid="group-info-model-aware"]');
    expect(aware.text()).toContain("Model-aware sub-group choice");
    expect(aware.text()).toContain("On (set for this group)");
    expect(aware.attributes("data-overridden")).toBe("true");
  });

  it("are not shown for standard groups", async () => {
    const { w } = await mountAt("/keys?groupId=1");
    await w.find('[data-testid="group-details"] .n-collapse-item__header-main').trigger("click");
    await flushPromises();
    expect(w.find('[data-testid="group-info-failover"]').exists()).toBe(false);
  });
});

describe("switching groups off and on", () => {
  it("marks a disabled group in the list and explains it on its card", async () => {
    api.listGroups.mockResolvedValue([group(1, "openai-main"), group(2, "claude_pool", { channel_type: "anthropic", enabled: false })]);
    const { w } = await mountAt("/keys?groupId=2");
    const off = w.find('[data-testid="group-item-claude_pool"]');
    expect(off.attributes("data-enabled")).toBe("false");
    expect(off.classes()).toContain("off");
    expect(off.find('[data-testid="group-disabled-tag"]').text()).toBe("Disabled");
    const on = w.find('[data-testid="group-item-openai-main"]');
    expect(on.attributes("data-enabled")).toBe("true");
    expect(on.find('[data-testid="group-disabled-tag"]').exists()).toBe(false);
    expect(w.find('[data-testid="group-info-disabled"]').text()).toBe("Disabled");
    expect(w.find('[data-testid="group-disabled-alert"]').text()).toContain("503 (group_disabled)");
    expect(w.find('[data-testid="group-toggle-enabled"]').text()).toBe("Enable");
  });

  it("switches a group off after a confirmation that says what it does, and on again", async () => {
    api.confirm.mockResolvedValue(true);
    api.setGroupEnabled.mockImplementation(async (id: number, enabled: boolean) => group(id, "openai-main", { display_name: "OpenAI Main", enabled }));
    const { w } = await mountAt("/keys?groupId=1");
    const toggle = () => w.find('[data-testid="group-toggle-enabled"]');
    expect(toggle().text()).toBe("Disable");
    expect(w.find('[data-testid="group-disabled-alert"]').exists()).toBe(false);
    await toggle().trigger("click");
    await flushPromises();
    const asked = api.confirm.mock.calls[0][0] as { title: string; content: string };
    expect(asked.title).toBe("Disable group");
    expect(asked.content).toContain("openai-main");
    expect(asked.content).toContain("503");
    expect(asked.content).toContain("aggregate groups skip it");
    expect(api.setGroupEnabled).toHaveBeenCalledWith(1, false);
    expect(toasts.success).toHaveBeenCalledWith("Group openai-main is disabled");
    expect(w.find('[data-testid="group-item-openai-main"]').attributes("data-enabled")).toBe("false");
    expect(w.find('[data-testid="group-disabled-alert"]').exists()).toBe(true);
    expect(toggle().text()).toBe("Enable");

    await toggle().trigger("click");
    await flushPromises();
    expect((api.confirm.mock.calls[1][0] as { content: string }).content).toContain("on again");
    expect(api.setGroupEnabled).toHaveBeenLastCalledWith(1, true);
    expect(w.find('[data-testid="group-item-openai-main"]').attributes("data-enabled")).toBe("true");
    expect(w.find('[data-testid="group-disabled-alert"]').exists()).toBe(false);
  });

  it("changes nothing when the confirmation is declined", async () => {
    api.confirm.mockResolvedValue(false);
    const { w } = await mountAt("/keys?groupId=1");
    await w.find('[data-testid="group-toggle-enabled"]').trigger("click");
    await flushPromises();
    expect(api.setGroupEnabled).not.toHaveBeenCalled();
    expect(w.find('[data-testid="group-item-openai-main"]').attributes("data-enabled")).toBe("true");
  });

  it("an aggregate's confirmation speaks of its own requests; a switched-off member shows as skipped", async () => {
    api.confirm.mockResolvedValue(false);
    api.listSubGroups.mockResolvedValue([
      { group: group(1, "openai-main"), weight: 2, total_keys: 3, active_keys: 3, invalid_keys: 0 },
      { group: group(4, "openai-spare", { enabled: false }), weight: 1, total_keys: 2, active_keys: 2, invalid_keys: 0 },
    ]);
    const { w } = await mountAt("/keys?groupId=3");
    const states = w.findAll('[data-testid="sub-group-status"]');
    expect(states.map((s) => s.attributes("data-status"))).toEqual(["active", "off"]);
    expect(states[1].text()).toBe("Group disabled, skipped");
    expect(w.find('[data-testid="group-member-stats"]').text()).toContain("Group disabled 1");
    await w.find('[data-testid="group-toggle-enabled"]').trigger("click");
    await flushPromises();
    const asked = api.confirm.mock.calls[0][0] as { content: string };
    expect(asked.content).toContain("aggregate group all-gpt");
    expect(asked.content).toContain("503");
  });
});
