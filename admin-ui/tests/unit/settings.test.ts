import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeApi, mountScreen, settle } from "./screen-helpers";
import SettingsView from "@/views/SettingsView.vue";
import { changedValues, initialForm, serverFieldError, validateForm, validateSetting } from "@/components/settings/rules";
import { appendProxyKeys, generateProxyKey } from "@/proxy-keys";
import type { SettingCategory, SettingInfo } from "@/api/settings";

const info = (over: Partial<SettingInfo>): SettingInfo => ({
  key: "max_retries", name: "Max retries", value: 3, type: "int", default_value: "3", description: "Extra attempts",
  category: "Key", min_value: 0, required: true, ...over,
});

const CATEGORIES: SettingCategory[] = [
  {
    category_name: "Basic",
    settings: [
      info({ key: "app_url", name: "Project URL", type: "string", value: "http://localhost:3001", default_value: "http://localhost:3001", min_value: undefined }),
      info({ key: "proxy_keys", name: "Global proxy keys", type: "string", value: "sk-one", default_value: "", min_value: undefined }),
      info({ key: "enable_request_body_logging", name: "Log request bodies", type: "bool", value: false, default_value: "false", min_value: undefined, required: false }),
    ],
  },
  {
    category_name: "Key Configuration",
    settings: [
      info({ key: "max_retries", name: "Max retries", value: 3, min_value: 0 }),
      info({ key: "key_validation_concurrency", name: "Validation concurrency", value: 10, min_value: 1 }),
      info({ key: "proxy_url", name: "Proxy URL", type: "string", value: "", default_value: "", min_value: undefined, required: false }),
    ],
  },
];

describe("settings rules", () => {
  it("checks ints: required, whole, at least min_value", () => {
    const s = info({ min_value: 1 });
    expect(validateSetting(s, null)).toEqual({ code: "required" });
    expect(validateSetting(s, 1.5)).toEqual({ code: "integer" });
    expect(validateSetting(s, 0)).toEqual({ code: "min", params: { min: 1 } });
    expect(validateSetting(s, 1)).toBeNull();
    expect(validateSetting(info({ min_value: 0 }), 0)).toBeNull();
  });

  it("checks required strings but lets optional ones be empty", () => {
    expect(validateSetting(info({ type: "string", required: true }), "  ")).toEqual({ code: "required" });
    expect(validateSetting(info({ type: "string", required: false }), "")).toBeNull();
    expect(validateSetting(info({ type: "bool", required: false }), true)).toBeNull();
  });

  it("sends only what changed, trimmed", () => {
    const all = CATEGORIES.flatMap((c) => c.settings);
    const form = initialForm(CATEGORIES);
    expect(changedValues(all, form)).toEqual({});
    form.max_retries = 5;
    form.enable_request_body_logging = true;
    form.proxy_url = " socks5://127.0.0.1:1080 ";
    expect(changedValues(all, form)).toEqual({ max_retries: 5, enable_request_body_logging: true, proxy_url: "socks5://127.0.0.1:1080" });
    form.key_validation_concurrency = 0;
    expect(validateForm(all, form)).toEqual({ key_validation_concurrency: { code: "min", params: { min: 1 } } });
  });

  it("finds the field a server error names", () => {
    expect(serverFieldError("max_retries: must be at least 0", ["max_retries"])).toEqual({ key: "max_retries", message: "must be at least 0" });
    expect(serverFieldError("something else went wrong", ["max_retries"])).toBeNull();
    expect(serverFieldError("other_key: bad", ["max_retries"])).toBeNull();
  });

  it("generates sk- keys of 48 URL-safe characters and appends them", () => {
    const key = generateProxyKey();
    expect(key).toMatch(/^sk-[A-Za-z0-9_-]{48}$/);
    expect(generateProxyKey()).not.toBe(key);
    const fixed = generateProxyKey((b) => b.fill(63));
    expect(fixed).toBe(`sk-${"-".repeat(48)}`);
    const ones = (b: Uint8Array) => b.fill(63);
    expect(appendProxyKeys("", 1, ones)).toBe(fixed);
    expect(appendProxyKeys("sk-a, ,sk-b,", 1, ones)).toBe(`sk-a,sk-b,${fixed}`);
  });
});

