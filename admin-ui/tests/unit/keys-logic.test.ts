import { describe, expect, it } from "vitest";
import type { Group, SubGroup } from "@/api/groups";
import { channelTagType, groupIcon, groupMatches, groupTitle, reorder } from "@/components/keys/channels";
import {
  KEY_STATUSES, isTxtFile, keyFieldText, notesError, parseKeysText, statusQuery, statusTagType, switchMessage, switchModeOf, typedNameMatches,
} from "@/components/keys/key-list";
import { memberCandidates, memberStatus, memberStatusTag, sortMembers, validateMemberRows, weightShare } from "@/components/keys/sub-groups";
import messages from "@/i18n/messages/keys";

function group(id: number, name: string, extra: Partial<Group> = {}): Group {
  return {
    id, name, endpoint: "", display_name: "", description: "", group_type: "standard", upstreams: [], channel_type: "openai", sort: id * 10,
    test_model: "m", validation_endpoint: "", param_overrides: {}, model_redirect_rules: {}, model_redirect_strict: false, config: {},
    header_rules: [], proxy_keys: "", enabled: true, last_validated_at: null, created_at: "", updated_at: "", ...extra,
  };
}

describe("group list", () => {
  it("titles fall back to the prettified name", () => {
    expect(groupTitle(group(1, "my_openai-group"))).toBe("My Openai Group");
    expect(groupTitle(group(1, "x", { display_name: "Shown" }))).toBe("Shown");
  });
  it("search matches name or display name in any case", () => {
    const g = group(1, "claude-pool", { display_name: "Anthropic Pool" });
    expect(groupMatches(g, "CLAUDE")).toBe(true);
    expect(groupMatches(g, "anthropic")).toBe(true);
    expect(groupMatches(g, "gemini")).toBe(false);
    expect(groupMatches(g, "  ")).toBe(true);
  });
  it("icons and tag colours follow the channel", () => {
    expect(groupIcon(group(1, "a", { group_type: "aggregate" }))).toBe("🔗");
    expect(groupIcon(group(1, "a", { channel_type: "gemini" }))).toBe("💎");
    expect(channelTagType("openai-response")).toBe("success");
    expect(channelTagType("anthropic")).toBe("warning");
  });
  it("drag-and-drop reorders and reports only the changed sorts", () => {
    const list = [group(1, "a", { sort: 10 }), group(2, "b", { sort: 20 }), group(3, "c", { sort: 30 })];
    const r = reorder(list, 3, 1, false);
    expect(r.list.map((g) => g.name)).toEqual(["c", "a", "b"]);
    expect(r.changed).toEqual([{ id: 3, sort: 10 }, { id: 1, sort: 20 }, { id: 2, sort: 30 }]);
    const after = reorder(list, 1, 2, true);
    expect(after.list.map((g) => g.name)).toEqual(["b", "a", "c"]);
    expect(after.changed).toEqual([{ id: 2, sort: 10 }, { id: 1, sort: 20 }]);
    expect(reorder(list, 1, 1, true).changed).toEqual([]);
  });
});

