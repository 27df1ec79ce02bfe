import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { enableAutoUnmount, flushPromises, mount } from "@vue/test-utils";
import { NSelect } from "naive-ui";
import { i18n, setLocale } from "@/i18n";
import type { ConfigOption, Group, GroupPayload } from "@/api/groups";

const createGroup = vi.fn();
const updateGroup = vi.fn();
vi.mock("@/api/groups", () => ({
  createGroup: (body: GroupPayload) => createGroup(body),
  updateGroup: (id: number, body: GroupPayload) => updateGroup(id, body),
}));

import GroupForm from "@/components/keys/GroupForm.vue";
import AggregateGroupForm from "@/components/keys/AggregateGroupForm.vue";

enableAutoUnmount(afterEach);

const OPTIONS: ConfigOption[] = [{ key: "max_retries", name: "Max retries", description: "Extra attempts", default_value: 3 }];
/** What config-options lists: the aggregate routing settings come with the others. */
const ALL_OPTIONS: ConfigOption[] = [
  ...OPTIONS,
  { key: "sub_group_failover", name: "Fail over between sub-groups", description: "Aggregate groups: …", default_value: true },
  { key: "model_aware_routing", name: "Model-aware sub-group choice", description: "Aggregate groups: …", default_value: false },
];

function mountForm(group: Group | null = null) {
  return mount(GroupForm, {
    props: { show: false, group, channelTypes: ["openai", "openai-response", "gemini", "anthropic"], configOptions: OPTIONS },
    global: { plugins: [i18n], stubs: { teleport: true } },
  });
}

async function open(w: ReturnType<typeof mountForm>) {
  await w.setProps({ show: true });
  await flushPromises();
}

async function openAdvanced(w: ReturnType<typeof mountForm>) {
  await w.find('[data-testid="group-advanced"] .n-collapse-item__header-main').trigger("click");
  await flushPromises();
}

function input(w: ReturnType<typeof mountForm>, testid: string) {
  return w.find(`[data-testid="${testid}"] input, [data-testid="${testid}"] textarea`);
}

beforeEach(() => {
  setLocale("en-US");
  createGroup.mockReset();
  updateGroup.mockReset();
});
afterEach(() => {
  document.body.innerHTML = "";
});

