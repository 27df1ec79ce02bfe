// The dashboard's API: the stat cards (GET /dashboard/stats), the 24-hour chart
// (GET /dashboard/chart?groupId=, camelCase as GPT-Load), the encryption check, token usage
// (GET /usage) and upstream health (GET /dashboard/upstreams), plus the lite group list of the
// selects (GET /groups/list).
import { api } from "@/api/client";

/** One stat card: `value`, its change against the previous window, and whether that is good. */
export interface StatCard {
  value: number;
  sub_value?: number;
  sub_value_tip?: string;
  trend: number;
  trend_is_growth: boolean;
}

export type Severity = "high" | "medium" | "low";

export interface SecurityWarning {
  type: string;
  message: string;
  severity: Severity | string;
  suggestion: string;
}

/** Number of keys in each state over every group. */
export interface KeyStates {
  active: number;
  cooling: number;
  invalid: number;
  disabled: number;
}

export interface DashboardStats {
  key_count: StatCard;
  rpm: StatCard;
  request_count: StatCard;
  error_rate: StatCard;
  security_warnings: SecurityWarning[];
  key_states?: Partial<KeyStates> | null;
}

export interface ChartDataset {
  label: string;
  data: number[];
  color: string;
}

/** 24 hourly buckets (RFC 3339, oldest first) with a success and a failure series. */
export interface ChartData {
  labels: string[];
  datasets: ChartDataset[];
}

export type EncryptionScenario = "" | "data_not_encrypted" | "key_not_configured" | "key_mismatch" | "inconsistent_data";

export interface EncryptionStatus {
  has_mismatch: boolean;
  scenario_type: EncryptionScenario | string;
  message: string;
  suggestion: string;
}

export type UsagePeriod = "24h" | "7d" | "30d";

export interface UsageTotals {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

export interface UsageItem extends UsageTotals {
  group_id: number;
  group_name: string;
  model: string;
}

export interface UsageReport {
  period: UsagePeriod;
  from: string;
  items: UsageItem[];
  totals: UsageTotals;
}

/** One upstream of one standard group over the last hour. */
export interface UpstreamHealth {
  group_id: number;
  group_name: string;
  upstream: string;
  /** `null` when the upstream is no longer configured but still has recent attempts. */
  weight: number | null;
  requests: number;
  failures: number;
  /** 0..1 */
  failure_rate: number;
  avg_duration_ms: number | null;
  last_status_code: number | null;
  last_error: string;
  last_seen_at: string | null;
}

export interface GroupOption {
  id: number;
  name: string;
  display_name: string;
}

export const dashboardStats = () => api.get<DashboardStats>("/dashboard/stats");
export const dashboardChart = (groupId?: number | null) =>
  api.get<ChartData>("/dashboard/chart", { groupId: groupId || undefined });
export const encryptionStatus = () => api.get<EncryptionStatus>("/dashboard/encryption-status");
export const usageReport = (period: UsagePeriod, groupId?: number | null) =>
  api.get<UsageReport>("/usage", { period, group_id: groupId || undefined });
export const upstreamHealth = () => api.get<UpstreamHealth[]>("/dashboard/upstreams");
export const groupOptions = () => api.get<GroupOption[]>("/groups/list");

/** The key states of the stats, all zeros when the server does not send them. */
export function keyStatesOf(stats: Pick<DashboardStats, "key_states"> | null | undefined): KeyStates {
  const s = stats?.key_states ?? {};
  const n = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  return { active: n(s.active), cooling: n(s.cooling), invalid: n(s.invalid), disabled: n(s.disabled) };
}

export type Health = "idle" | "healthy" | "degraded" | "failing";

/** No traffic, or healthy below 5 % failures, degraded below 50 %, else failing. */
export function healthOf(row: Pick<UpstreamHealth, "requests" | "failure_rate">): Health {
  if (!row.requests) return "idle";
  if (row.failure_rate < 0.05) return "healthy";
  if (row.failure_rate < 0.5) return "degraded";
  return "failing";
}

/** Total tokens per model over every group, largest first (the usage bar chart). */
export function tokensByModel(items: UsageItem[]): { model: string; total_tokens: number }[] {
  const sums = new Map<string, number>();
  for (const it of items) sums.set(it.model, (sums.get(it.model) ?? 0) + it.total_tokens);
  return [...sums.entries()]
    .map(([model, total_tokens]) => ({ model, total_tokens }))
    .sort((a, b) => b.total_tokens - a.total_tokens || a.model.localeCompare(b.model));
}

/**
 * The width (0..100) of a stat card's bar: the active share of keys, the current window against
 * the larger of it and the previous one (derived from the trend), the error rate itself.
 */
export function statBar(kind: "key_count" | "rpm" | "request_count" | "error_rate", card: StatCard | undefined): number {
  if (!card) return 0;
  const clamp = (x: number) => (Number.isFinite(x) ? Math.min(100, Math.max(0, x)) : 0);
  switch (kind) {
    case "key_count": {
      const total = card.value + (card.sub_value ?? 0);
      return total > 0 ? clamp((card.value / total) * 100) : 0;
    }
    case "error_rate":
      return clamp(card.value);
    default: {
      if (card.value <= 0) return 0;
      const factor = 1 + card.trend / 100;
      const previous = factor > 0 ? card.value / factor : 0;
      return clamp((card.value / Math.max(card.value, previous)) * 100);
    }
  }
}

/** A trend as GPT-Load shows it: "+12.5%", "-3.0%". */
export function trendText(trend: number): string {
  const t = Number.isFinite(trend) ? trend : 0;
  return `${t >= 0 ? "+" : "-"}${Math.abs(t).toFixed(1)}%`;
}
