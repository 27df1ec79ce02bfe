import { describe, expect, it } from "vitest";
import { compactNumber, duration, maskKey, percent, prettifyName, relativeTime } from "@/format";

describe("format", () => {
  it("compacts counts as the stat cards show them", () => {
    expect(compactNumber(0)).toBe("0");
    expect(compactNumber(999)).toBe("999");
    expect(compactNumber(1234)).toBe("1.2K");
    expect(compactNumber(12_000)).toBe("12K");
    expect(compactNumber(2_500_000)).toBe("2.5M");
    expect(compactNumber(999_949)).toBe("999.9K");
    expect(compactNumber(999_950)).toBe("1M");
    expect(compactNumber(999_999_999)).toBe("1B");
  });

  it("shows ratios as percentages", () => {
    expect(percent(0.1234)).toBe("12.3%");
    expect(percent(1)).toBe("100.0%");
    expect(percent(Number.NaN)).toBe("0.0%");
  });

  it("masks keys, keeping only the ends", () => {
    expect(maskKey("sk-abcdefghijklmnopqrstuvwxyz")).toBe("sk-abc…wxyz");
    expect(maskKey("abcdefghij")).toBe("abcd…ghij");
    expect(maskKey("short")).toBe("sh***");
    expect(maskKey("sk-abcdefghijklmnopqrstuvwxyz")).not.toContain("mnop");
  });

  it("prettifies group names for display", () => {
    expect(prettifyName("my_group-name")).toBe("My Group Name");
    expect(prettifyName("openaiPrimary")).toBe("Openai Primary");
  });

  it("tells how long ago a time was", () => {
    const now = new Date("2026-11-30T12:00:00Z");
    expect(relativeTime(null, now)).toBeNull();
    expect(relativeTime("2026-11-30T11:59:58Z", now)).toEqual({ unit: "justNow", n: 0 });
    expect(relativeTime("2026-11-30T11:59:30Z", now)).toEqual({ unit: "seconds", n: 30 });
    expect(relativeTime("2026-11-30T11:58:00Z", now)).toEqual({ unit: "minutes", n: 2 });
    expect(relativeTime("2026-11-30T09:00:00Z", now)).toEqual({ unit: "hours", n: 3 });
    expect(relativeTime("2026-11-27T12:00:00Z", now)).toEqual({ unit: "days", n: 3 });
  });

  it("formats durations", () => {
    expect(duration(850)).toBe("850 ms");
    expect(duration(2350)).toBe("2.35 s");
  });
});
