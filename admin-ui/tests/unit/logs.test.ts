import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeApi, mountScreen, settle } from "./screen-helpers";
import LogsView from "@/views/LogsView.vue";
import { emptyLogFilters, logExportUrl, logQuery, prettyBody, type LogEntry } from "@/api/logs";
import {
  COLUMN_STORAGE_KEY, DEFAULT_COLUMNS, loadVisibleColumns, normalizeColumns, saveVisibleColumns,
} from "@/components/logs/columns";
import { auth } from "@/composables/auth";

const KEY = "sk-live-abcdefghijklmnopqrstuvwxyz0123";

const log = (over: Partial<LogEntry> = {}): LogEntry => ({
  id: "log-1", timestamp: "2026-11-30T10:00:00.000Z", group_id: 1, group_name: "openai", parent_group_id: 0,
  parent_group_name: "", key_value: KEY, key_hash: "h", model: "gpt-4o-mini", is_success: false, source_ip: "10.0.0.9",
  status_code: 401, request_path: "/proxy/openai/v1/chat/completions", duration_ms: 1250, error_message: "invalid api key",
  user_agent: "curl/8.5", request_type: "final", upstream_addr: "https://api.openai.com", is_stream: false,
  request_body: '{"model":"gpt-4o-mini","messages":[]}', retry_index: 1, ttfb_ms: 300, input_tokens: 9, output_tokens: 3,
  total_tokens: 12, ...over,
});

const page = (items: LogEntry[]) => ({ items, pagination: { page: 1, page_size: 15, total_items: items.length, total_pages: 1 } });

