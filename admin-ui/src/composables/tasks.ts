// The global task poller behind the progress bar: polls /api/tasks/status every second while a
// task runs, announces the result once (dismissals remembered in localStorage["last_closed_task"]),
// and tells the screens which group's data changed.
import { ref } from "vue";
import { taskStatus, type TaskStatus } from "@/api/tasks";

const status = ref<TaskStatus | null>(null);
const finished = ref<TaskStatus | null>(null);
/** Bumped when a task ends; screens watch it to refresh the affected group. */
const finishedTick = ref(0);
let timer: ReturnType<typeof setTimeout> | null = null;
/** `finished_at` of the last finished task seen; null before the first answer. */
let lastFinished: string | null = null;

const LAST_CLOSED = "last_closed_task";

async function poll() {
  timer = null;
  let next: TaskStatus;
  try {
    next = await taskStatus();
  } catch {
    schedule(5000);
    return;
  }
  status.value = next;
  if (next.is_running) {
    schedule(1000);
    return;
  }
  const at = next.finished_at ?? "";
  // A task that ended since the last answer (even one too quick to be seen running).
  const fresh = lastFinished !== null && at !== "" && at !== lastFinished;
  if (at !== "" && localStorage.getItem(LAST_CLOSED) !== at && (fresh || lastFinished === null)) {
    finished.value = next;
  }
  if (fresh) finishedTick.value++;
  lastFinished = at;
}

function schedule(ms: number) {
  if (timer === null) timer = setTimeout(poll, ms);
}

export const tasks = {
  status,
  finished,
  finishedTick,
  /** Start polling now (after an action started a task, or on page load). */
  watch() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    void poll();
  },
  /** The user closed the result; do not show this one again. */
  dismiss() {
    if (finished.value?.finished_at) localStorage.setItem(LAST_CLOSED, finished.value.finished_at);
    finished.value = null;
  },
  stop() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  },
};