describe("standard group form", () => {
  it("shows the fields a person fills in, with channel defaults", async () => {
    const w = mountForm();
    await open(w);
    expect(w.find('[data-testid="group-form"]').exists()).toBe(true);
    expect(w.text()).toContain("Group name");
    expect(w.text()).toContain("Upstream URL");
    expect((input(w, "group-name").element as HTMLInputElement).placeholder).toBe("gemini");
    expect((input(w, "group-test-model").element as HTMLInputElement).value).toBe("gpt-4.1-nano");
    expect((input(w, "upstream-url-0").element as HTMLInputElement).value).toBe("https://api.openai.com");
  });

  it("shows each field's error next to it and sends nothing", async () => {
    const w = mountForm();
    await open(w);
    await input(w, "group-name").setValue("Bad Name!");
    await input(w, "upstream-url-0").setValue("api.example.com");
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(createGroup).not.toHaveBeenCalled();
    expect(w.text()).toContain("Use 1–100 lowercase letters, digits, - or _");
    expect(w.text()).toContain("The URL must start with http:// or https://");
    expect(w.text()).toContain("Please correct the highlighted fields");
  });

  it("flags a duplicated header in the advanced part and opens it", async () => {
    const w = mountForm();
    await open(w);
    await input(w, "group-name").setValue("ok");
    expect(w.text()).toContain("Advanced configuration");
    await openAdvanced(w);
    await w.find('[data-testid="add-header"]').trigger("click");
    await w.find('[data-testid="add-header"]').trigger("click");
    await input(w, "header-name-0").setValue("x-team");
    await input(w, "header-name-1").setValue("X-TEAM");
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(createGroup).not.toHaveBeenCalled();
    expect(w.text()).toContain("Duplicate header: X-Team");
  });

  it("rejects weights that are all zero", async () => {
    const w = mountForm();
    await open(w);
    await input(w, "group-name").setValue("ok");
    const weight = input(w, "upstream-weight-0");
    await weight.setValue("0");
    await weight.trigger("blur");
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(createGroup).not.toHaveBeenCalled();
    expect(w.text()).toContain("At least one upstream needs a weight above 0");
  });

  it("sends the filled form and reports the saved group", async () => {
    const saved = { id: 7, name: "team-openai" } as Group;
    createGroup.mockResolvedValue(saved);
    const w = mountForm();
    await open(w);
    await input(w, "group-name").setValue("team-openai");
    await input(w, "group-display-name").setValue("Team OpenAI");
    await w.find('[data-testid="add-upstream"]').trigger("click");
    await input(w, "upstream-url-1").setValue("https://backup.example.com");
    await w.find('[data-testid="generate-proxy-key"]').trigger("click");
    await openAdvanced(w);
    await input(w, "group-redirect-rules").setValue('{"gpt-4o": "gpt-4o-mini"}');
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(createGroup).toHaveBeenCalledTimes(1);
    const body = createGroup.mock.calls[0][0] as GroupPayload;
    expect(body).toMatchObject({
      name: "team-openai", display_name: "Team OpenAI", group_type: "standard", channel_type: "openai", sort: 1,
      test_model: "gpt-4.1-nano", validation_endpoint: "",
      upstreams: [{ url: "https://api.openai.com", weight: 1 }, { url: "https://backup.example.com", weight: 1 }],
      model_redirect_rules: { "gpt-4o": "gpt-4o-mini" }, model_redirect_strict: false, param_overrides: {}, config: {}, header_rules: [],
      enabled: true,
    });
    expect(body.proxy_keys).toMatch(/^sk-[A-Za-z0-9_-]{48}$/);
    expect(w.emitted("saved")?.[0]).toEqual([saved]);
    expect(w.emitted("update:show")?.[0]).toEqual([false]);
  });

  it("creates a group switched off, saying what that does", async () => {
    createGroup.mockResolvedValue({ id: 8, name: "spare" });
    const w = mountForm();
    await open(w);
    const sw = w.find('[data-testid="group-enabled"]');
    expect(sw.classes()).toContain("n-switch--active");
    expect(w.find('[data-testid="group-enabled-hint"]').text()).toContain("without deleting it");
    await input(w, "group-name").setValue("spare");
    await sw.trigger("click");
    await flushPromises();
    expect(w.find('[data-testid="group-enabled"]').classes()).not.toContain("n-switch--active");
    const hint = w.find('[data-testid="group-enabled-hint"]').text();
    expect(hint).toContain("503");
    expect(hint).toContain("aggregate groups skip it");
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(createGroup).toHaveBeenCalledWith(expect.objectContaining({ name: "spare", enabled: false }));
  });

  it("edits an existing group with PUT and its current values", async () => {
    updateGroup.mockResolvedValue({ id: 3 });
    const g = {
      id: 3, name: "gem", endpoint: "http://x/proxy/gem", display_name: "", description: "d", group_type: "standard", channel_type: "gemini",
      sort: 5, test_model: "gemini-2.0-flash-lite", validation_endpoint: "", upstreams: [{ url: "https://generativelanguage.googleapis.com", weight: 2 }],
      param_overrides: {}, model_redirect_rules: {}, model_redirect_strict: false, config: { max_retries: 1 }, header_rules: [], proxy_keys: "",
      enabled: true, last_validated_at: null, created_at: "", updated_at: "",
    } as Group;
    const w = mountForm(g);
    await open(w);
    expect(w.text()).toContain("Edit Group");
    expect(w.find('[data-testid="group-test-path"]').exists()).toBe(false);
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(updateGroup).toHaveBeenCalledWith(3, expect.objectContaining({ name: "gem", sort: 5, config: { max_retries: 1 }, upstreams: [{ url: "https://generativelanguage.googleapis.com", weight: 2 }] }));
  });
});

