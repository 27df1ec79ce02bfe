import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { enableAutoUnmount, flushPromises, mount } from "@vue/test-utils";
import { nextTick } from "vue";
import { NSelect } from "naive-ui";
import { i18n, setLocale } from "@/i18n";
import type { Group } from "@/api/groups";
import type { ApiKey, KeyQuery } from "@/api/keys";

const api = vi.hoisted(() => ({
  listKeys: vi.fn(),
  addKeysText: vi.fn(),
  addKeysFile: vi.fn(),
  validateGroup: vi.fn(),
  disableKeys: vi.fn(),
  enableKeys: vi.fn(),
}));
vi.mock("@/api/keys", () => ({
  listKeys: (q: KeyQuery) => api.listKeys(q),
  addKeysText: (id: number, text: string) => api.addKeysText(id, text),
  addKeysFile: (id: number, file: File) => api.addKeysFile(id, file),
  validateGroup: (id: number, status?: string) => api.validateGroup(id, status),
  disableKeys: (id: number, text: string) => api.disableKeys(id, text),
  enableKeys: (id: number, text: string) => api.enableKeys(id, text),
  deleteKeysAsync: vi.fn(), deleteKeys: vi.fn(), restoreKeys: vi.fn(), restoreAllInvalid: vi.fn(), clearAllInvalid: vi.fn(),
  clearAllKeys: vi.fn(), testKeys: vi.fn(), updateKeyNotes: vi.fn(), exportKeysUrl: () => "/api/keys/export",
}));
const toasts = vi.hoisted(() => ({ success: vi.fn(), error: vi.fn(), info: vi.fn(), warning: vi.fn() }));
vi.mock("@/composables/toast", () => ({ toast: toasts, confirm: async () => true }));
const taskState = vi.hoisted(() => ({ watch: vi.fn(), tick: null as unknown as { value: number } }));
vi.mock("@/composables/tasks", async () => {
  const { ref: vueRef } = await import("vue");
  taskState.tick = vueRef(0);
  return { tasks: { watch: () => taskState.watch(), finishedTick: taskState.tick } };
});

import KeyTable from "@/components/keys/KeyTable.vue";
import AddKeysModal from "@/components/keys/AddKeysModal.vue";

const GROUP = { id: 4, name: "openai", group_type: "standard", channel_type: "openai" } as Group;

function key(id: number, status: ApiKey["status"], extra: Partial<ApiKey> = {}): ApiKey {
  return {
    id, key_value: `sk-test-key-number-${id}-abcdefgh`, key_hash: "", group_id: 4, status, notes: "", request_count: id, failure_count: 0,
    last_used_at: null, created_at: "", updated_at: "", cooldown_until: null, ...extra,
  };
}

function page(items: ApiKey[], total = items.length) {
  return { items, pagination: { page: 1, page_size: 12, total_items: total, total_pages: Math.ceil(total / 12) } };
}

enableAutoUnmount(afterEach);

const mountOpts = { global: { plugins: [i18n], stubs: { teleport: true } } };

beforeEach(() => {
  setLocale("en-US");
  Object.values(api).forEach((f) => f.mockReset());
  taskState.watch.mockReset();
  Object.values(toasts).forEach((f) => f.mockReset());
});
afterEach(() => {
  document.body.innerHTML = "";
});

