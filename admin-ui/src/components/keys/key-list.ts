// Pure logic of the key table: status filter values, tag colours, what a key card shows,
// disable / enable of keys, note limits and the typed-name check of the destructive confirmations.
import type { ApiKey, KeyStatus, KeysSwitched } from "@/api/keys";

export const KEY_STATUSES: KeyStatus[] = ["active", "cooling", "invalid", "disabled"];
export const PAGE_SIZES = [12, 24, 60, 120];
export const NOTES_LIMIT = 255;

export type StatusFilter = "all" | KeyStatus;

/** Naive UI tag type of a key status. */
export function statusTagType(status: string): "success" | "warning" | "error" | "default" {
  switch (status) {
    case "active":
      return "success";
    case "cooling":
      return "warning";
    case "invalid":
      return "error";
    case "disabled":
    default:
      return "default";
  }
}

/** The `status` query value of a filter (`undefined` for all). */
export function statusQuery(filter: StatusFilter): KeyStatus | undefined {
  return filter === "all" ? undefined : filter;
}

/** Switching keys off (`disable`) or back on (`enable`). */
export type SwitchMode = "disable" | "enable";

/** What a key's switch does: enable a disabled key, disable any other. */
export function switchModeOf(status: KeyStatus): SwitchMode {
  return status === "disabled" ? "enable" : "disable";
}

/**
 * The toast after a disable / enable: the text under `keys.switch.` with its parameters, and
 * whether anything changed (a success) or not (an info: the keys were not there or already so).
 */
export function switchMessage(mode: SwitchMode, res: KeysSwitched & { disabled_count?: number; enabled_count?: number }) {
  const n = (mode === "disable" ? res.disabled_count : res.enabled_count) ?? 0;
  const ignored = res.ignored_count;
  const key = n === 0 ? `${mode}None` : ignored > 0 ? `${mode}dIgnored` : `${mode}d`;
  return { key: `keys.switch.${key}`, params: { n, ignored }, changed: n > 0 };
}

/** What the key field of a card reads: the full key when shown, else the note (if any) or the masked key. */
export function keyFieldText(key: Pick<ApiKey, "key_value" | "notes">, visible: boolean, mask: (k: string) => string): string {
  if (visible) return key.key_value;
  if (key.notes.trim()) return key.notes;
  return mask(key.key_value);
}

/** A note's error: longer than 255 characters (counted as code points, as the server). */
export function notesError(notes: string): "tooLong" | null {
  return [...notes.trim()].length > NOTES_LIMIT ? "tooLong" : null;
}

/** Keys of a pasted text: split on whitespace, commas and semicolons, or a JSON array of strings. */
export function parseKeysText(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    try {
      const list = JSON.parse(trimmed) as unknown;
      if (Array.isArray(list) && list.length && list.every((k) => typeof k === "string")) {
        return (list as string[]).map((k) => k.trim()).filter(Boolean);
      }
    } catch {
      // not JSON: split as text below
    }
  }
  return trimmed.split(/[\s,;]+/).filter(Boolean);
}

/** Whether the name typed into a destructive confirmation is exactly the group's name. */
export function typedNameMatches(typed: string, name: string): boolean {
  return typed === name;
}

/** Whether a file may be uploaded as a key list (`.txt`, any case). */
export function isTxtFile(name: string): boolean {
  return name.toLowerCase().endsWith(".txt");
}
