// Request logs of the admin API: GET /logs (paginated, newest first) with GPT-Load's filters, and
// the key export GET /logs/export (CSV of the keys seen in the matching logs).
import { api, downloadUrl, type Paginated, type Query } from "@/api/client";

/** `LogResponse`: one upstream attempt. `key_value` is the full key (the UI masks it). */
export interface LogEntry {
  id: string;
  timestamp: string;
  group_id: number;
  group_name: string;
  parent_group_id: number;
  parent_group_name: string;
  key_value: string;
  key_hash: string;
  model: string;
  is_success: boolean;
  source_ip: string;
  status_code: number;
  request_path: string;
  duration_ms: number;
  error_message: string;
  user_agent: string;
  /** `retry` (another attempt followed) or `final`. */
  request_type: string;
  upstream_addr: string;
  is_stream: boolean;
  request_body: string;
  retry_index: number;
  ttfb_ms: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

/** The filter bar as the user fills it. Times are epoch milliseconds from the date pickers. */
export interface LogFilters {
  status: "" | "success" | "error";
  request_type: "" | "retry" | "final";
  status_code: string;
  parent_group_name: string;
  group_name: string;
  model: string;
  key_value: string;
  source_ip: string;
  error_contains: string;
  start_time: number | null;
  end_time: number | null;
}

export const PAGE_SIZES = [15, 30, 50, 100] as const;

export function emptyLogFilters(): LogFilters {
  return {
    status: "",
    request_type: "",
    status_code: "",
    parent_group_name: "",
    group_name: "",
    model: "",
    key_value: "",
    source_ip: "",
    error_contains: "",
    start_time: null,
    end_time: null,
  };
}

/** The query of /logs and /logs/export for a filter set: trimmed texts, booleans, ISO UTC times. */
export function logQuery(f: LogFilters): Query {
  const text = (s: string) => s.trim() || undefined;
  const iso = (ms: number | null) => (ms === null || !Number.isFinite(ms) ? undefined : new Date(ms).toISOString());
  return {
    is_success: f.status === "success" ? "true" : f.status === "error" ? "false" : undefined,
    request_type: f.request_type || undefined,
    status_code: text(f.status_code),
    parent_group_name: text(f.parent_group_name),
    group_name: text(f.group_name),
    model: text(f.model),
    key_value: text(f.key_value),
    source_ip: text(f.source_ip),
    error_contains: text(f.error_contains),
    start_time: iso(f.start_time),
    end_time: iso(f.end_time),
  };
}

export const listLogs = (filters: LogFilters, page: number, pageSize: number) =>
  api.get<Paginated<LogEntry>>("/logs", { ...logQuery(filters), page, page_size: pageSize });

/** The download link of the key export for these filters (carries the admin key). */
export const logExportUrl = (filters: LogFilters) => downloadUrl("/logs/export", logQuery(filters));

/** A request body pretty-printed when it is JSON, else as stored. */
export function prettyBody(body: string): string {
  if (!body) return "";
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}