describe("log query", () => {
  it("sends every filter as the API names it, with ISO UTC times", () => {
    const f = {
      ...emptyLogFilters(),
      status: "error" as const,
      request_type: "final" as const,
      status_code: " 429 ",
      parent_group_name: "agg",
      group_name: " openai ",
      model: "gpt-4o",
      key_value: "sk-1",
      error_contains: "quota",
      start_time: Date.UTC(2026, 10, 30, 8, 0, 0),
      end_time: Date.UTC(2026, 10, 30, 9, 30, 0),
    };
    expect(logQuery(f)).toEqual({
      is_success: "false",
      request_type: "final",
      status_code: "429",
      parent_group_name: "agg",
      group_name: "openai",
      model: "gpt-4o",
      key_value: "sk-1",
      source_ip: undefined,
      error_contains: "quota",
      start_time: "2026-11-30T08:00:00.000Z",
      end_time: "2026-11-30T09:30:00.000Z",
    });
    expect(logQuery({ ...emptyLogFilters(), status: "success" }).is_success).toBe("true");
    expect(Object.values(logQuery(emptyLogFilters())).every((v) => v === undefined)).toBe(true);
  });

  it("builds the export link with the same filters and the admin key", () => {
    auth.login("admin-secret");
    const url = new URL(logExportUrl({ ...emptyLogFilters(), group_name: "openai", status: "error" }), "http://x");
    expect(url.pathname).toBe("/api/logs/export");
    expect(url.searchParams.get("group_name")).toBe("openai");
    expect(url.searchParams.get("is_success")).toBe("false");
    expect(url.searchParams.get("key")).toBe("admin-secret");
    auth.logout();
  });

  it("pretty-prints JSON bodies and leaves other text alone", () => {
    expect(prettyBody('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(prettyBody("not json")).toBe("not json");
    expect(prettyBody("")).toBe("");
  });
});

describe("column choice", () => {
  beforeEach(() => localStorage.clear());

  it("defaults to GPT-Load's columns, our extra ones hidden", () => {
    const cols = loadVisibleColumns();
    expect(cols).toEqual(DEFAULT_COLUMNS);
    expect(cols).toContain("key_value");
    expect(cols).not.toContain("total_tokens");
  });

  it("keeps Time, Status and Model whatever is stored", () => {
    expect(normalizeColumns(["status_code", "bogus"])).toEqual(["timestamp", "is_success", "status_code", "model"]);
    localStorage.setItem(COLUMN_STORAGE_KEY, "not json");
    expect(loadVisibleColumns()).toEqual(DEFAULT_COLUMNS);
  });

  it("remembers the choice in localStorage", () => {
    saveVisibleColumns(["total_tokens", "model"]);
    expect(JSON.parse(localStorage.getItem(COLUMN_STORAGE_KEY) ?? "[]")).toEqual(["timestamp", "is_success", "model", "total_tokens"]);
    expect(loadVisibleColumns()).toEqual(["timestamp", "is_success", "model", "total_tokens"]);
  });
});

describe("logs screen", () => {
  let api: ReturnType<typeof fakeApi>;
  beforeEach(() => {
    localStorage.clear();
    api = fakeApi({ "GET /logs": () => page([log(), log({ id: "log-2", is_success: true, status_code: 200, error_message: "", request_type: "retry" })]) });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    document.body.innerHTML = "";
  });

  it("lists logs with masked keys, tags and status codes", async () => {
    const w = mountScreen(LogsView);
    await settle();
    const table = w.find('[data-testid="log-table"]');
    expect(table.text()).toContain("gpt-4o-mini");
    expect(table.text()).toContain("401");
    expect(table.text()).toContain("Failed");
    expect(table.text()).toContain("Retry");
    expect(table.text()).not.toContain(KEY);
    expect(table.text()).toContain(KEY.slice(-4));
    expect(w.find('[data-testid="log-total"]').text()).toContain("2");
    await w.find('[data-testid="log-key-toggle"]').trigger("click");
    expect(w.find('[data-testid="log-table"]').text()).toContain(KEY);
    w.unmount();
  });

  it("searches with the filters typed, from page 1", async () => {
    const w = mountScreen(LogsView);
    await settle();
    await w.find('[data-testid="log-filter-group"] input').setValue("openai");
    await w.find('[data-testid="log-filter-model"] input').setValue("gpt-4o");
    await w.find('[data-testid="log-filter-error"] input').setValue("quota");
    await w.find('[data-testid="log-filter-status-code"] input').setValue("429");
    await w.find('[data-testid="log-search"]').trigger("click");
    await settle();
    const last = api.calls.at(-1)!;
    expect(last.url.pathname).toBe("/api/logs");
    expect(Object.fromEntries(last.url.searchParams)).toEqual({
      group_name: "openai", model: "gpt-4o", error_contains: "quota", status_code: "429", page: "1", page_size: "15",
    });
    await w.find('[data-testid="log-reset"]').trigger("click");
    await settle();
    expect(Object.fromEntries(api.calls.at(-1)!.url.searchParams)).toEqual({ page: "1", page_size: "15" });
    w.unmount();
  });

  it("shows the rows of the latest search when an older answer arrives late", async () => {
    const held: { url: URL; release: () => void }[] = [];
    fakeApi({
      "GET /logs": (c: { url: URL }) =>
        new Promise<Response>((ok) => {
          const model = c.url.searchParams.get("model") ?? "any-model";
          held.push({
            url: c.url,
            release: () => ok(new Response(JSON.stringify({ code: 0, message: "Success", data: page([log({ id: model, model })]) }), { status: 200 })),
          });
        }),
    });
    const w = mountScreen(LogsView);
    await settle();
    // Enter in a filter searches even while the first page is still loading.
    await w.find('[data-testid="log-filter-model"] input').setValue("newest-model");
    await w.find('[data-testid="log-filter-model"] input').trigger("keyup", { key: "Enter" });
    await settle();
    expect(held).toHaveLength(2);
    held[1].release();
    await settle();
    held[0].release();
    await settle();
    const table = w.find('[data-testid="log-table"]').text();
    expect(table).toContain("newest-model");
    expect(table).not.toContain("any-model");
    w.unmount();
  });

  it("downloads the key export for the current filters", async () => {
    auth.login("admin-secret");
    const clicked: string[] = [];
    const spy = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this.href);
    });
    const w = mountScreen(LogsView);
    await settle();
    await w.find('[data-testid="log-filter-group"] input').setValue("openai");
    await w.find('[data-testid="log-export"]').trigger("click");
    expect(clicked).toHaveLength(1);
    const url = new URL(clicked[0]);
    expect(url.pathname).toBe("/api/logs/export");
    expect(url.searchParams.get("group_name")).toBe("openai");
    expect(url.searchParams.get("key")).toBe("admin-secret");
    spy.mockRestore();
    auth.logout();
    w.unmount();
  });

  it("shows only the chosen columns, as stored", async () => {
    localStorage.setItem(COLUMN_STORAGE_KEY, JSON.stringify(["timestamp", "is_success", "model", "total_tokens"]));
    const w = mountScreen(LogsView);
    await settle();
    const headers = w.findAll('[data-testid="log-table"] th').map((th) => th.text());
    expect(headers).toEqual(expect.arrayContaining(["Time", "Status", "Model", "Total tokens", "Actions"]));
    expect(headers).not.toContain("Key");
    expect(headers).not.toContain("Request path");
    w.unmount();
  });

  it("opens the detail with the request path, pretty body and error", async () => {
    const w = mountScreen(LogsView);
    await settle();
    await w.find('[data-testid="log-detail"]').trigger("click");
    await settle();
    const modal = document.querySelector('[data-testid="log-detail-modal"]');
    expect(modal).not.toBeNull();
    const text = modal!.textContent ?? "";
    expect(text).toContain("/proxy/openai/v1/chat/completions");
    expect(text).toContain("https://api.openai.com");
    expect(text).toContain('"model": "gpt-4o-mini"');
    expect(text).toContain("invalid api key");
    expect(text).toContain(KEY);
    w.unmount();
  });
});

describe("column chooser", () => {
  beforeEach(() => {
    localStorage.clear();
    fakeApi({ "GET /logs": () => page([log()]) });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    document.body.innerHTML = "";
  });

  it("deselects all but the mandatory columns, selects all, and remembers it", async () => {
    const w = mountScreen(LogsView);
    await settle();
    await w.find('[data-testid="log-columns"]').trigger("click");
    await settle();
    const none = document.querySelector<HTMLElement>('[data-testid="log-columns-none"]');
    expect(none).not.toBeNull();
    none!.click();
    await settle();
    expect(JSON.parse(localStorage.getItem(COLUMN_STORAGE_KEY)!)).toEqual(["timestamp", "is_success", "model"]);
    let headers = w.findAll('[data-testid="log-table"] th').map((th) => th.text());
    expect(headers).toEqual(["Time", "Status", "Model", "Actions"]);
    document.querySelector<HTMLElement>('[data-testid="log-columns-all"]')!.click();
    await settle();
    headers = w.findAll('[data-testid="log-table"] th').map((th) => th.text());
    expect(headers).toContain("Total tokens");
    expect(headers).toContain("Upstream address");
    expect(JSON.parse(localStorage.getItem(COLUMN_STORAGE_KEY)!)).toHaveLength(20);
    w.unmount();
  });
});
