// The columns of the logs table and which of them the user chose to see, kept in
// localStorage["log-table-visible-columns"] as GPT-Load does. Time, Status and Model are always
// shown; Actions is not a choice; our extra columns (retry index, TTFB, tokens) start hidden.

export const COLUMN_STORAGE_KEY = "log-table-visible-columns";

export type LogColumnKey =
  | "timestamp" | "is_success" | "request_type" | "is_stream" | "status_code" | "duration_ms"
  | "parent_group_name" | "group_name" | "model" | "key_value" | "source_ip" | "request_path"
  | "upstream_addr" | "error_message" | "retry_index" | "ttfb_ms" | "input_tokens" | "output_tokens"
  | "total_tokens" | "user_agent";

export interface LogColumnDef {
  key: LogColumnKey;
  /** Width in px (the table scrolls sideways when the sum is wider than the screen). */
  width: number;
  mandatory?: boolean;
  /** Hidden until the user turns it on. */
  optional?: boolean;
}

export const LOG_COLUMNS: readonly LogColumnDef[] = [
  { key: "timestamp", width: 170, mandatory: true },
  { key: "is_success", width: 90, mandatory: true },
  { key: "request_type", width: 100 },
  { key: "is_stream", width: 110 },
  { key: "status_code", width: 90 },
  { key: "duration_ms", width: 110 },
  { key: "parent_group_name", width: 140 },
  { key: "group_name", width: 140 },
  { key: "model", width: 170, mandatory: true },
  { key: "key_value", width: 200 },
  { key: "source_ip", width: 130 },
  { key: "request_path", width: 200 },
  { key: "upstream_addr", width: 220 },
  { key: "error_message", width: 240 },
  { key: "retry_index", width: 90, optional: true },
  { key: "ttfb_ms", width: 100, optional: true },
  { key: "input_tokens", width: 110, optional: true },
  { key: "output_tokens", width: 110, optional: true },
  { key: "total_tokens", width: 110, optional: true },
  { key: "user_agent", width: 220, optional: true },
];

export const ACTIONS_WIDTH = 90;

const KNOWN = new Set<string>(LOG_COLUMNS.map((c) => c.key));
export const MANDATORY_COLUMNS: LogColumnKey[] = LOG_COLUMNS.filter((c) => c.mandatory).map((c) => c.key);
export const DEFAULT_COLUMNS: LogColumnKey[] = LOG_COLUMNS.filter((c) => !c.optional).map((c) => c.key);
export const ALL_COLUMNS: LogColumnKey[] = LOG_COLUMNS.map((c) => c.key);

/** A chosen set cleaned up: known keys only, in table order, mandatory ones always in. */
export function normalizeColumns(keys: readonly string[]): LogColumnKey[] {
  const chosen = new Set(keys.filter((k) => KNOWN.has(k)));
  for (const k of MANDATORY_COLUMNS) chosen.add(k);
  return ALL_COLUMNS.filter((k) => chosen.has(k));
}

/** The stored choice, or the defaults when there is none or it cannot be read. */
export function loadVisibleColumns(storage: Storage = localStorage): LogColumnKey[] {
  try {
    const raw = storage.getItem(COLUMN_STORAGE_KEY);
    if (!raw) return [...DEFAULT_COLUMNS];
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed)) return [...DEFAULT_COLUMNS];
    return normalizeColumns(parsed.filter((k): k is string => typeof k === "string"));
  } catch {
    return [...DEFAULT_COLUMNS];
  }
}

export function saveVisibleColumns(keys: readonly string[], storage: Storage = localStorage): LogColumnKey[] {
  const clean = normalizeColumns(keys);
  try {
    storage.setItem(COLUMN_STORAGE_KEY, JSON.stringify(clean));
  } catch {
    // storage full or disabled: the choice lasts for this page only
  }
  return clean;
}
