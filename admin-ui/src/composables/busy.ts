// A call to the admin API with a busy flag for its button or spinner: the API client has already
// toasted an `ApiError`, so the caller only sees `undefined`; any other error is a bug and is thrown.
// Loads that a user can re-trigger before the answer (filters, pages, periods) keep only the newest
// answer (`useLatest`).
import { ref } from "vue";
import { ApiError } from "@/api/client";

/** The call's value, or `undefined` when it failed with an `ApiError` (the client has shown it). */
export async function attempt<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof ApiError) return undefined;
    throw e;
  }
}

/** `busy` is true while a call started by `run` is in flight. */
export function useBusy() {
  const busy = ref(false);
  async function run<T>(call: () => Promise<T>): Promise<T | undefined> {
    busy.value = true;
    try {
      return await attempt(call);
    } finally {
      busy.value = false;
    }
  }
  return { busy, run };
}

/**
 * Loads of which only the newest counts. `load` resolves to the call's value, to `undefined` when it
 * failed with an `ApiError`, or to `null` when a newer load started meanwhile (its answer is
 * dropped, so an older, slower answer never overwrites a newer one). `loading` stays true until the
 * newest load is answered.
 */
export function useLatest() {
  const loading = ref(false);
  let newest = 0;
  async function load<T>(call: () => Promise<T>): Promise<T | undefined | null> {
    const seq = ++newest;
    loading.value = true;
    try {
      const value = await attempt(call);
      return seq === newest ? value : null;
    } finally {
      if (seq === newest) loading.value = false;
    }
  }
  return { loading, load };
}