describe("key table", () => {
  it("shows one card per key with its status", async () => {
    api.listKeys.mockResolvedValue(page([key(1, "active"), key(2, "cooling", { cooldown_until: "2030-01-01T00:00:00Z" }), key(3, "invalid", { notes: "from team B" })], 30));
    const w = mount(KeyTable, { props: { group: GROUP }, ...mountOpts });
    await flushPromises();
    expect(api.listKeys).toHaveBeenCalledTimes(1);
    expect(api.listKeys).toHaveBeenCalledWith({ group_id: 4, page: 1, page_size: 12, status: undefined, key_value: undefined });
    const cards = w.findAll('[data-testid="key-card"]');
    expect(cards.map((c) => c.attributes("data-status"))).toEqual(["active", "cooling", "invalid"]);
    expect(cards.map((c) => c.find('[data-testid="key-status"]').text())).toEqual(["Active", "Cooling", "Invalid"]);
    // the key is masked; a note replaces it while hidden
    expect((cards[0].find('[data-testid="key-value"] input').element as HTMLInputElement).value).not.toContain("number-1");
    expect((cards[2].find('[data-testid="key-value"] input').element as HTMLInputElement).value).toBe("from team B");
    expect(cards[1].text()).toContain("back in rotation");
    // restore only for invalid keys
    expect(cards.map((c) => c.find('[data-testid="key-restore"]').exists())).toEqual([false, false, true]);
    expect(w.text()).toContain("Total 30 records");
    expect(w.text()).toContain("Page 1 of 3");
  });

  it("reveals the full key on demand", async () => {
    api.listKeys.mockResolvedValue(page([key(1, "active")]));
    const w = mount(KeyTable, { props: { group: GROUP }, ...mountOpts });
    await flushPromises();
    await w.find('[data-testid="key-toggle"]').trigger("click");
    expect((w.find('[data-testid="key-value"] input').element as HTMLInputElement).value).toBe("sk-test-key-number-1-abcdefgh");
  });

  it("shows a disabled key in grey with Enable; every other key offers Disable", async () => {
    api.listKeys.mockResolvedValue(page([key(1, "active"), key(2, "cooling"), key(3, "invalid"), key(4, "disabled")]));
    const w = mount(KeyTable, { props: { group: GROUP }, ...mountOpts });
    await flushPromises();
    const cards = w.findAll('[data-testid="key-card"]');
    const off = cards[3];
    expect(off.attributes("data-status")).toBe("disabled");
    expect(off.classes()).toContain("status-disabled");
    const tag = off.find('[data-testid="key-status"]');
    expect(tag.text()).toBe("Disabled");
    expect(tag.classes().some((c) => /n-tag--(success|warning|error|info|primary)-type/.test(c))).toBe(false);
    expect(off.find('[data-testid="key-disabled-note"]').text()).toContain("not used or validated");
    expect(cards.map((c) => c.find('[data-testid="key-disable"]').exists())).toEqual([true, true, true, false]);
    expect(cards.map((c) => c.find('[data-testid="key-enable"]').exists())).toEqual([false, false, false, true]);
    expect(off.find('[data-testid="key-enable"]').text()).toBe("Enable");
  });

  it("disables a key from its card, toasts the count and reloads the list", async () => {
    api.listKeys.mockResolvedValue(page([key(1, "active")]));
    api.disableKeys.mockResolvedValue({ disabled_count: 1, ignored_count: 0, total_in_group: 1 });
    const w = mount(KeyTable, { props: { group: GROUP }, ...mountOpts });
    await flushPromises();
    expect(api.listKeys).toHaveBeenCalledTimes(1);
    api.listKeys.mockResolvedValue(page([key(1, "disabled")]));
    await w.find('[data-testid="key-disable"]').trigger("click");
    await flushPromises();
    expect(api.disableKeys).toHaveBeenCalledWith(4, "sk-test-key-number-1-abcdefgh");
    expect(toasts.success).toHaveBeenCalledWith("Keys disabled: 1");
    expect(api.listKeys).toHaveBeenCalledTimes(2);
    expect(w.emitted("changed")).toBeTruthy();
    expect(w.find('[data-testid="key-card"]').attributes("data-status")).toBe("disabled");
    expect(w.find('[data-testid="key-enable"]').exists()).toBe(true);
  });

  it("enables a disabled key from its card; a key that did not change is reported, not claimed", async () => {
    api.listKeys.mockResolvedValue(page([key(2, "disabled")]));
    api.enableKeys.mockResolvedValue({ enabled_count: 0, ignored_count: 1, total_in_group: 1 });
    const w = mount(KeyTable, { props: { group: GROUP }, ...mountOpts });
    await flushPromises();
    await w.find('[data-testid="key-enable"]').trigger("click");
    await flushPromises();
    expect(api.enableKeys).toHaveBeenCalledWith(4, "sk-test-key-number-2-abcdefgh");
    expect(toasts.success).not.toHaveBeenCalled();
    expect(toasts.info).toHaveBeenCalledWith(expect.stringContaining("No key was enabled"));
    expect(api.listKeys).toHaveBeenCalledTimes(2);
  });

  it("filters by status (All / Active / Cooling / Invalid / Disabled) and searches by exact key", async () => {
    api.listKeys.mockResolvedValue(page([]));
    const w = mount(KeyTable, { props: { group: GROUP }, ...mountOpts });
    await flushPromises();
    const select = w.findComponent(NSelect);
    expect((select.props("options") as { value: string }[]).map((o) => o.value)).toEqual(["all", "active", "cooling", "invalid", "disabled"]);
    expect((select.props("options") as { label: string }[]).at(-1)?.label).toBe("Disabled");
    select.vm.$emit("update:value", "cooling");
    await flushPromises();
    expect(api.listKeys).toHaveBeenLastCalledWith(expect.objectContaining({ status: "cooling", page: 1 }));
    await w.find('[data-testid="key-search"] input').setValue(" sk-exact ");
    await w.find('[data-testid="key-search-submit"]').trigger("click");
    await flushPromises();
    expect(api.listKeys).toHaveBeenLastCalledWith(expect.objectContaining({ status: "cooling", key_value: "sk-exact" }));
    expect(w.text()).toContain("No keys match the filter");
  });

  it("reloads when a background task finishes", async () => {
    api.listKeys.mockResolvedValue(page([]));
    mount(KeyTable, { props: { group: GROUP }, ...mountOpts });
    await flushPromises();
    const before = api.listKeys.mock.calls.length;
    taskState.tick.value++;
    await nextTick();
    await flushPromises();
    expect(api.listKeys.mock.calls.length).toBe(before + 1);
  });

  it("starts validating all keys from the more-actions menu", async () => {
    api.listKeys.mockResolvedValue(page([]));
    api.validateGroup.mockResolvedValue({ is_running: true });
    const w = mount(KeyTable, { props: { group: GROUP }, attachTo: document.body, ...mountOpts });
    await flushPromises();
    await w.find('[data-testid="key-actions-menu"]').trigger("click");
    await flushPromises();
    const item = document.querySelector('[data-testid="key-action-validate-all"]') as HTMLElement | null;
    expect(item).not.toBeNull();
    expect(item?.textContent).toContain("Validate all keys");
    item?.click();
    await flushPromises();
    expect(api.validateGroup).toHaveBeenCalledWith(4, undefined);
    expect(taskState.watch).toHaveBeenCalled();
  });
});

