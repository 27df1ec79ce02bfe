// Languages of the UI (en-US, zh-CN, ja-JP). Every screen keeps its texts in its own module under
// ./messages, one object per language; they are merged here. The choice is kept in
// localStorage["locale"], else taken from the browser, else English.
import { createI18n } from "vue-i18n";
import { computed } from "vue";
import { dateEnUS, dateJaJP, dateZhCN, enUS, jaJP, zhCN } from "naive-ui";

export const LOCALES = [
  { code: "en-US", label: "English" },
  { code: "zh-CN", label: "中文" },
  { code: "ja-JP", label: "日本語" },
] as const;
export type LocaleCode = (typeof LOCALES)[number]["code"];

type Tree = { [key: string]: string | Tree };
type Module = Record<LocaleCode, Tree>;

const modules = import.meta.glob<{ default: Module }>("./messages/*.ts", { eager: true });

function merge(into: Tree, from: Tree) {
  for (const [k, v] of Object.entries(from)) {
    if (typeof v === "object" && typeof into[k] === "object") merge(into[k] as Tree, v);
    else into[k] = v;
  }
}

const messages: Record<LocaleCode, Tree> = { "en-US": {}, "zh-CN": {}, "ja-JP": {} };
for (const mod of Object.values(modules)) {
  for (const code of Object.keys(messages) as LocaleCode[]) merge(messages[code], mod.default[code] ?? {});
}

export function detectLocale(stored: string | null, browser: readonly string[]): LocaleCode {
  const codes = LOCALES.map((l) => l.code as string);
  if (stored && codes.includes(stored)) return stored as LocaleCode;
  for (const lang of browser) {
    const lower = lang.toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("ja")) return "ja-JP";
    if (lower.startsWith("en")) return "en-US";
  }
  return "en-US";
}

export const i18n = createI18n({
  legacy: false,
  locale: detectLocale(localStorage.getItem("locale"), navigator.languages ?? [navigator.language]),
  fallbackLocale: "en-US",
  messages,
});

export function currentLocale(): LocaleCode {
  return i18n.global.locale.value as LocaleCode;
}

export function setLocale(code: LocaleCode) {
  i18n.global.locale.value = code;
  localStorage.setItem("locale", code);
  document.documentElement.lang = code;
}

/** Naive UI's own texts (pickers, pagination) in the chosen language. */
export const naiveLocale = computed(() => {
  switch (i18n.global.locale.value) {
    case "zh-CN":
      return { locale: zhCN, date: dateZhCN };
    case "ja-JP":
      return { locale: jaJP, date: dateJaJP };
    default:
      return { locale: enUS, date: dateEnUS };
  }
});
