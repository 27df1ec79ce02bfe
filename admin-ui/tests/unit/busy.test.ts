import { describe, expect, it } from "vitest";
import { ApiError } from "@/api/client";
import { useLatest } from "@/composables/busy";

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

describe("useLatest", () => {
  it("drops an older answer that arrives after a newer load started, and stays loading until the newest is answered", async () => {
    const { loading, load } = useLatest();
    const older = deferred<string>();
    const newer = deferred<string>();
    const first = load(() => older.promise);
    const second = load(() => newer.promise);
    older.resolve("old");
    expect(await first).toBeNull();
    expect(loading.value).toBe(true);
    newer.resolve("new");
    expect(await second).toBe("new");
    expect(loading.value).toBe(false);
  });

  it("answers undefined for an API error and rethrows anything else", async () => {
    const { loading, load } = useLatest();
    expect(await load(() => Promise.reject(new ApiError("nope", 500, "X")))).toBeUndefined();
    expect(loading.value).toBe(false);
    await expect(load(() => Promise.reject(new TypeError("bug")))).rejects.toThrow("bug");
  });
});