describe("disable / enable keys in bulk", () => {
  async function openFromMenu(action: "disable-keys" | "enable-keys") {
    api.listKeys.mockResolvedValue(page([]));
    const w = mount(KeyTable, { props: { group: GROUP }, attachTo: document.body, ...mountOpts });
    await flushPromises();
    await w.find('[data-testid="key-actions-menu"]').trigger("click");
    await flushPromises();
    const item = document.querySelector(`[data-testid="key-action-${action}"]`) as HTMLElement | null;
    expect(item).not.toBeNull();
    item?.click();
    await flushPromises();
    return w;
  }

  it("disables the pasted keys from the more-actions menu", async () => {
    api.disableKeys.mockResolvedValue({ disabled_count: 2, ignored_count: 0, total_in_group: 5 });
    const w = await openFromMenu("disable-keys");
    const modal = w.find('[data-testid="switch-keys-modal"]');
    expect(modal.attributes("data-mode")).toBe("disable");
    expect(modal.text()).toContain("Disable keys of openai");
    expect(modal.text()).toContain("Nothing is deleted");
    await w.find('[data-testid="switch-keys-submit"]').trigger("click");
    await flushPromises();
    expect(w.text()).toContain("Enter at least one key");
    expect(api.disableKeys).not.toHaveBeenCalled();
    await w.find('[data-testid="switch-keys-text"] textarea').setValue("sk-one\nsk-two");
    expect(w.text()).toContain("2 keys recognised");
    const loads = api.listKeys.mock.calls.length;
    await w.find('[data-testid="switch-keys-submit"]').trigger("click");
    await flushPromises();
    expect(api.disableKeys).toHaveBeenCalledWith(4, "sk-one\nsk-two");
    expect(toasts.success).toHaveBeenCalledWith("Keys disabled: 2");
    expect(api.listKeys.mock.calls.length).toBe(loads + 1);
    expect(w.find('[data-testid="switch-keys-modal"]').exists()).toBe(false);
  });

  it("enables the pasted keys and says how many were not changed", async () => {
    api.enableKeys.mockResolvedValue({ enabled_count: 1, ignored_count: 2, total_in_group: 5 });
    const w = await openFromMenu("enable-keys");
    expect(w.find('[data-testid="switch-keys-modal"]').text()).toContain("Enable keys of openai");
    await w.find('[data-testid="switch-keys-text"] textarea').setValue("sk-a, sk-b sk-c");
    await w.find('[data-testid="switch-keys-submit"]').trigger("click");
    await flushPromises();
    expect(api.enableKeys).toHaveBeenCalledWith(4, "sk-a, sk-b sk-c");
    expect(api.disableKeys).not.toHaveBeenCalled();
    expect(toasts.success).toHaveBeenCalledWith("Keys enabled: 1; 2 not changed (not in this group or not disabled)");
  });
});

