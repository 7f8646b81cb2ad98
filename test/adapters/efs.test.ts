// The EFS adapter against the EFS fake through the real SDK: what a failover step would see.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEfsAdapter, type EfsAdapter, type EfsAdapterOptions } from "../../src/adapters/efs.ts";
import { DrbotError } from "../../src/core/errors.ts";
import { type FakeEfs, startFakeEfs } from "../../src/sandbox/stand-ins/efs.ts";

const EAST = "us-east-1";
const WEST = "us-west-2";
const SECRET = "fake-secret-for-adapter-tests";

let efs: FakeEfs;
const adapters: EfsAdapter[] = [];

beforeEach(async () => {
  efs = await startFakeEfs();
});

afterEach(async () => {
  for (const a of adapters.splice(0)) a.close();
  await efs.close();
});

function adapter(options: EfsAdapterOptions = {}): EfsAdapter {
  const a = createEfsAdapter({
    endpoint: efs.url,
    credentials: { accessKeyId: "AKIDFAKEEXAMPLE", secretAccessKey: SECRET },
    ...options,
  });
  adapters.push(a);
  return a;
}

function replicatedPair(): { source: string; dest: string } {
  const source = efs.addFileSystem({ region: EAST, name: "primary" });
  const dest = efs.addFileSystem({ region: WEST, name: "secondary" });
  efs.addReplication({ sourceFileSystemId: source, destinationFileSystemId: dest });
  return { source, dest };
}

async function caught(p: Promise<unknown>): Promise<DrbotError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrbotError);
  return err as DrbotError;
}

describe("describe", () => {
  it("describes a file system in its region", async () => {
    const { dest } = replicatedPair();

    expect(await adapter().describeFileSystem(WEST, dest)).toEqual({
      fileSystemId: dest,
      region: WEST,
      lifeCycleState: "available",
      overwriteProtection: "REPLICATING",
      name: "secondary",
    });
  });

  it("a file system asked for in another region is not_found, naming id and region", async () => {
    const id = efs.addFileSystem({ region: EAST });

    const err = await caught(adapter().describeFileSystem(WEST, id));

    expect(err.kind).toBe("not_found");
    expect(err.code).toBe("efs.file_system_not_found");
    expect(err.message).toContain(id);
    expect(err.message).toContain(WEST);
    expect(efs.callsTo("DescribeFileSystems", WEST)).toHaveLength(1);
  });

  it("describes the replication from either side, with the lag timestamp", async () => {
    const { source, dest } = replicatedPair();
    const at = new Date("2024-06-01T12:00:00.500Z");
    efs.setLastReplicated(source, at);
    const expected = {
      sourceFileSystemId: source,
      sourceRegion: EAST,
      destinations: [{ fileSystemId: dest, region: WEST, status: "ENABLED", lastReplicatedTimestamp: at }],
      creationTime: expect.any(Date),
    };

    expect(await adapter().describeReplication(EAST, source)).toEqual(expected);
    expect(await adapter().describeReplication(WEST, dest)).toEqual(expected);
  });

  it("returns null when the file system has no replication", async () => {
    const lone = efs.addFileSystem({ region: EAST });
    expect(await adapter().describeReplication(EAST, lone)).toBeNull();
  });

  it("counts mount targets across pages", async () => {
    const id = efs.addFileSystem({ region: EAST, mountTargets: 12 });

    expect(await adapter().countMountTargets(EAST, id)).toBe(12);
    expect(efs.callsTo("DescribeMountTargets", EAST)).toHaveLength(2);
  });
});

describe("stopping replication", () => {
  it("deletes from the destination region: DELETING, then gone and writable", async () => {
    const { source, dest } = replicatedPair();
    efs.setDeletionBehaviour({ afterDescribes: 2 }); // the two describes below still see it
    const efsApi = adapter();

    expect(await efsApi.ensureReplicationDeleted(WEST, dest, "ALL_CONFIGURATIONS")).toBe("deleting");
    expect((await efsApi.describeReplication(WEST, dest))?.destinations[0]?.status).toBe("DELETING");
    expect((await efsApi.describeFileSystem(WEST, dest)).overwriteProtection).toBe("REPLICATING");

    expect(await efsApi.describeReplication(WEST, dest)).toBeNull();
    expect((await efsApi.describeFileSystem(WEST, dest)).overwriteProtection).toBe("ENABLED");
    expect(efs.fileSystem(dest)?.writable).toBe(true);
    expect(efs.replicationOf(source)).toBeUndefined();

    const deletes = efs.callsTo("DeleteReplicationConfiguration", WEST);
    expect(deletes).toHaveLength(1);
    expect(deletes[0]?.query.get("deletionMode")).toBe("ALL_CONFIGURATIONS");
    expect(efs.callsTo("DeleteReplicationConfiguration", EAST)).toHaveLength(0);
  });

  it("is idempotent: a repeat while deleting or after it is gone succeeds", async () => {
    const { source } = replicatedPair();
    efs.setDeletionBehaviour({ afterDescribes: 0 });
    const efsApi = adapter();

    expect(await efsApi.ensureReplicationDeleted(WEST, source, "LOCAL_CONFIGURATION_ONLY")).toBe("deleting");
    expect(await efsApi.ensureReplicationDeleted(WEST, source, "LOCAL_CONFIGURATION_ONLY")).toBe("deleting");
    expect(await efsApi.describeReplication(WEST, source)).toBeNull();
    expect(await efsApi.ensureReplicationDeleted(WEST, source, "LOCAL_CONFIGURATION_ONLY")).toBe("not-found");
    expect(
      efs.callsTo("DeleteReplicationConfiguration", WEST).map((r) => r.query.get("deletionMode")),
    ).toEqual(["LOCAL_CONFIGURATION_ONLY", "LOCAL_CONFIGURATION_ONLY", "LOCAL_CONFIGURATION_ONLY"]);
  });

  it("a file system that is not replicated counts as already deleted; an unknown id does not", async () => {
    const lone = efs.addFileSystem({ region: WEST });

    expect(await adapter().ensureReplicationDeleted(WEST, lone, "ALL_CONFIGURATIONS")).toBe("not-found");
    const err = await caught(
      adapter().ensureReplicationDeleted(WEST, "fs-0123456789abcdef0", "ALL_CONFIGURATIONS"),
    );
    expect(err.code).toBe("efs.file_system_not_found");
  });
});