describe("group config overrides", () => {
  it("shows a boolean setting's system value as Yes / No, not true / false", async () => {
    const options: ConfigOption[] = [{ key: "enable_request_logging", name: "Log requests", description: "", default_value: true }];
    const g = {
      id: 4, name: "oa", endpoint: "http://x/proxy/oa", display_name: "", description: "", group_type: "standard", channel_type: "openai",
      sort: 1, test_model: "gpt-4.1-nano", validation_endpoint: "", upstreams: [{ url: "https://api.openai.com", weight: 1 }],
      param_overrides: {}, model_redirect_rules: {}, model_redirect_strict: false, config: { enable_request_logging: false }, header_rules: [],
      proxy_keys: "", enabled: true, last_validated_at: null, created_at: "", updated_at: "",
    } as Group;
    const w = mount(GroupForm, {
      props: { show: false, group: g, channelTypes: ["openai"], configOptions: options },
      global: { plugins: [i18n], stubs: { teleport: true } },
    });
    await open(w);
    const text = w.find('[data-testid="group-advanced"]').text();
    expect(text).toContain("System value: Yes");
    expect(text).not.toContain("true");
  });
});

describe("aggregate group form", () => {
  it("sends group_type aggregate with the chosen channel", async () => {
    createGroup.mockResolvedValue({ id: 9 });
    const w = mount(AggregateGroupForm, { props: { show: false, group: null, configOptions: ALL_OPTIONS }, global: { plugins: [i18n], stubs: { teleport: true } } });
    await w.setProps({ show: true });
    await flushPromises();
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(createGroup).not.toHaveBeenCalled();
    expect(w.text()).toContain("Enter a group name");
    await w.find('[data-testid="group-name"] input').setValue("all-gpt");
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(createGroup).toHaveBeenCalledWith({
      name: "all-gpt", display_name: "", description: "", group_type: "aggregate", channel_type: "openai", sort: 1, proxy_keys: "", enabled: true, config: {},
    });
  });

  it("shows a disabled aggregate switched off and sends enabled when it is switched on", async () => {
    updateGroup.mockResolvedValue({ id: 12 });
    const g = {
      id: 12, name: "all-gpt", endpoint: "", display_name: "", description: "", group_type: "aggregate", channel_type: "openai", sort: 2,
      proxy_keys: "", enabled: false,
    } as Group;
    const w = mount(AggregateGroupForm, { props: { show: false, group: g, configOptions: ALL_OPTIONS }, global: { plugins: [i18n], stubs: { teleport: true } } });
    await w.setProps({ show: true });
    await flushPromises();
    expect(w.find('[data-testid="group-enabled"]').classes()).not.toContain("n-switch--active");
    const hint = w.find('[data-testid="group-enabled-hint"]').text();
    expect(hint).toContain("requests to this aggregate group get 503");
    expect(hint).toContain("sub groups keep serving");
    await w.find('[data-testid="group-enabled"]').trigger("click");
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
    expect(updateGroup).toHaveBeenCalledWith(12, expect.objectContaining({ name: "all-gpt", group_type: "aggregate", enabled: true }));
  });
});

