import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/core/duration.ts";

describe("durations", () => {
  it.each([
    ["90s", 90_000],
    ["30m", 1_800_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
    [" 5m ", 300_000],
  ])("parses %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "30", "m", "30 m", "-5m", "1.5h", "30min", "5m3", "h1", "1y"])("refuses %j", (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );

  it("formats for people", () => {
    expect(formatDuration(450)).toBe("450ms");
    expect(formatDuration(12_340)).toBe("12.3s");
    expect(formatDuration(5_400_000)).toBe("1h30m");
    expect(formatDuration(90_061_000)).toBe("1d1h1m1s");
  });
});
