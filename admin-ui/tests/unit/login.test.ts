import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryHistory, createRouter } from "vue-router";
import LoginView from "@/views/LoginView.vue";
import { i18n } from "@/i18n";
import { fakeApi, mountScreen, settle } from "./screen-helpers";

function router() {
  return createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: "/", component: { template: "<div />" } },
      { path: "/login", name: "login", component: LoginView },
    ],
  });
}

describe("login screen", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    document.body.innerHTML = "";
  });

  it("sends one login per Enter (the form's submit), not two", async () => {
    const { calls } = fakeApi({
      "POST /auth/login": () => new Response(JSON.stringify({ success: false, message: "Authentication failed" }), { status: 401 }),
    });
    const r = router();
    await r.push("/login");
    const wrapper = mountScreen(LoginView, { global: { plugins: [i18n, r] } });
    const input = wrapper.get("[data-testid=login-key] input");
    await input.setValue("wrong-key");
    // Enter in the field: the browser submits the form on keydown, then keyup reaches the input.
    await wrapper.get("form").trigger("submit");
    await input.trigger("keyup", { key: "Enter" });
    await settle();
    expect(calls.filter((c) => c.url.pathname === "/api/auth/login")).toHaveLength(1);
    expect(wrapper.get("[data-testid=login-error]").text()).toBe("Authentication failed");
  });

  it("ignores a second submit while the first is still in flight", async () => {
    let release: () => void = () => {};
    const { calls } = fakeApi({
      "POST /auth/login": () =>
        new Promise<Response>((ok) => {
          release = () => ok(new Response(JSON.stringify({ success: false, message: "no" }), { status: 401 }));
        }),
    });
    const r = router();
    await r.push("/login");
    const wrapper = mountScreen(LoginView, { global: { plugins: [i18n, r] } });
    await wrapper.get("[data-testid=login-key] input").setValue("k");
    await wrapper.get("form").trigger("submit");
    await wrapper.get("form").trigger("submit");
    release();
    await settle();
    expect(calls.filter((c) => c.url.pathname === "/api/auth/login")).toHaveLength(1);
  });
});
