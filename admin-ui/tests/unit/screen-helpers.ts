// Shared by the screen tests: the app's i18n in English, a fake admin API on `fetch` that
// records every call, and the browser APIs jsdom lacks.
import { vi } from "vitest";
import { flushPromises, mount, type ComponentMountingOptions } from "@vue/test-utils";
import { i18n } from "@/i18n";
import type { Component } from "vue";

if (!("ResizeObserver" in globalThis)) {
  (globalThis as Record<string, unknown>).ResizeObserver = class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
}

export interface ApiCall {
  method: string;
  url: URL;
  body: unknown;
}

type Handler = (call: ApiCall) => unknown;

/** Answers `/api/...` calls from `routes` ("GET /logs" → data, or a function of the call). */
export function fakeApi(routes: Record<string, unknown>) {
  const calls: ApiCall[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://localhost");
    const method = (init?.method ?? "GET").toUpperCase();
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    const call = { method, url, body };
    calls.push(call);
    const route = routes[`${method} ${url.pathname.replace(/^\/api/, "")}`];
    if (route === undefined) {
      return new Response(JSON.stringify({ code: "NOT_FOUND", message: "Resource not found" }), { status: 404 });
    }
    // A handler may answer later (a Promise), to test answers arriving out of order.
    const out = typeof route === "function" ? await (route as Handler)(call) : route;
    if (out instanceof Response) return out;
    return new Response(JSON.stringify({ code: 0, message: "Success", data: out }), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, fetchMock };
}

export function mountScreen<T extends Component>(component: T, options: ComponentMountingOptions<T> = {}) {
  i18n.global.locale.value = "en-US";
  return mount(component, {
    attachTo: document.body,
    ...options,
    global: { plugins: [i18n], ...(options.global ?? {}) },
  } as ComponentMountingOptions<T>);
}

export async function settle() {
  for (let i = 0; i < 5; i++) await flushPromises();
}
