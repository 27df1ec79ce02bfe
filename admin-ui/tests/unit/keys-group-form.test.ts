import { describe, expect, it } from "vitest";
import type { ConfigOption } from "@/api/groups";
import {
  aggregateFormFromGroup, applyChannelChange, buildAggregatePayload, buildGroupPayload, canonicalHeader, effectiveRouting, emptyAggregateForm, emptyGroupForm,
  formFromGroup, normalizeHeaderRules, parseJsonObject, parseRedirectRules, parseUpstreams, routingOverride, routingSystemValue, standardConfigOptions,
  validateConfigRows, validateGroupName, validateUpstreams,
} from "@/components/keys/group-form";
import { appendProxyKeys, generateProxyKey } from "@/proxy-keys";
import type { Group } from "@/api/groups";

const OPTIONS: ConfigOption[] = [
  { key: "max_retries", name: "Max retries", description: "", default_value: 3 },
  { key: "proxy_url", name: "Proxy URL", description: "", default_value: "" },
  { key: "enable_request_body_logging", name: "Body logging", description: "", default_value: false },
];

describe("group name", () => {
  it("accepts what the server accepts", () => {
    expect(validateGroupName("my-group_1")).toBeNull();
    expect(validateGroupName("a".repeat(100))).toBeNull();
    expect(validateGroupName("  trimmed ")).toBeNull();
  });
  it("rejects capitals, spaces, other symbols, empty and over-long names", () => {
    expect(validateGroupName("")?.key).toBe("validation.nameRequired");
    expect(validateGroupName("My")?.key).toBe("validation.namePattern");
    expect(validateGroupName("a b")?.key).toBe("validation.namePattern");
    expect(validateGroupName("a.b")?.key).toBe("validation.namePattern");
    expect(validateGroupName("a".repeat(101))?.key).toBe("validation.namePattern");
  });
});

describe("proxy key generator", () => {
  it("makes sk- followed by 48 URL-safe characters", () => {
    for (let i = 0; i < 50; i++) expect(generateProxyKey()).toMatch(/^sk-[A-Za-z0-9_-]{48}$/);
  });
  it("uses the random bytes it is given", () => {
    const zeros = generateProxyKey((b) => b.fill(0));
    expect(zeros).toBe(`sk-${"A".repeat(48)}`);
    const top = generateProxyKey((b) => b.fill(255));
    expect(top).toBe(`sk-${"-".repeat(48)}`);
  });
  it("keys differ from one call to the next", () => {
    expect(new Set(Array.from({ length: 20 }, () => generateProxyKey())).size).toBe(20);
  });
  it("appends new keys to the comma-separated list", () => {
    const out = appendProxyKeys(" sk-existing , ", 2);
    const parts = out.split(",");
    expect(parts).toHaveLength(3);
    expect(parts[0]).toBe("sk-existing");
    expect(parts[1]).toMatch(/^sk-[A-Za-z0-9_-]{48}$/);
    expect(appendProxyKeys("", 1)).toMatch(/^sk-[A-Za-z0-9_-]{48}$/);
  });
});

describe("upstreams", () => {
  it("drops empty rows and keeps the rest", () => {
    const r = validateUpstreams([{ url: " https://api.openai.com ", weight: 2 }, { url: "", weight: 1 }]);
    expect(r.errors).toEqual({});
    expect(r.upstreams).toEqual([{ url: "https://api.openai.com", weight: 2 }]);
  });
  it("requires http(s) URLs, weights ≥ 0 and one weight above 0", () => {
    expect(validateUpstreams([{ url: "ftp://x", weight: 1 }]).errors["upstreams.0.url"].key).toBe("validation.upstreamScheme");
    expect(validateUpstreams([{ url: "api.openai.com", weight: 1 }]).errors["upstreams.0.url"].key).toBe("validation.upstreamScheme");
    expect(validateUpstreams([{ url: "http://a", weight: -1 }]).errors["upstreams.0.weight"].key).toBe("validation.weightInvalid");
    expect(validateUpstreams([{ url: "http://a", weight: null }]).errors["upstreams.0.weight"].key).toBe("validation.weightInvalid");
    expect(validateUpstreams([{ url: "http://a", weight: 0 }]).errors.upstreams.key).toBe("validation.weightPositive");
    expect(validateUpstreams([{ url: " ", weight: 1 }]).errors.upstreams.key).toBe("validation.upstreamRequired");
    expect(validateUpstreams([{ url: "http://a", weight: 0 }, { url: "http://b", weight: 1 }]).errors).toEqual({});
  });
  it("parses stored upstreams, always giving one row", () => {
    expect(parseUpstreams([{ url: "https://x", weight: 3 }, { nope: 1 }])).toEqual([{ url: "https://x", weight: 3 }]);
    expect(parseUpstreams(null)).toEqual([{ url: "", weight: 1 }]);
    expect(parseUpstreams("junk")).toEqual([{ url: "", weight: 1 }]);
  });
});

