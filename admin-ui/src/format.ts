// How numbers, times, keys and names are shown across the screens.

/** 1234 → "1.2K", 2_500_000 → "2.5M"; below 1000 as is. */
export function compactNumber(n: number): string {
  if (!Number.isFinite(n)) return "0";
  const abs = Math.abs(n);
  // The next unit starts where the smaller one would round to 1000 ("1M", never "1000K").
  if (abs >= 999_950_000) return `${trim(n / 1_000_000_000)}B`;
  if (abs >= 999_950) return `${trim(n / 1_000_000)}M`;
  if (abs >= 1_000) return `${trim(n / 1_000)}K`;
  return String(Math.round(n * 10) / 10);
}

function trim(x: number): string {
  return (Math.round(x * 10) / 10).toFixed(1).replace(/\.0$/, "");
}

/** A ratio (0.1234) as "12.3%". */
export function percent(ratio: number, digits = 1): string {
  return `${((Number.isFinite(ratio) ? ratio : 0) * 100).toFixed(digits)}%`;
}

/** A key with only its ends visible: "sk-abc…wxyz". Short keys keep less. */
export function maskKey(key: string): string {
  if (!key) return "";
  if (key.length <= 8) return `${key.slice(0, 2)}${"*".repeat(Math.max(key.length - 2, 1))}`;
  const head = key.length > 16 ? 6 : 4;
  return `${key.slice(0, head)}…${key.slice(-4)}`;
}

/** "my_group-name" / "myGroupName" → "My Group Name" (display name fallback, as GPT-Load). */
export function prettifyName(name: string): string {
  return name
    .replace(/[_-]+/g, " ")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(" ");
}

export type RelativeUnit = "justNow" | "seconds" | "minutes" | "hours" | "days";

/** How long ago `when` was, as a unit and a count, for i18n ("3 hours ago"). */
export function relativeTime(when: string | null | undefined, now: Date = new Date()): { unit: RelativeUnit; n: number } | null {
  if (!when) return null;
  const t = new Date(when).getTime();
  if (Number.isNaN(t)) return null;
  const seconds = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  if (seconds < 5) return { unit: "justNow", n: 0 };
  if (seconds < 60) return { unit: "seconds", n: seconds };
  if (seconds < 3600) return { unit: "minutes", n: Math.floor(seconds / 60) };
  if (seconds < 86400) return { unit: "hours", n: Math.floor(seconds / 3600) };
  return { unit: "days", n: Math.floor(seconds / 86400) };
}

/** A timestamp in the user's language and time zone, "2026-11-30 19:50:27" style. */
export function dateTime(when: string | null | undefined, locale = "en-US"): string {
  if (!when) return "—";
  const d = new Date(when);
  if (Number.isNaN(d.getTime())) return when;
  return d.toLocaleString(locale, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
}

/** Milliseconds as "850 ms" or "2.35 s". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Copies text to the clipboard; false when the browser refuses. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}
