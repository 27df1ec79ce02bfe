// How channel types and groups are shown in the list and the info card.
import type { Group } from "@/api/groups";
import { prettifyName } from "@/format";

const LABELS: Record<string, string> = {
  openai: "OpenAI",
  "openai-response": "OpenAI Response",
  gemini: "Gemini",
  anthropic: "Anthropic",
};

const ICONS: Record<string, string> = { openai: "🤖", "openai-response": "🔁", gemini: "💎", anthropic: "🧠" };

export function channelLabel(channel: string): string {
  return LABELS[channel] ?? channel;
}

/** 🔗 for aggregates, else the channel's icon. */
export function groupIcon(g: Pick<Group, "group_type" | "channel_type">): string {
  if (g.group_type === "aggregate") return "🔗";
  return ICONS[g.channel_type] ?? "📦";
}

/** Tag colour of a channel: openai* success, gemini info, anthropic warning. */
export function channelTagType(channel: string): "success" | "info" | "warning" | "default" {
  if (channel.startsWith("openai")) return "success";
  if (channel === "gemini") return "info";
  if (channel === "anthropic") return "warning";
  return "default";
}

/** The display name, or the name prettified. */
export function groupTitle(g: Pick<Group, "name" | "display_name">): string {
  return g.display_name.trim() || prettifyName(g.name);
}

/** Whether a group matches the list's search (name or display name, any case). */
export function groupMatches(g: Pick<Group, "name" | "display_name">, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return g.name.toLowerCase().includes(q) || g.display_name.toLowerCase().includes(q) || groupTitle(g).toLowerCase().includes(q);
}

/**
 * The list after moving `fromId` before or after `toId`, and the `{id, sort}` items whose sort
 * changed (sort = (index + 1) × 10), as GPT-Load's drag-and-drop saves them.
 */
export function reorder<T extends { id: number; sort: number }>(list: T[], fromId: number, toId: number, after: boolean): { list: T[]; changed: { id: number; sort: number }[] } {
  const from = list.findIndex((g) => g.id === fromId);
  if (from < 0 || fromId === toId || !list.some((g) => g.id === toId)) return { list, changed: [] };
  const next = list.slice();
  const [moved] = next.splice(from, 1);
  let to = next.findIndex((g) => g.id === toId);
  if (after) to += 1;
  next.splice(to, 0, moved);
  const changed: { id: number; sort: number }[] = [];
  const out = next.map((g, i) => {
    const sort = (i + 1) * 10;
    if (g.sort !== sort) changed.push({ id: g.id, sort });
    return { ...g, sort };
  });
  return { list: out, changed };
}
