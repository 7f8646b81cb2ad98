import { describe, expect, it } from "vitest";
import type { VolumeId } from "../../src/core/paths.ts";
import {
  PURGING_PREFIX,
  parseTrashEntryInfo,
  TRASH_DIRECTORY,
  TRASH_ENTRY_FILE,
  trashEntry,
  trashedVolume,
  trashRoot,
} from "../../src/core/trash.ts";

const id = {
  businessUnit: "sales",
  application: "shipping",
  namespace: "shipping-dev",
  pvcName: "data",
} as VolumeId;
const entry = {
  requestId: "vol-0123abcd",
  volume: "sales.shipping.shipping-dev.data",
  movedAt: 1_764_400_000_000,
  site: "primary",
  channel: "C0OPS0001",
  requester: "U0RIYA001",
};

describe("where a deleted volume waits", () => {
  it("is beside the tenants' folders, under the request that deleted it", () => {
    expect(trashRoot("/volumes")).toEqual(["volumes", ".drbot-trash"]);
    expect(trashEntry("/volumes/", "vol-0123abcd")).toEqual(["volumes", ".drbot-trash", "vol-0123abcd"]);
    expect(trashedVolume("/a/b", "vol-0123abcd", id)).toEqual([
      "a",
      "b",
      ".drbot-trash",
      "vol-0123abcd",
      "sales",
      "shipping",
      "shipping-dev",
      "data",
    ]);
    // Names no business unit (a DNS-1123 label) or request id can take.
    expect(TRASH_DIRECTORY.startsWith(".")).toBe(true);
    expect(TRASH_ENTRY_FILE.startsWith(".")).toBe(true);
    expect(PURGING_PREFIX.startsWith(".")).toBe(true);
  });

  it("is only ever a volume delete's request id: nothing else can be named for removal", () => {
    for (const bad of [
      "dr-0123abcd",
      "vol-0123abc",
      "vol-0123abcde",
      "vol-0123ABCD",
      "../vol-0123abcd",
      "",
      "vol-",
    ]) {
      expect(() => trashEntry("/volumes", bad), bad).toThrow(/not a volume delete request id/);
    }
    expect(() => trashedVolume("/volumes", "x/../../etc", id)).toThrow(/not a volume delete request id/);
  });

  it("refuses an unsafe root directory", () => {
    expect(() => trashRoot("/volumes/../etc")).toThrow(/unsafe/);
  });
});

describe("the entry file", () => {
  it("reads what drbot wrote, with or without a channel", () => {
    expect(parseTrashEntryInfo(JSON.stringify(entry))).toEqual(entry);
    const { channel: _, ...withoutChannel } = entry;
    expect(parseTrashEntryInfo(JSON.stringify(withoutChannel))).toEqual(withoutChannel);
  });

  it("is null for anything else: no file, not JSON, a field out of shape", () => {
    expect(parseTrashEntryInfo(null)).toBeNull();
    expect(parseTrashEntryInfo("")).toBeNull();
    expect(parseTrashEntryInfo("{not json")).toBeNull();
    for (const change of [
      { requestId: "dr-0123abcd" },
      { movedAt: -1 },
      { movedAt: 1.5 },
      { site: "tertiary" },
      { channel: "#ops" },
      { volume: "x".repeat(254) },
      { requester: "x".repeat(201) },
    ]) {
      expect(parseTrashEntryInfo(JSON.stringify({ ...entry, ...change })), JSON.stringify(change)).toBeNull();
    }
  });
});