describe("key table", () => {
  it("maps statuses to filters and tag colours", () => {
    expect(statusQuery("all")).toBeUndefined();
    expect(statusQuery("cooling")).toBe("cooling");
    expect(statusTagType("active")).toBe("success");
    expect(statusTagType("cooling")).toBe("warning");
    expect(statusTagType("invalid")).toBe("error");
    expect(statusTagType("disabled")).toBe("default");
    expect(statusQuery("disabled")).toBe("disabled");
    expect(KEY_STATUSES).toEqual(["active", "cooling", "invalid", "disabled"]);
  });
  it("a disabled key is enabled, any other disabled", () => {
    expect(switchModeOf("disabled")).toBe("enable");
    for (const s of ["active", "cooling", "invalid"] as const) expect(switchModeOf(s)).toBe("disable");
  });
  it("says how many keys a disable / enable changed and how many it left", () => {
    expect(switchMessage("disable", { disabled_count: 3, ignored_count: 0, total_in_group: 9 })).toEqual({ key: "keys.switch.disabled", params: { n: 3, ignored: 0 }, changed: true });
    expect(switchMessage("disable", { disabled_count: 1, ignored_count: 2, total_in_group: 9 }).key).toBe("keys.switch.disabledIgnored");
    expect(switchMessage("enable", { enabled_count: 2, ignored_count: 1, total_in_group: 9 })).toEqual({ key: "keys.switch.enabledIgnored", params: { n: 2, ignored: 1 }, changed: true });
    expect(switchMessage("enable", { enabled_count: 0, ignored_count: 1, total_in_group: 9 })).toEqual({ key: "keys.switch.enableNone", params: { n: 0, ignored: 1 }, changed: false });
  });
  it("shows the note instead of the hidden key, the key when shown", () => {
    const mask = (k: string) => `${k.slice(0, 3)}…`;
    expect(keyFieldText({ key_value: "sk-secret", notes: "" }, false, mask)).toBe("sk-…");
    expect(keyFieldText({ key_value: "sk-secret", notes: "team A" }, false, mask)).toBe("team A");
    expect(keyFieldText({ key_value: "sk-secret", notes: "team A" }, true, mask)).toBe("sk-secret");
  });
  it("limits notes to 255 characters, counting code points", () => {
    expect(notesError("a".repeat(255))).toBeNull();
    expect(notesError("a".repeat(256))).toBe("tooLong");
    expect(notesError("😀".repeat(255))).toBeNull();
  });
  it("splits pasted keys like the server", () => {
    expect(parseKeysText(" a,b;c\nd\t e ,,")).toEqual(["a", "b", "c", "d", "e"]);
    expect(parseKeysText('["k1", " k2 "]')).toEqual(["k1", "k2"]);
    expect(parseKeysText("   ")).toEqual([]);
  });
  it("requires the exact group name and .txt files", () => {
    expect(typedNameMatches("prod", "prod")).toBe(true);
    expect(typedNameMatches("Prod", "prod")).toBe(false);
    expect(typedNameMatches(" prod", "prod")).toBe(false);
    expect(isTxtFile("KEYS.TXT")).toBe(true);
    expect(isTxtFile("keys.csv")).toBe(false);
  });
});

describe("sub-groups", () => {
  const member = (id: number, weight: number, active: number): SubGroup => ({ group: group(id, `g${id}`), weight, total_keys: active + 1, active_keys: active, invalid_keys: 1 });
  it("states: active, disabled (weight 0), unavailable (no active keys)", () => {
    expect(memberStatus({ weight: 5, active_keys: 2 })).toBe("active");
    expect(memberStatus({ weight: 0, active_keys: 2 })).toBe("disabled");
    expect(memberStatus({ weight: 5, active_keys: 0 })).toBe("unavailable");
    expect(memberStatus({ weight: 5, active_keys: 2, group: { enabled: true } })).toBe("active");
  });
  it("a switched-off member is skipped whatever its weight and keys", () => {
    expect(memberStatus({ weight: 5, active_keys: 2, group: { enabled: false } })).toBe("off");
    expect(memberStatus({ weight: 0, active_keys: 0, group: { enabled: false } })).toBe("off");
    expect(memberStatusTag("off")).toBe("default");
    expect(memberStatusTag("disabled")).toBe("default");
    expect(memberStatusTag("unavailable")).toBe("warning");
  });
  it("shares and order by weight", () => {
    expect(weightShare(1, 3)).toBe(33.3);
    expect(weightShare(0, 3)).toBe(0);
    expect(weightShare(1, 0)).toBe(0);
    expect(sortMembers([member(1, 1, 1), member(2, 5, 1)]).map((m) => m.group.id)).toEqual([2, 1]);
  });
  it("offers standard groups of the same channel not yet chosen", () => {
    const agg = group(10, "agg", { group_type: "aggregate" });
    const groups = [agg, group(1, "a"), group(2, "b"), group(3, "c", { channel_type: "gemini" }), group(4, "d")];
    const rows = [{ group_id: 2, weight: 1 }, { group_id: null, weight: 1 }];
    expect(memberCandidates(groups, agg, [member(1, 1, 1)], rows, 1).map((g) => g.id)).toEqual([4]);
    expect(memberCandidates(groups, agg, [member(1, 1, 1)], rows, 0).map((g) => g.id)).toEqual([2, 4]);
  });
  it("validates the rows to add", () => {
    expect(validateMemberRows([{ group_id: 1, weight: 1 }])).toEqual({});
    expect(validateMemberRows([{ group_id: null, weight: 1 }])).toEqual({ 0: "groupRequired" });
    expect(validateMemberRows([{ group_id: 1, weight: 1001 }])).toEqual({ 0: "weightInvalid" });
    expect(validateMemberRows([{ group_id: 1, weight: -1 }])).toEqual({ 0: "weightInvalid" });
    expect(validateMemberRows([{ group_id: 1, weight: 1 }, { group_id: 1, weight: 2 }])).toEqual({ 1: "duplicate" });
  });
});

