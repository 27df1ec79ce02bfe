import { afterEach, describe, expect, it, vi } from "vitest";
import { enableAutoUnmount, flushPromises, mount } from "@vue/test-utils";
import { i18n, setLocale } from "@/i18n";
import type { Group, SubGroup } from "@/api/groups";

vi.mock("@/api/groups", () => ({ setSubGroupWeight: vi.fn() }));

import EditWeightModal from "@/components/keys/EditWeightModal.vue";

enableAutoUnmount(afterEach);
afterEach(() => {
  document.body.innerHTML = "";
});

describe("edit weight modal", () => {
  it("updates the share preview while the weight is typed", async () => {
    setLocale("en-US");
    const member = { group: { id: 2, name: "b", display_name: "B" } as Group, weight: 3, total_keys: 0, active_keys: 0, invalid_keys: 0 } as SubGroup;
    const w = mount(EditWeightModal, {
      props: { show: false, aggregateId: 9, member, totalWeight: 4 },
      global: { plugins: [i18n], stubs: { teleport: true } },
    });
    await w.setProps({ show: true });
    await flushPromises();
    expect(w.text()).toContain("Share of traffic after the change: 75%");
    const input = w.find('[data-testid="edit-weight-input"] input');
    (input.element as HTMLInputElement).value = "0";
    await input.trigger("input");
    await flushPromises();
    expect(w.text()).toContain("Share of traffic after the change: 0%");
  });
});
