// Pure logic of the sub-group table of an aggregate group: member state, weight shares, the rows
// of the add modal and which groups each row may choose.
import type { Group, SubGroup } from "@/api/groups";

export type MemberStatus = "active" | "disabled" | "unavailable" | "off";
export const MAX_WEIGHT = 1000;

/**
 * Off: the member group is switched off, so the aggregate skips it whatever its weight; disabled:
 * weight 0; active: weight > 0 and active keys; unavailable: weight > 0 but no active keys.
 */
export function memberStatus(m: Pick<SubGroup, "weight" | "active_keys"> & { group?: Pick<Group, "enabled"> }): MemberStatus {
  if (m.group?.enabled === false) return "off";
  if (m.weight <= 0) return "disabled";
  return m.active_keys > 0 ? "active" : "unavailable";
}

export function memberStatusTag(s: MemberStatus): "success" | "default" | "warning" {
  return s === "active" ? "success" : s === "unavailable" ? "warning" : "default";
}

/** A weight's share of the total, 0–100 with one decimal. */
export function weightShare(weight: number, total: number): number {
  if (total <= 0 || weight <= 0) return 0;
  return Math.round((weight / total) * 1000) / 10;
}

/** Members sorted by weight (highest first), then name. */
export function sortMembers(members: SubGroup[]): SubGroup[] {
  return [...members].sort((a, b) => b.weight - a.weight || a.group.name.localeCompare(b.group.name));
}

export interface NewMemberRow {
  group_id: number | null;
  weight: number | null;
}

/** Standard groups of the aggregate's channel that are not members and not chosen in another row. */
export function memberCandidates(groups: Group[], aggregate: Group, members: SubGroup[], rows: NewMemberRow[], rowIndex: number): Group[] {
  const taken = new Set<number>(members.map((m) => m.group.id));
  rows.forEach((r, i) => {
    if (i !== rowIndex && r.group_id !== null) taken.add(r.group_id);
  });
  return groups.filter((g) => g.group_type !== "aggregate" && g.channel_type === aggregate.channel_type && g.id !== aggregate.id && !taken.has(g.id));
}

export type RowError = "groupRequired" | "weightInvalid" | "duplicate";

/** Errors of the add-member rows (by index); empty when they can be sent. */
export function validateMemberRows(rows: NewMemberRow[]): Record<number, RowError> {
  const errors: Record<number, RowError> = {};
  const seen = new Set<number>();
  rows.forEach((r, i) => {
    if (r.group_id === null) errors[i] = "groupRequired";
    else if (seen.has(r.group_id)) errors[i] = "duplicate";
    else if (r.weight === null || !Number.isInteger(r.weight) || r.weight < 0 || r.weight > MAX_WEIGHT) errors[i] = "weightInvalid";
    if (r.group_id !== null) seen.add(r.group_id);
  });
  return errors;
}