describe("aggregate routing between sub-groups", () => {
  function mountAggregate(group: Group | null, configOptions: ConfigOption[] = ALL_OPTIONS) {
    return mount(AggregateGroupForm, { props: { show: false, group, configOptions }, global: { plugins: [i18n], stubs: { teleport: true } } });
  }
  const sw = (w: ReturnType<typeof mountAggregate>, id: string) => w.find(`[data-testid="routing-${id}-switch"]`);
  const isOn = (w: ReturnType<typeof mountAggregate>, id: string) => sw(w, id).classes().includes("n-switch--active");
  const row = (w: ReturnType<typeof mountAggregate>, id: string) => w.find(`[data-testid="routing-${id}"]`);
  async function submit(w: ReturnType<typeof mountAggregate>) {
    await w.find('[data-testid="group-form-submit"]').trigger("click");
    await flushPromises();
  }
  function aggregate(config: Group["config"]): Group {
    return {
      id: 20, name: "all-gpt", endpoint: "", display_name: "", description: "", group_type: "aggregate", channel_type: "openai", sort: 1,
      proxy_keys: "", enabled: true, config,
    } as Group;
  }

  it("shows both switches with what they do and the system values while the group follows them", async () => {
    const w = mountAggregate(null);
    await w.setProps({ show: true });
    await flushPromises();
    expect(row(w, "failover").text()).toContain("Fail over between sub-groups");
    expect(row(w, "failover").text()).toContain("moves on to another sub-group");
    expect(row(w, "model-aware").text()).toContain("Model-aware sub-group choice");
    expect(row(w, "model-aware").text()).toContain("model redirect rules name the requested model");
    expect(isOn(w, "failover")).toBe(true);
    expect(isOn(w, "model-aware")).toBe(false);
    expect(w.find('[data-testid="routing-failover-source"]').text()).toBe("Follows the system setting (On)");
    expect(w.find('[data-testid="routing-model-aware-source"]').text()).toBe("Follows the system setting (Off)");
    expect(row(w, "failover").attributes("data-overridden")).toBe("false");
    expect(w.find('[data-testid="routing-failover-reset"]').exists()).toBe(false);
  });

  it("follows the current system values, not fixed ones", async () => {
    const options = ALL_OPTIONS.map((o) => (o.key === "model_aware_routing" ? { ...o, default_value: true } : o.key === "sub_group_failover" ? { ...o, default_value: false } : o));
    const w = mountAggregate(null, options);
    await w.setProps({ show: true });
    await flushPromises();
    expect(isOn(w, "failover")).toBe(false);
    expect(isOn(w, "model-aware")).toBe(true);
    expect(w.find('[data-testid="routing-model-aware-source"]').text()).toBe("Follows the system setting (On)");
  });

  it("writes a setting into config only when it is changed from the system value", async () => {
    createGroup.mockResolvedValue({ id: 21 });
    const w = mountAggregate(null);
    await w.setProps({ show: true });
    await flushPromises();
    await w.find('[data-testid="group-name"] input').setValue("all-gpt");
    await sw(w, "model-aware").trigger("click");
    await sw(w, "failover").trigger("click");
    await flushPromises();
    expect(isOn(w, "model-aware")).toBe(true);
    expect(isOn(w, "failover")).toBe(false);
    expect(row(w, "model-aware").attributes("data-overridden")).toBe("true");
    expect(w.find('[data-testid="routing-model-aware-source"]').text()).toContain("Set for this group; system setting: Off");
    // back to the system value: a new override is dropped again
    await sw(w, "failover").trigger("click");
    await flushPromises();
    expect(isOn(w, "failover")).toBe(true);
    expect(row(w, "failover").attributes("data-overridden")).toBe("false");
    await submit(w);
    expect(createGroup).toHaveBeenCalledWith(expect.objectContaining({ group_type: "aggregate", config: { model_aware_routing: true } }));
  });

  it("shows a stored override, keeps it until 'use the system setting' removes it, and keeps other settings", async () => {
    updateGroup.mockResolvedValue({ id: 20 });
    const w = mountAggregate(aggregate({ sub_group_failover: false, model_aware_routing: true, max_retries: 2 }));
    await w.setProps({ show: true });
    await flushPromises();
    expect(isOn(w, "failover")).toBe(false);
    expect(isOn(w, "model-aware")).toBe(true);
    expect(row(w, "failover").attributes("data-overridden")).toBe("true");
    expect(w.find('[data-testid="routing-failover-source"]').text()).toContain("Set for this group; system setting: On");
    // switched to the system value, a stored override stays (as a standard group's config row does)
    await sw(w, "failover").trigger("click");
    await flushPromises();
    expect(isOn(w, "failover")).toBe(true);
    expect(row(w, "failover").attributes("data-overridden")).toBe("true");
    await w.find('[data-testid="routing-model-aware-reset"]').trigger("click");
    await flushPromises();
    expect(isOn(w, "model-aware")).toBe(false);
    expect(w.find('[data-testid="routing-model-aware-source"]').text()).toBe("Follows the system setting (Off)");
    await submit(w);
    expect(updateGroup).toHaveBeenCalledWith(20, expect.objectContaining({ config: { max_retries: 2, sub_group_failover: true } }));
  });

  it("the standard group form does not offer them", async () => {
    const w = mount(GroupForm, {
      props: { show: false, group: null, channelTypes: ["openai"], configOptions: ALL_OPTIONS },
      global: { plugins: [i18n], stubs: { teleport: true } },
    });
    await open(w);
    await openAdvanced(w);
    await w.find('[data-testid="add-config"]').trigger("click");
    await flushPromises();
    const select = w.findAllComponents(NSelect).find((c) => c.attributes("data-testid") === "config-key-0");
    const offered = (select?.props("options") as { value: string }[]).map((o) => o.value);
    expect(offered).toEqual(["max_retries"]);
    // max_retries is the only one: no further row can be added
    expect(w.find('[data-testid="add-config"]').attributes("disabled")).toBeDefined();
  });
});