describe("header rules", () => {
  it("canonicalises names like the server", () => {
    expect(canonicalHeader(" x-foo-BAR ")).toBe("X-Foo-Bar");
    expect(canonicalHeader("authorization")).toBe("Authorization");
  });
  it("drops empty names, marks removals and flags duplicates in any case", () => {
    const r = normalizeHeaderRules([
      { key: "x-a", value: "1", remove: false },
      { key: "", value: "ignored", remove: false },
      { key: "X-Gone", value: "left over", remove: true },
      { key: "X-A", value: "2", remove: false },
    ]);
    expect(r.rules).toEqual([
      { key: "X-A", value: "1", action: "set" },
      { key: "X-Gone", value: "", action: "remove" },
    ]);
    expect(r.errors["headers.3.key"]).toEqual({ key: "validation.headerDuplicate", params: { name: "X-A" } });
  });
  it("rejects names that are not HTTP tokens", () => {
    expect(normalizeHeaderRules([{ key: "bad header", value: "", remove: false }]).errors["headers.0.key"].key).toBe("validation.headerInvalid");
  });
});

describe("JSON fields", () => {
  it("parses objects; blank is {}", () => {
    expect(parseJsonObject("")).toEqual({ value: {} });
    expect(parseJsonObject('{"temperature": 0.7}')).toEqual({ value: { temperature: 0.7 } });
  });
  it("rejects syntax errors, arrays and scalars", () => {
    expect("error" in parseJsonObject("{oops")).toBe(true);
    expect(parseJsonObject("[1]")).toEqual({ error: { key: "validation.jsonObject" } });
    expect(parseJsonObject("3")).toEqual({ error: { key: "validation.jsonObject" } });
  });
  it("redirect rules map non-empty model names to non-empty model names", () => {
    expect(parseRedirectRules('{"gpt-4o": "gpt-4o-mini"}')).toEqual({ value: { "gpt-4o": "gpt-4o-mini" } });
    expect(parseRedirectRules('{"gpt-4o": ""}')).toEqual({ error: { key: "validation.redirectRules" } });
    expect(parseRedirectRules('{"gpt-4o": 3}')).toEqual({ error: { key: "validation.redirectRules" } });
  });
});

describe("config overrides", () => {
  it("types values by the option's system value and drops rows without a key", () => {
    const r = validateConfigRows([
      { key: "max_retries", value: 5 },
      { key: "proxy_url", value: " http://proxy:8080 " },
      { key: "enable_request_body_logging", value: true },
      { key: "", value: null },
    ], OPTIONS);
    expect(r.errors).toEqual({});
    expect(r.config).toEqual({ max_retries: 5, proxy_url: "http://proxy:8080", enable_request_body_logging: true });
  });
  it("rejects non-integers, negatives and repeated settings", () => {
    expect(validateConfigRows([{ key: "max_retries", value: 1.5 }], OPTIONS).errors["config.0.value"].key).toBe("validation.configInteger");
    expect(validateConfigRows([{ key: "max_retries", value: null }], OPTIONS).errors["config.0.value"].key).toBe("validation.configInteger");
    expect(validateConfigRows([{ key: "max_retries", value: "2" }], OPTIONS).config).toEqual({ max_retries: 2 });
    expect(validateConfigRows([{ key: "max_retries", value: 1 }, { key: "max_retries", value: 2 }], OPTIONS).errors["config.1.key"].key).toBe("validation.configDuplicate");
  });
});

