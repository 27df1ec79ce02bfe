import { beforeEach, describe, expect, it, vi } from "vitest";
import type { TaskStatus } from "@/api/tasks";

const answers: TaskStatus[] = [];
vi.mock("@/api/tasks", () => ({
  taskStatus: vi.fn(async () => answers.shift()),
}));

const idle: TaskStatus = { task_type: "", is_running: false, processed: 0, total: 0, started_at: "0001-01-01T00:00:00Z" };
const done = (at: string): TaskStatus => ({
  task_type: "KEY_IMPORT", is_running: false, group_name: "g", processed: 5, total: 5,
  result: { added_count: 4, ignored_count: 1 }, started_at: at, finished_at: at,
});

async function settle() {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe("task poller", () => {
  beforeEach(() => {
    vi.resetModules();
    localStorage.clear();
  });

  it("announces a task that finished before it was ever seen running", async () => {
    const { tasks } = await import("@/composables/tasks");
    answers.push(idle);
    tasks.watch();
    await settle();
    expect(tasks.finished.value).toBeNull();
    expect(tasks.finishedTick.value).toBe(0);

    answers.push(done("2026-11-30T10:00:00Z"));
    tasks.watch();
    await settle();
    expect(tasks.finished.value?.result?.added_count).toBe(4);
    expect(tasks.finishedTick.value).toBe(1);
    tasks.stop();
  });

  it("shows an old result on page load unless it was dismissed, without refreshing screens", async () => {
    const { tasks } = await import("@/composables/tasks");
    answers.push(done("2026-11-30T09:00:00Z"));
    tasks.watch();
    await settle();
    expect(tasks.finished.value?.finished_at).toBe("2026-11-30T09:00:00Z");
    expect(tasks.finishedTick.value).toBe(0);
    tasks.dismiss();
    expect(localStorage.getItem("last_closed_task")).toBe("2026-11-30T09:00:00Z");

    vi.resetModules();
    const again = (await import("@/composables/tasks")).tasks;
    answers.push(done("2026-11-30T09:00:00Z"));
    again.watch();
    await settle();
    expect(again.finished.value).toBeNull();
    again.stop();
  });
});
