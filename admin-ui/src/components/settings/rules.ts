// What the settings form checks before saving, and which values it sends: the same rules as
// PUT /api/settings (ints integral and ≥ min_value, required values present, bools as bools),
// so a bad value is shown next to its field instead of as a server error.
import type { SettingCategory, SettingInfo, SettingValue } from "@/api/settings";

export type FieldValue = SettingValue | null;
export type SettingsForm = Record<string, FieldValue>;

/** An i18n key under `settings.errors` and its parameters. */
export interface FieldError {
  code: "required" | "integer" | "min" | "boolean" | "server";
  params?: Record<string, string | number>;
}

export function allSettings(categories: SettingCategory[]): SettingInfo[] {
  return categories.flatMap((c) => c.settings);
}

/** The form's starting values: the current value of every setting. */
export function initialForm(categories: SettingCategory[]): SettingsForm {
  const form: SettingsForm = {};
  for (const s of allSettings(categories)) form[s.key] = s.value ?? (s.type === "bool" ? false : s.type === "string" ? "" : null);
  return form;
}

/** The problem with one value, or null when it may be saved. */
export function validateSetting(info: SettingInfo, value: FieldValue): FieldError | null {
  switch (info.type) {
    case "int": {
      if (value === null || value === undefined || value === "") return info.required ? { code: "required" } : null;
      if (typeof value !== "number" || !Number.isInteger(value)) return { code: "integer" };
      if (typeof info.min_value === "number" && value < info.min_value) return { code: "min", params: { min: info.min_value } };
      return null;
    }
    case "bool":
      return typeof value === "boolean" ? null : { code: "boolean" };
    default: {
      const text = typeof value === "string" ? value.trim() : "";
      if (info.required && !text) return { code: "required" };
      return null;
    }
  }
}

/** Every field's problem, by setting key (empty when the form may be saved). */
export function validateForm(settings: SettingInfo[], form: SettingsForm): Record<string, FieldError> {
  const errors: Record<string, FieldError> = {};
  for (const s of settings) {
    const e = validateSetting(s, form[s.key] ?? null);
    if (e) errors[s.key] = e;
  }
  return errors;
}

/** The values that differ from the loaded ones: the body of PUT /settings. */
export function changedValues(settings: SettingInfo[], form: SettingsForm): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  for (const s of settings) {
    const v = form[s.key];
    if (v === null || v === undefined) continue;
    const value = typeof v === "string" ? v.trim() : v;
    const before = typeof s.value === "string" ? s.value.trim() : s.value;
    if (value !== before) out[s.key] = value;
  }
  return out;
}

/**
 * The field a server validation message names ("max_retries: must be at least 0"), with the
 * rest of the message; null when it names no known setting.
 */
export function serverFieldError(message: string, keys: string[]): { key: string; message: string } | null {
  const m = /^\s*([a-z0-9_]+)\s*:\s*(.+)$/s.exec(message);
  if (!m || !keys.includes(m[1])) return null;
  return { key: m[1], message: m[2] };
}