describe("whole form", () => {
  it("builds the body of POST /api/groups from a filled form", () => {
    const form = emptyGroupForm("openai");
    form.name = "openai-main";
    form.display_name = " OpenAI main ";
    form.upstreams = [{ url: "https://api.openai.com", weight: 1 }, { url: "https://backup.example.com/", weight: 0 }];
    form.proxy_keys = "sk-a, sk-b";
    form.headers = [{ key: "x-team", value: "${GROUP_NAME}", remove: false }];
    form.config = [{ key: "max_retries", value: 2 }];
    form.model_redirect_strict = true;
    form.model_redirect_rules = '{"gpt-4o": "gpt-4o-mini"}';
    form.param_overrides = '{"temperature": 0.2}';
    const r = buildGroupPayload(form, OPTIONS);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.payload).toEqual({
      name: "openai-main", display_name: "OpenAI main", description: "", group_type: "standard", channel_type: "openai", sort: 1,
      test_model: "gpt-4.1-nano", validation_endpoint: "",
      upstreams: [{ url: "https://api.openai.com", weight: 1 }, { url: "https://backup.example.com/", weight: 0 }],
      proxy_keys: "sk-a,sk-b", enabled: true, config: { max_retries: 2 }, header_rules: [{ key: "X-Team", value: "${GROUP_NAME}", action: "set" }],
      model_redirect_strict: true, model_redirect_rules: { "gpt-4o": "gpt-4o-mini" }, param_overrides: { temperature: 0.2 },
    });
  });
  it("reports every field's problem at once", () => {
    const form = emptyGroupForm("openai");
    form.name = "Bad Name";
    form.test_model = " ";
    form.validation_endpoint = "https://x/v1";
    form.upstreams = [{ url: "example.com", weight: 1 }];
    form.model_redirect_rules = "{";
    form.param_overrides = "[]";
    const r = buildGroupPayload(form, OPTIONS);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(Object.keys(r.errors).sort()).toEqual(["model_redirect_rules", "name", "param_overrides", "test_model", "upstreams.0.url", "validation_endpoint"]);
  });
  it("ignores the test path for gemini", () => {
    const form = emptyGroupForm("gemini");
    form.name = "gem";
    form.validation_endpoint = "not a path";
    const r = buildGroupPayload(form, []);
    expect(r.ok && r.payload.validation_endpoint).toBe("");
    expect(r.ok && r.payload.upstreams).toEqual([{ url: "https://generativelanguage.googleapis.com", weight: 1 }]);
  });
  it("changing channel replaces untouched defaults only", () => {
    const form = emptyGroupForm("openai");
    applyChannelChange(form, "openai", "anthropic");
    expect(form.test_model).toBe("claude-3-haiku-20240307");
    expect(form.upstreams[0].url).toBe("https://api.anthropic.com");
    form.test_model = "my-model";
    form.upstreams[0].url = "https://mine.example.com";
    applyChannelChange(form, "anthropic", "gemini");
    expect(form.test_model).toBe("my-model");
    expect(form.upstreams[0].url).toBe("https://mine.example.com");
  });
  it("round-trips a stored group", () => {
    const g = {
      id: 1, name: "g", endpoint: "", display_name: "", description: "", group_type: "standard", channel_type: "openai", sort: 3,
      test_model: "m", validation_endpoint: "/v1/chat/completions", upstreams: [{ url: "https://u", weight: 1 }], param_overrides: {},
      model_redirect_rules: { a: "b" }, model_redirect_strict: false, config: { max_retries: 1 },
      header_rules: [{ key: "X-A", value: "", action: "remove" }], proxy_keys: "sk-x", enabled: false, last_validated_at: null, created_at: "",
      updated_at: "",
    } as Group;
    const form = formFromGroup(g, OPTIONS);
    expect(form.headers).toEqual([{ key: "X-A", value: "", remove: true }]);
    expect(form.enabled).toBe(false);
    const r = buildGroupPayload(form, OPTIONS);
    expect(r.ok && r.payload).toMatchObject({ sort: 3, enabled: false, config: { max_retries: 1 }, model_redirect_rules: { a: "b" }, header_rules: [{ key: "X-A", value: "", action: "remove" }] });
  });
  it("new groups start enabled; a group from a server without the field counts as enabled", () => {
    expect(emptyGroupForm().enabled).toBe(true);
    expect(emptyAggregateForm().enabled).toBe(true);
    const old = { name: "g", display_name: "", channel_type: "openai", sort: 1, proxy_keys: "", description: "" } as Group;
    expect(aggregateFormFromGroup(old).enabled).toBe(true);
    expect(aggregateFormFromGroup({ ...old, enabled: false }).enabled).toBe(false);
  });
  it("builds aggregate bodies", () => {
    const form = emptyAggregateForm("anthropic");
    form.name = "all-claude";
    const r = buildAggregatePayload(form);
    expect(r).toEqual({
      ok: true,
      payload: { name: "all-claude", display_name: "", description: "", group_type: "aggregate", channel_type: "anthropic", sort: 1, proxy_keys: "", enabled: true, config: {} },
    });
    expect(buildAggregatePayload({ ...form, enabled: false })).toMatchObject({ ok: true, payload: { enabled: false } });
    expect(buildAggregatePayload({ ...form, name: "" }).ok).toBe(false);
  });
});

