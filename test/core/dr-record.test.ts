// dr/state.yaml as drbot writes and reads it: the record round-trips through its text, the text is
// the stable, readable file Git keeps, and a file drbot did not write is refused with the field at
// fault.

import { describe, expect, it } from "vitest";
import {
  DR_STATE_PATH,
  type DrRecord,
  INITIAL_RECORD,
  isProtected,
  otherSite,
  parseDrRecord,
  serializeDrRecord,
} from "../../src/core/dr-record.ts";

const afterFailover: DrRecord = {
  activeSite: "secondary",
  replication: null,
  operation: "failover",
  requestId: "dr-1a2b3c4d",
  at: "2025-11-21T10:00:00.000Z",
  requester: "U0REQ0001",
  approvers: ["U0APR0001", "U0APR0002"],
  replicatedUntil: "2025-11-21T09:58:12.000Z",
};

describe("dr/state.yaml", () => {
  it("lives at dr/state.yaml", () => {
    expect(DR_STATE_PATH).toBe("dr/state.yaml");
  });

  it("is written as a commented YAML file with one line per field", () => {
    expect(serializeDrRecord(afterFailover)).toBe(
      [
        "# Managed by drbot: the active site and the replication direction, written by every DR operation.",
        "activeSite: secondary",
        "replication: null",
        "operation: failover",
        "requestId: dr-1a2b3c4d",
        "at: 2025-11-21T10:00:00.000Z",
        "requester: U0REQ0001",
        "approvers:",
        "  - U0APR0001",
        "  - U0APR0002",
        "replicatedUntil: 2025-11-21T09:58:12.000Z",
        "",
      ].join("\n"),
    );
    expect(serializeDrRecord(INITIAL_RECORD).split("\n").slice(1)).toEqual([
      "activeSite: primary",
      "replication:",
      "  source: primary",
      "  destination: secondary",
      "",
    ]);
  });

  it("never folds a long value over several lines", () => {
    const operation = `failover ${"of a very long description ".repeat(10)}`.trim();
    const text = serializeDrRecord({ ...INITIAL_RECORD, operation });
    expect(text).toContain(`\noperation: ${operation}\n`);
  });

  it("round-trips every record through its text", () => {
    for (const record of [
      INITIAL_RECORD,
      afterFailover,
      { ...INITIAL_RECORD, activeSite: "secondary" as const },
    ]) {
      expect(parseDrRecord(serializeDrRecord(record))).toEqual(record);
    }
  });

  it("refuses to write a record that is not one", () => {
    expect(() =>
      serializeDrRecord({ ...INITIAL_RECORD, activeSite: "tertiary" } as unknown as DrRecord),
    ).toThrow();
  });

  it("is refused, naming the field at fault, when drbot did not write it", () => {
    expect(() => parseDrRecord("activeSite: tertiary\nreplication: null\n")).toThrow(
      /^dr\/state\.yaml is not a DR state drbot wrote: activeSite: Invalid option/,
    );
    expect(() =>
      parseDrRecord("activeSite: primary\nreplication:\n  source: moon\n  destination: secondary\n"),
    ).toThrow(/^dr\/state\.yaml is not a DR state drbot wrote: replication\.source: Invalid option/);
    expect(() => parseDrRecord("activeSite: primary\n")).toThrow(
      /^dr\/state\.yaml is not a DR state drbot wrote: replication: Invalid input/,
    );
    expect(() => parseDrRecord("just some text")).toThrow(
      /^dr\/state\.yaml is not a DR state drbot wrote: : Invalid input: expected object/,
    );
  });
});

describe("sites", () => {
  it("the other site of each is the other one", () => {
    expect(otherSite("primary")).toBe("secondary");
    expect(otherSite("secondary")).toBe("primary");
  });

  it("the active site is protected only while it replicates to the other", () => {
    expect(isProtected(INITIAL_RECORD)).toBe(true);
    expect(
      isProtected({ activeSite: "secondary", replication: { source: "primary", destination: "secondary" } }),
    ).toBe(false);
    expect(
      isProtected({ activeSite: "secondary", replication: { source: "secondary", destination: "primary" } }),
    ).toBe(true);
    expect(isProtected({ activeSite: "secondary", replication: null })).toBe(false);
  });
});
