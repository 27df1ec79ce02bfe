// Light, dark or follow-the-system theme, stored in localStorage["gpt-load-theme-mode"] and shown
// as `html.dark` / `html.light` classes.
import { computed, ref } from "vue";

export type ThemeMode = "auto" | "light" | "dark";

const STORAGE_KEY = "gpt-load-theme-mode";
const stored = localStorage.getItem(STORAGE_KEY);
const mode = ref<ThemeMode>(stored === "light" || stored === "dark" ? stored : "auto");

const media = typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null;
const systemDark = ref(media?.matches ?? false);
media?.addEventListener?.("change", (e) => {
  systemDark.value = e.matches;
  apply();
});

const isDark = computed(() => (mode.value === "auto" ? systemDark.value : mode.value === "dark"));

function apply() {
  const root = document.documentElement;
  root.classList.toggle("dark", isDark.value);
  root.classList.toggle("light", !isDark.value);
}

export const theme = {
  mode,
  isDark,
  set(next: ThemeMode) {
    mode.value = next;
    localStorage.setItem(STORAGE_KEY, next);
    apply();
  },
  /** auto → light → dark → auto, as GPT-Load's toggle. */
  cycle() {
    theme.set(mode.value === "auto" ? "light" : mode.value === "light" ? "dark" : "auto");
  },
  apply,
};