describe("settings screen", () => {
  let api: ReturnType<typeof fakeApi>;
  beforeEach(() => {
    api = fakeApi({ "GET /settings": () => structuredClone(CATEGORIES), "PUT /settings": null });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    document.body.innerHTML = "";
  });

  it("shows one card per category with a field per setting", async () => {
    const w = mountScreen(SettingsView);
    await settle();
    expect(w.findAll('[data-testid="settings-category"]')).toHaveLength(2);
    expect(w.find('[data-testid="settings-category"]').text()).toContain("Basic");
    expect(w.find('[data-testid="setting-max_retries"] input').exists()).toBe(true);
    expect(w.find('[data-testid="setting-max_retries"]').text()).toContain("Max retries");
    expect((w.find('[data-testid="setting-app_url"] input').element as HTMLInputElement).value).toBe("http://localhost:3001");
    // An empty text setting stays empty (not Vue's boolean cast of "" to "true").
    expect((w.find('[data-testid="setting-proxy_url"] input').element as HTMLInputElement).value).toBe("");
    w.unmount();
  });

  it("refuses a value below min_value and says why, without calling the server", async () => {
    const w = mountScreen(SettingsView);
    await settle();
    await w.find('[data-testid="setting-key_validation_concurrency"] input').setValue("0");
    await w.find('[data-testid="settings-save"]').trigger("click");
    await settle();
    expect(w.find('[data-testid="setting-key_validation_concurrency"]').text()).toContain("Must be at least 1");
    expect(api.calls.filter((c) => c.method === "PUT")).toHaveLength(0);
    w.unmount();
  });

  it("shows a required error for an emptied required text", async () => {
    const w = mountScreen(SettingsView);
    await settle();
    await w.find('[data-testid="setting-app_url"] input').setValue("");
    await w.find('[data-testid="settings-save"]').trigger("click");
    await settle();
    expect(w.find('[data-testid="setting-app_url"]').text()).toContain("This field is required");
    expect(api.calls.filter((c) => c.method === "PUT")).toHaveLength(0);
    w.unmount();
  });

  it("saves only the changed settings, then loads them again", async () => {
    const w = mountScreen(SettingsView);
    await settle();
    await w.find('[data-testid="setting-max_retries"] input').setValue("5");
    await w.find('[data-testid="settings-save"]').trigger("click");
    await settle();
    const put = api.calls.find((c) => c.method === "PUT");
    expect(put?.url.pathname).toBe("/api/settings");
    expect(put?.body).toEqual({ max_retries: 5 });
    expect(api.calls.filter((c) => c.method === "GET" && c.url.pathname === "/api/settings")).toHaveLength(2);
    w.unmount();
  });

  it("puts a server validation error under the field it names", async () => {
    api = fakeApi({
      "GET /settings": () => structuredClone(CATEGORIES),
      "PUT /settings": () => new Response(JSON.stringify({ code: "VALIDATION_FAILED", message: "app_url: must start with http:// or https://" }), { status: 400 }),
    });
    const w = mountScreen(SettingsView);
    await settle();
    await w.find('[data-testid="setting-app_url"] input').setValue("ftp://example.com");
    await w.find('[data-testid="settings-save"]').trigger("click");
    await settle();
    expect(w.find('[data-testid="setting-app_url"]').text()).toContain("must start with http:// or https://");
    w.unmount();
  });

  it("appends a generated key to the global proxy keys", async () => {
    const w = mountScreen(SettingsView);
    await settle();
    await w.find('[data-testid="settings-generate-proxy-key"]').trigger("click");
    await settle();
    const value = (w.find('[data-testid="setting-proxy_keys"] input').element as HTMLInputElement).value;
    expect(value).toMatch(/^sk-one,sk-[A-Za-z0-9_-]{48}$/);
    w.unmount();
  });
});
