// The one background task of the admin process (key import, deletion or validation).
import { api } from "@/api/client";

export type TaskType = "KEY_VALIDATION" | "KEY_IMPORT" | "KEY_DELETE" | "";

export interface TaskStatus {
  task_type: TaskType;
  is_running: boolean;
  group_name?: string;
  processed: number;
  total: number;
  result?: {
    total_keys?: number; valid_keys?: number; invalid_keys?: number;
    added_count?: number; ignored_count?: number; deleted_count?: number;
  };
  error?: string;
  started_at: string;
  finished_at?: string;
  duration_seconds?: number;
}

export const taskStatus = () => api.get<TaskStatus>("/tasks/status", undefined, { hideError: true });