describe("texts", () => {
  it("relative times read naturally in English", async () => {
    const { i18n, setLocale } = await import("@/i18n");
    setLocale("en-US");
    const t = i18n.global.t;
    expect(t("keys.time.hours", { n: 1 }, 1)).toBe("1 hour ago");
    expect(t("keys.time.hours", { n: 3 }, 3)).toBe("3 hours ago");
    setLocale("zh-CN");
    expect(t("keys.time.days", { n: 2 }, 2)).toBe("2 天前");
    setLocale("en-US");
  });

  type Tree = { [k: string]: string | Tree };
  const paths = (t: Tree, prefix = ""): string[] =>
    Object.entries(t).flatMap(([k, v]) => (typeof v === "string" ? [`${prefix}${k}`] : paths(v, `${prefix}${k}.`)));
  it("every language has every text, none empty", () => {
    const en = paths(messages["en-US"] as Tree).sort();
    expect(en.length).toBeGreaterThan(100);
    for (const code of ["zh-CN", "ja-JP"] as const) {
      expect(paths(messages[code] as Tree).sort()).toEqual(en);
    }
    for (const code of ["en-US", "zh-CN", "ja-JP"] as const) {
      const tree = messages[code] as Tree;
      for (const path of paths(tree)) {
        const v = path.split(".").reduce<Tree | string>((node, k) => (node as Tree)[k], tree) as string;
        expect(v.trim(), path).not.toBe("");
        // vue-i18n treats these as syntax; only the relative times use plural forms
        expect(v, path).not.toMatch(/[@$]/);
        if (!path.startsWith("keys.time.")) expect(v, path).not.toContain("|");
      }
    }
  });
  it("every language has the same placeholders (the relative times aside)", () => {
    const leaf = (tree: Tree, path: string) => path.split(".").reduce<Tree | string>((node, k) => (node as Tree)[k], tree) as string;
    const holes = (v: string) => (v.match(/\{\w+\}/g) ?? []).sort();
    const en = messages["en-US"] as Tree;
    for (const path of paths(en).filter((p) => !p.startsWith("keys.time."))) {
      for (const code of ["zh-CN", "ja-JP"] as const) expect(holes(leaf(messages[code] as Tree, path)), `${code} ${path}`).toEqual(holes(leaf(en, path)));
    }
  });
  it("translations are not English copies", () => {
    const en = messages["en-US"].keys.form;
    expect(messages["zh-CN"].keys.form.name).not.toBe(en.name);
    expect(messages["ja-JP"].keys.form.name).not.toBe(en.name);
  });
});
