// Keys of one group (GPT-Load's /api/keys…): the paged list, imports and deletions (as tasks),
// restore / clear, disable / enable (ours), validation, single-key tests, notes and the text export.
import { api, downloadUrl, request, type Paginated } from "@/api/client";
import type { TaskStatus } from "@/api/tasks";

/**
 * `active` in rotation; `cooling` rate-limited until `cooldown_until`, then back by itself; `invalid`
 * blacklisted; `disabled` switched off by a person: out of rotation and validation until enabled.
 */
export type KeyStatus = "active" | "cooling" | "invalid" | "disabled";

export interface ApiKey {
  id: number;
  key_value: string;
  key_hash: string;
  group_id: number;
  status: KeyStatus;
  notes: string;
  request_count: number;
  failure_count: number;
  last_used_at: string | null;
  created_at: string;
  updated_at: string;
  cooldown_until: string | null;
}

export interface KeyQuery {
  group_id: number;
  page: number;
  page_size: number;
  status?: KeyStatus;
  key_value?: string;
}

export interface KeyTestResult {
  key_value: string;
  is_valid: boolean;
  error?: string;
}

export const listKeys = (q: KeyQuery) => api.get<Paginated<ApiKey>>("/keys", { ...q });

/** Starts the import task from text (one key per line, or separated by commas / spaces). */
export const addKeysText = (groupId: number, keysText: string) =>
  api.post<TaskStatus>("/keys/add-async", { group_id: groupId, keys_text: keysText }, { hideMessage: true });

/** Starts the import task from a `.txt` file (multipart `group_id` + `file`). */
export function addKeysFile(groupId: number, file: File) {
  const form = new FormData();
  form.append("group_id", String(groupId));
  form.append("file", file, file.name);
  return request<TaskStatus>("POST", "/keys/add-async", { body: form, hideMessage: true, timeoutMs: 300_000 });
}

export const deleteKeysAsync = (groupId: number, keysText: string) =>
  api.post<TaskStatus>("/keys/delete-async", { group_id: groupId, keys_text: keysText }, { hideMessage: true });
export const deleteKeys = (groupId: number, keysText: string) =>
  api.post<{ deleted_count: number; ignored_count: number; total_in_group: number }>("/keys/delete-multiple", { group_id: groupId, keys_text: keysText });
export const restoreKeys = (groupId: number, keysText: string) =>
  api.post<{ restored_count: number; ignored_count: number; total_in_group: number }>("/keys/restore-multiple", { group_id: groupId, keys_text: keysText });
/** How many of the listed keys a disable / enable changed; the rest were not in the group or already in that state. */
export interface KeysSwitched {
  ignored_count: number;
  total_in_group: number;
}
/** Switches the listed keys (active, cooling or invalid) off; the caller toasts the count. */
export const disableKeys = (groupId: number, keysText: string) =>
  api.post<KeysSwitched & { disabled_count: number }>("/keys/disable-multiple", { group_id: groupId, keys_text: keysText }, { hideMessage: true });
/** Switches the listed disabled keys back on (active, no failures); the caller toasts the count. */
export const enableKeys = (groupId: number, keysText: string) =>
  api.post<KeysSwitched & { enabled_count: number }>("/keys/enable-multiple", { group_id: groupId, keys_text: keysText }, { hideMessage: true });
export const restoreAllInvalid = (groupId: number) => api.post<null>("/keys/restore-all-invalid", { group_id: groupId });
export const clearAllInvalid = (groupId: number) => api.post<null>("/keys/clear-all-invalid", { group_id: groupId });
export const clearAllKeys = (groupId: number) => api.post<null>("/keys/clear-all", { group_id: groupId });
export const validateGroup = (groupId: number, status?: KeyStatus) =>
  api.post<TaskStatus>("/keys/validate-group", status ? { group_id: groupId, status } : { group_id: groupId }, { hideMessage: true });
export const testKeys = (groupId: number, keysText: string) =>
  api.post<{ results: KeyTestResult[]; total_duration: number }>("/keys/test-multiple", { group_id: groupId, keys_text: keysText }, { hideMessage: true, timeoutMs: 120_000 });
export const updateKeyNotes = (id: number, notes: string) => api.put<null>(`/keys/${id}/notes`, { notes });

/** The download link of the group's keys (`all` or one status), authenticated by `?key=`. */
export const exportKeysUrl = (groupId: number, status: "all" | KeyStatus) =>
  downloadUrl("/keys/export", { group_id: groupId, status });