describe("errors", () => {
  it("throttling is transient; one throttled answer is absorbed by the SDK's retry", async () => {
    const id = efs.addFileSystem({ region: EAST });
    efs.failOperation("DescribeFileSystems", "ThrottlingException", { times: 5 });

    const err = await caught(adapter({ maxAttempts: 1 }).describeFileSystem(EAST, id));
    expect(err.kind).toBe("transient");
    expect(err.code).toBe("efs.throttled");

    efs.clearFaults();
    efs.failOperation("DescribeFileSystems", "ThrottlingException", { times: 1 });
    expect((await adapter().describeFileSystem(EAST, id)).fileSystemId).toBe(id);
  });

  it("an internal server error is transient", async () => {
    const { dest } = replicatedPair();
    efs.failOperation("DeleteReplicationConfiguration", "InternalServerError", { times: 5 });

    const err = await caught(
      adapter({ maxAttempts: 2 }).ensureReplicationDeleted(WEST, dest, "ALL_CONFIGURATIONS"),
    );

    expect(err.kind).toBe("transient");
    expect(err.code).toBe("efs.unavailable");
    expect(efs.callsTo("DeleteReplicationConfiguration", WEST)).toHaveLength(2);
    expect(efs.replicationOf(dest)?.deleting).toBe(false);
  });

  it("a region that is down is transient and says which region; the other region still answers", async () => {
    const { source, dest } = replicatedPair();
    const efsApi = adapter();
    efs.setRegionDown(EAST, true);

    const unavailable = await caught(efsApi.describeReplication(EAST, source));
    expect(unavailable.kind).toBe("transient");
    expect(unavailable.code).toBe("efs.unavailable");
    expect(unavailable.message).toContain(`EFS API in ${EAST}`);
    expect(unavailable.hint).toContain(EAST);

    efs.setRegionDown(EAST, true, "reset");
    const reset = await caught(efsApi.describeReplication(EAST, source));
    expect(reset.kind).toBe("transient");
    expect(reset.code).toBe("efs.unreachable");
    expect(reset.message).toContain(EAST);

    expect(await efsApi.ensureReplicationDeleted(WEST, dest, "LOCAL_CONFIGURATION_ONLY")).toBe("deleting");
  });

  it("a call that gets no answer in time is transient", async () => {
    const id = efs.addFileSystem({ region: EAST });
    efs.injectFault({ reply: { status: 200, body: { FileSystems: [] } }, delayMs: 1_000, times: 1 });

    const err = await caught(adapter({ maxAttempts: 1, requestTimeoutMs: 200 }).describeFileSystem(EAST, id));

    expect(err.kind).toBe("transient");
    expect(err.code).toBe("efs.unreachable");
  });

  it("access denied is forbidden, names the IAM action, and never shows the secret", async () => {
    const id = efs.addFileSystem({ region: EAST });
    efs.failOperation("DescribeMountTargets", "AccessDeniedException", {
      message: "User is not authorized to perform: elasticfilesystem:DescribeMountTargets",
    });

    const err = await caught(adapter({ maxAttempts: 1 }).countMountTargets(EAST, id));

    expect(err.kind).toBe("forbidden");
    expect(err.code).toBe("efs.forbidden");
    expect(err.hint).toContain("elasticfilesystem:DescribeMountTargets");
    expect(`${err.message} ${err.hint}`).not.toContain(SECRET);
  });

  it("bad requests are invalid and lifecycle conflicts are conflicts", async () => {
    const { dest } = replicatedPair();
    efs.failOperation("DeleteReplicationConfiguration", "BadRequest");
    efs.failOperation("DeleteReplicationConfiguration", "IncorrectFileSystemLifeCycleState");

    const bad = await caught(adapter().ensureReplicationDeleted(WEST, dest, "ALL_CONFIGURATIONS"));
    const conflict = await caught(adapter().ensureReplicationDeleted(WEST, dest, "ALL_CONFIGURATIONS"));

    expect([bad.kind, bad.code]).toEqual(["invalid", "efs.invalid_request"]);
    expect([conflict.kind, conflict.code]).toEqual(["conflict", "efs.file_system_not_available"]);
  });
});

describe("configuration", () => {
  it("finds the endpoint and credentials through the SDK's own chain (AWS_ENDPOINT_URL_EFS)", async () => {
    const id = efs.addFileSystem({ region: WEST });
    const saved = { ...process.env };
    process.env.AWS_ENDPOINT_URL_EFS = efs.url;
    process.env.AWS_ACCESS_KEY_ID = "AKIDFAKEFROMENV";
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    try {
      const efsApi = createEfsAdapter();
      adapters.push(efsApi);
      expect((await efsApi.describeFileSystem(WEST, id)).fileSystemId).toBe(id);
      expect(efs.callsTo("DescribeFileSystems", WEST)[0]?.headers.authorization).toContain(
        "AKIDFAKEFROMENV/",
      );
    } finally {
      process.env = saved;
    }
  });
});
