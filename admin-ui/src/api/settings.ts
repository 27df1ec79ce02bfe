// System settings of the admin API: GET /settings (by category) and PUT /settings (a flat object
// of changed key → value; the server validates every value before writing any).
import { api } from "@/api/client";

export type SettingType = "int" | "bool" | "string";
// String first: Vue casts an empty string to `true` for a prop whose types list Boolean before
// String, and setting values arrive as props (an empty text setting would show "true").
export type SettingValue = string | number | boolean;

/** `SettingInfo`: one setting with its current typed value. */
export interface SettingInfo {
  key: string;
  name: string;
  value: SettingValue | null;
  type: SettingType;
  default_value: string;
  description: string;
  category: string;
  min_value?: number;
  required: boolean;
}

export interface SettingCategory {
  category_name: string;
  settings: SettingInfo[];
}

export const getSettings = () => api.get<SettingCategory[]>("/settings");
export const saveSettings = (values: Record<string, SettingValue>) => api.put<null>("/settings", values);
