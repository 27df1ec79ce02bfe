// Groups of the admin API (GPT-Load's /api/groups…): standard and aggregate groups, their
// statistics, copies, order, sub-groups and the options of the group form.
import { api } from "@/api/client";

export type GroupType = "standard" | "aggregate";

export interface Upstream {
  url: string;
  weight: number;
}

export interface HeaderRule {
  key: string;
  value: string;
  action: "set" | "remove";
}

export type ConfigValue = string | number | boolean;

/** `GroupResponse`: one group as `GET /api/groups` returns it. */
export interface Group {
  id: number;
  name: string;
  endpoint: string;
  display_name: string;
  description: string;
  group_type: GroupType;
  upstreams: Upstream[];
  channel_type: string;
  sort: number;
  test_model: string;
  validation_endpoint: string;
  param_overrides: Record<string, unknown>;
  model_redirect_rules: Record<string, string>;
  model_redirect_strict: boolean;
  config: Record<string, ConfigValue>;
  header_rules: HeaderRule[];
  proxy_keys: string;
  /** Ours: false switches the group off (its requests get 503 `group_disabled`; aggregates skip it). */
  enabled: boolean;
  last_validated_at: string | null;
  created_at: string;
  updated_at: string;
}

/** Body of `POST /api/groups` and `PUT /api/groups/:id`. */
export interface GroupPayload {
  name: string;
  display_name: string;
  description: string;
  group_type: GroupType;
  channel_type: string;
  sort: number;
  proxy_keys: string;
  enabled: boolean;
  upstreams?: Upstream[];
  test_model?: string;
  validation_endpoint?: string;
  param_overrides?: Record<string, unknown>;
  model_redirect_rules?: Record<string, string>;
  model_redirect_strict?: boolean;
  config?: Record<string, ConfigValue>;
  header_rules?: HeaderRule[];
}

export interface RequestStats {
  total_requests: number;
  failed_requests: number;
  failure_rate: number;
}

export interface GroupStats {
  /** `disabled_keys` only when the group has some. */
  key_stats: { total_keys: number; active_keys: number; invalid_keys: number; cooling_keys: number; disabled_keys?: number };
  stats_24_hour: RequestStats;
  stats_7_day: RequestStats;
  stats_30_day: RequestStats;
}

/** One overridable setting of `GET /api/groups/config-options`; `default_value` is the current system value. */
export interface ConfigOption {
  key: string;
  name: string;
  description: string;
  default_value: ConfigValue | null;
}

export interface SubGroup {
  group: Group;
  weight: number;
  total_keys: number;
  active_keys: number;
  invalid_keys: number;
}

export interface ParentAggregate {
  group_id: number;
  name: string;
  display_name: string;
  weight: number;
}

export type CopyKeysMode = "all" | "valid_only" | "none";

export const listGroups = () => api.get<Group[]>("/groups");
export const channelTypes = () => api.get<string[]>("/channel-types");
export const configOptions = () => api.get<ConfigOption[]>("/groups/config-options");
export const createGroup = (body: GroupPayload) => api.post<Group>("/groups", body);
export const updateGroup = (id: number, body: Partial<GroupPayload>) => api.put<Group>(`/groups/${id}`, body);
/** Switches a group off or on (a partial update); the caller toasts the outcome. */
export const setGroupEnabled = (id: number, enabled: boolean) => api.put<Group>(`/groups/${id}`, { enabled }, { hideMessage: true });
export const deleteGroup = (id: number) => api.delete<null>(`/groups/${id}`);
export const groupStats = (id: number) => api.get<GroupStats>(`/groups/${id}/stats`);
export const copyGroup = (id: number, copyKeys: CopyKeysMode) =>
  api.post<{ group: Group; key_task?: unknown }>(`/groups/${id}/copy`, { copy_keys: copyKeys }, { hideMessage: true });
export const reorderGroups = (items: { id: number; sort: number }[]) =>
  api.put<null>("/groups/reorder", { items }, { hideMessage: true, hideError: true });

export const listSubGroups = (id: number) => api.get<SubGroup[]>(`/groups/${id}/sub-groups`);
export const addSubGroups = (id: number, subGroups: { group_id: number; weight: number }[]) =>
  api.post<null>(`/groups/${id}/sub-groups`, { sub_groups: subGroups });
export const setSubGroupWeight = (id: number, subId: number, weight: number) =>
  api.put<null>(`/groups/${id}/sub-groups/${subId}/weight`, { weight });
export const removeSubGroup = (id: number, subId: number) => api.delete<null>(`/groups/${id}/sub-groups/${subId}`);
export const parentAggregates = (id: number) => api.get<ParentAggregate[]>(`/groups/${id}/parent-aggregate-groups`);
