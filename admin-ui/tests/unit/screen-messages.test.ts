import { describe, expect, it } from "vitest";
import dashboard from "@/i18n/messages/dashboard";
import logs from "@/i18n/messages/logs";
import settings from "@/i18n/messages/settings";

type Tree = { [k: string]: string | Tree };

function leaves(tree: Tree, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tree)) {
    if (typeof v === "string") out[`${prefix}${k}`] = v;
    else Object.assign(out, leaves(v, `${prefix}${k}.`));
  }
  return out;
}

describe.each([
  ["dashboard", dashboard],
  ["logs", logs],
  ["settings", settings],
])("%s texts", (_name, mod) => {
  const en = leaves(mod["en-US"] as Tree);
  it.each(["zh-CN", "ja-JP"] as const)("are all translated to %s", (code) => {
    const other = leaves(mod[code] as Tree);
    expect(Object.keys(other).sort()).toEqual(Object.keys(en).sort());
    for (const [k, v] of Object.entries(other)) {
      expect(v.trim(), k).not.toBe("");
      // the same placeholders in every language
      expect((v.match(/\{\w+\}/g) ?? []).sort(), k).toEqual((en[k].match(/\{\w+\}/g) ?? []).sort());
    }
    const same = Object.keys(en).filter((k) => en[k] === other[k] && /[a-z]{3}/i.test(en[k]));
    expect(same.length / Object.keys(en).length).toBeLessThan(0.1);
  });
});
