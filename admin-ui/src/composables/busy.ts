// A call to the admin API with a busy flag for its button or spinner: the API client has already
// toasted an `ApiError`, so the caller only sees `undefined`; any other error is a bug and is thrown.
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