describe("aggregate routing settings", () => {
  const ROUTING_OPTIONS: ConfigOption[] = [
    ...OPTIONS,
    { key: "sub_group_failover", name: "Fail over between sub-groups", description: "", default_value: false },
    { key: "model_aware_routing", name: "Model-aware sub-group choice", description: "", default_value: true },
  ];

  it("are not offered to standard groups", () => {
    expect(standardConfigOptions(ROUTING_OPTIONS).map((o) => o.key)).toEqual(["max_retries", "proxy_url", "enable_request_body_logging"]);
  });

  it("take the system values from config-options, else the catalogue defaults", () => {
    expect(routingSystemValue("sub_group_failover", ROUTING_OPTIONS)).toBe(false);
    expect(routingSystemValue("model_aware_routing", ROUTING_OPTIONS)).toBe(true);
    expect(routingSystemValue("sub_group_failover", [])).toBe(true);
    expect(routingSystemValue("model_aware_routing", [])).toBe(false);
  });

  it("tell the effective value and whether the group sets it", () => {
    expect(effectiveRouting({}, "sub_group_failover", [])).toEqual({ value: true, overridden: false });
    expect(effectiveRouting(null, "model_aware_routing", ROUTING_OPTIONS)).toEqual({ value: true, overridden: false });
    expect(effectiveRouting({ sub_group_failover: false }, "sub_group_failover", [])).toEqual({ value: false, overridden: true });
    expect(effectiveRouting({ model_aware_routing: "true" }, "model_aware_routing", [])).toEqual({ value: true, overridden: true });
  });

  it("a switch writes an override only off the system value, unless the group had one", () => {
    expect(routingOverride(true, true, false)).toBeNull();
    expect(routingOverride(false, true, false)).toBe(false);
    expect(routingOverride(true, true, true)).toBe(true);
  });

  it("round-trip through the aggregate form with the group's other settings", () => {
    const g = {
      id: 2, name: "all", endpoint: "", display_name: "", description: "", group_type: "aggregate", channel_type: "openai", sort: 1,
      proxy_keys: "", enabled: true, config: { model_aware_routing: true, max_retries: 1 },
    } as unknown as Group;
    const form = aggregateFormFromGroup(g);
    expect(form.routing).toEqual({ sub_group_failover: null, model_aware_routing: true });
    expect(form.otherConfig).toEqual({ max_retries: 1 });
    expect(buildAggregatePayload(form)).toMatchObject({ ok: true, payload: { config: { max_retries: 1, model_aware_routing: true } } });
    form.routing.sub_group_failover = false;
    form.routing.model_aware_routing = null;
    expect(buildAggregatePayload(form)).toMatchObject({ ok: true, payload: { config: { max_retries: 1, sub_group_failover: false } } });
  });

  it("a standard group that has one (set through the API) keeps it as a boolean", () => {
    const g = {
      id: 1, name: "g", endpoint: "", display_name: "", description: "", group_type: "standard", channel_type: "openai", sort: 1,
      test_model: "m", validation_endpoint: "", upstreams: [{ url: "https://u", weight: 1 }], param_overrides: {}, model_redirect_rules: {},
      model_redirect_strict: false, config: { sub_group_failover: false }, header_rules: [], proxy_keys: "", enabled: true,
      last_validated_at: null, created_at: "", updated_at: "",
    } as Group;
    const r = buildGroupPayload(formFromGroup(g, ROUTING_OPTIONS), ROUTING_OPTIONS);
    expect(r.ok && r.payload.config).toEqual({ sub_group_failover: false });
  });
});