describe("add keys", () => {
  function mountAdd() {
    return mount(AddKeysModal, { props: { show: false, group: GROUP }, ...mountOpts });
  }

  it("requires at least one key, then starts the import from the text", async () => {
    api.addKeysText.mockResolvedValue({ is_running: true });
    const w = mountAdd();
    await w.setProps({ show: true });
    await flushPromises();
    await w.find('[data-testid="add-keys-submit"]').trigger("click");
    await flushPromises();
    expect(w.text()).toContain("Enter at least one key");
    expect(api.addKeysText).not.toHaveBeenCalled();
    await w.find('[data-testid="add-keys-text"] textarea').setValue("sk-one\nsk-two\n");
    expect(w.text()).toContain("2 keys recognised");
    await w.find('[data-testid="add-keys-submit"]').trigger("click");
    await flushPromises();
    expect(api.addKeysText).toHaveBeenCalledWith(4, "sk-one\nsk-two\n");
    expect(taskState.watch).toHaveBeenCalled();
    expect(w.emitted("update:show")?.at(-1)).toEqual([false]);
  });

  it("uploads a .txt file in file mode and refuses other files", async () => {
    api.addKeysFile.mockResolvedValue({ is_running: true });
    const w = mountAdd();
    await w.setProps({ show: true });
    await flushPromises();
    await w.find('[data-testid="add-keys-file-mode"]').trigger("click");
    await flushPromises();
    const fileInput = w.find('input[type="file"][data-testid="add-keys-file"]');
    expect(fileInput.exists()).toBe(true);

    const setFile = async (file: File) => {
      Object.defineProperty(fileInput.element, "files", { value: [file], configurable: true });
      await fileInput.trigger("change");
    };
    await setFile(new File(["a\nb"], "keys.csv", { type: "text/csv" }));
    expect(w.text()).toContain("Only .txt files are accepted");
    await w.find('[data-testid="add-keys-submit"]').trigger("click");
    await flushPromises();
    expect(w.text()).toContain("Choose a .txt file");
    expect(api.addKeysFile).not.toHaveBeenCalled();

    const good = new File(["sk-a\nsk-b\n"], "keys.txt", { type: "text/plain" });
    await setFile(good);
    expect(w.find('[data-testid="add-keys-file-name"]').text()).toBe("keys.txt");
    await w.find('[data-testid="add-keys-submit"]').trigger("click");
    await flushPromises();
    expect(api.addKeysFile).toHaveBeenCalledWith(4, good);
    expect(api.addKeysText).not.toHaveBeenCalled();
  });
});
