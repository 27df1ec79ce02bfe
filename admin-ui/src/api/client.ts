// The one HTTP client of the SPA: base `/api`, the admin key as a Bearer token, the UI language as
// Accept-Language, GPT-Load's envelope unwrapped, a toast for every answer a person should see,
// and a 401 anywhere sends the user back to the login page.
import { auth } from "@/composables/auth";
import { currentLocale } from "@/i18n";
import { toast } from "@/composables/toast";

/** An error answer of the admin API, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface Paginated<T> {
  items: T[];
  pagination: { page: number; page_size: number; total_items: number; total_pages: number };
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Do not toast the server's message on success (non-GET calls toast it by default). */
  hideMessage?: boolean;
  /** Do not toast errors; the caller shows them itself. */
  hideError?: boolean;
  /** Milliseconds before the request is abandoned (default 60 s). */
  timeoutMs?: number;
}

/** Called on any 401; the router installs a handler that goes to the login page. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void) {
  onUnauthorized = handler;
}

/** `path` under `/api` with the query's non-empty values. */
export function apiUrl(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return `/api${path}${qs ? `?${qs}` : ""}`;
}

/** A download link that carries the admin key in `?key=` (exports open in a new tab). */
export function downloadUrl(path: string, query?: Query): string {
  return apiUrl(path, { ...query, key: auth.key.value });
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { "Accept-Language": currentLocale() };
  if (auth.key.value) headers.Authorization = `Bearer ${auth.key.value}`;
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) {
    body = opts.body;
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 60_000);
  let res: Response;
  try {
    res = await fetch(apiUrl(path, opts.query), { method, headers, body, signal: controller.signal });
  } catch (e) {
    const err = new ApiError(
      controller.signal.aborted ? "Request timed out" : `Network error: ${(e as Error).message}`,
      0,
      "NETWORK_ERROR",
    );
    if (!opts.hideError) toast.error(err.message);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const payload = await readPayload(res);
  if (res.status === 401) {
    auth.logout();
    onUnauthorized();
    throw new ApiError(messageOf(payload) ?? "Unauthorized", 401, "UNAUTHORIZED");
  }
  if (!res.ok) {
    const err = new ApiError(
      messageOf(payload) ?? `Request failed: ${res.status}`,
      res.status,
      (payload as { code?: string } | null)?.code ?? String(res.status),
    );
    if (!opts.hideError) toast.error(err.message);
    throw err;
  }
  if (method !== "GET" && !opts.hideMessage) {
    const msg = messageOf(payload);
    if (msg) toast.success(msg);
  }
  if (payload && typeof payload === "object" && "code" in payload && "data" in payload) {
    return (payload as { data: T }).data;
  }
  return payload as T;
}

async function readPayload(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

function messageOf(payload: unknown): string | undefined {
  if (payload && typeof payload === "object") {
    const p = payload as { message?: unknown; error?: unknown };
    if (typeof p.message === "string" && p.message) return p.message;
    if (typeof p.error === "string" && p.error) return p.error;
  }
  return undefined;
}

export const api = {
  get: <T>(path: string, query?: Query, opts: RequestOptions = {}) =>
    request<T>("GET", path, { ...opts, query }),
  post: <T>(path: string, body?: unknown, opts: RequestOptions = {}) =>
    request<T>("POST", path, { ...opts, body }),
  put: <T>(path: string, body?: unknown, opts: RequestOptions = {}) =>
    request<T>("PUT", path, { ...opts, body }),
  delete: <T>(path: string, opts: RequestOptions = {}) => request<T>("DELETE", path, opts),
};
