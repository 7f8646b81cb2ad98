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
  efs = await startFakeEfs({ credentials: [{ accessKeyId: "AKIDFAKEEXAMPLE", secretAccessKey: SECRET }] });
});

afterEach(async () => {
  for (const a of adapters.splice(0)) a.close();
  await efs.close();
});

function adapter(options: EfsAdapterOptions = {}): EfsAdapter {
  const a = createEfsAdapter({
    endpoint: efs.endpointTemplate,
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

describe("mount targets", () => {
  it("lists every mount target with its zone and state, across pages", async () => {
    const id = efs.addFileSystem({ region: WEST });
    efs.setMountTargets(id, [
      ...Array.from({ length: 11 }, () => ({})),
      { availabilityZoneName: "us-west-2d", lifeCycleState: "creating" },
    ]);

    const targets = await adapter().describeMountTargets(WEST, id);

    expect(targets).toHaveLength(12);
    expect(targets[0]).toEqual({
      mountTargetId: expect.stringMatching(/^fsmt-/),
      availabilityZoneName: "us-west-2a",
      lifeCycleState: "available",
      ipAddress: expect.any(String),
    });
    expect(targets[11]).toMatchObject({ availabilityZoneName: "us-west-2d", lifeCycleState: "creating" });
    expect(efs.callsTo("DescribeMountTargets", WEST)).toHaveLength(2);
    expect(efs.mutatingCalls()).toEqual([]);
  });
});

describe("re-protecting", () => {
  it("disables a file system's overwrite protection in its region; setting it again succeeds", async () => {
    const id = efs.addFileSystem({ region: WEST });
    const efsApi = adapter();

    await efsApi.ensureOverwriteProtection(WEST, id, "DISABLED");
    await efsApi.ensureOverwriteProtection(WEST, id, "DISABLED");

    expect((await efsApi.describeFileSystem(WEST, id)).overwriteProtection).toBe("DISABLED");
    expect(efs.callsTo("UpdateFileSystemProtection", WEST)).toHaveLength(2);
    await efsApi.ensureOverwriteProtection(WEST, id, "ENABLED");
    expect(efs.fileSystem(id)?.overwriteProtection).toBe("ENABLED");
  });

  it("creates the replication to the existing file system, and a repeat says it exists", async () => {
    const source = efs.addFileSystem({ region: WEST });
    const dest = efs.addFileSystem({ region: EAST, overwriteProtection: "DISABLED" });
    const efsApi = adapter();

    expect(await efsApi.ensureReplication(WEST, source, { region: EAST, fileSystemId: dest })).toBe(
      "created",
    );
    expect(await efsApi.ensureReplication(WEST, source, { region: EAST, fileSystemId: dest })).toBe("exists");

    const [create] = efs.callsTo("CreateReplicationConfiguration", WEST);
    expect(JSON.parse(create?.body ?? "{}")).toEqual({
      Destinations: [{ Region: EAST, FileSystemId: dest }],
    });
    expect(efs.replicationOf(dest)).toMatchObject({ sourceFileSystemId: source, sourceRegion: WEST });
    expect(efs.fileSystem(dest)?.overwriteProtection).toBe("REPLICATING");
    const info = await efsApi.describeReplication(EAST, dest);
    expect(info?.destinations[0]).toMatchObject({ fileSystemId: dest, region: EAST, status: "ENABLED" });
  });

  it("refuses a destination whose protection is ENABLED, saying how to disable it", async () => {
    const source = efs.addFileSystem({ region: WEST });
    const dest = efs.addFileSystem({ region: EAST });

    const err = await caught(adapter().ensureReplication(WEST, source, { region: EAST, fileSystemId: dest }));

    expect([err.kind, err.code]).toEqual(["conflict", "efs.destination_protected"]);
    expect(err.message).toContain(`${dest} in ${EAST} has replication overwrite protection ENABLED`);
    expect(err.hint).toContain(
      `--file-system-id ${dest} --replication-overwrite-protection DISABLED --region ${EAST}`,
    );
    expect(efs.replicationOf(source)).toBeUndefined();
  });

  it("names a configuration left in the way (after a LOCAL_CONFIGURATION_ONLY deletion) and where to remove it", async () => {
    const { source, dest } = replicatedPair();
    efs.setDeletionBehaviour({ afterDescribes: 0 });
    const efsApi = adapter();
    await efsApi.ensureReplicationDeleted(WEST, dest, "LOCAL_CONFIGURATION_ONLY");
    expect(await efsApi.describeReplication(WEST, dest)).toBeNull();

    const protecting = await caught(efsApi.ensureOverwriteProtection(EAST, source, "DISABLED"));
    expect(protecting.code).toBe("efs.replication_exists");
    expect(protecting.message).toContain(`${source} (${EAST}) -> ${dest} (${WEST})`);
    expect(protecting.hint).toContain(`--source-file-system-id ${source} --region ${EAST}`);

    const reverse = await caught(
      efsApi.ensureReplication(WEST, dest, { region: EAST, fileSystemId: source }),
    );
    expect([reverse.kind, reverse.code]).toEqual(["conflict", "efs.replication_exists"]);
    expect(reverse.message).toContain(`as ${EAST} sees it`);
    expect(reverse.hint).toContain(`in ${EAST}`);

    // Removed where it lives, the way is clear.
    expect(await efsApi.ensureReplicationDeleted(EAST, source, "ALL_CONFIGURATIONS")).toBe("deleting");
    expect(await efsApi.describeReplication(EAST, source)).toBeNull();
    await efsApi.ensureOverwriteProtection(EAST, source, "DISABLED");
    expect(await efsApi.ensureReplication(WEST, dest, { region: EAST, fileSystemId: source })).toBe(
      "created",
    );
  });

  it("an unencrypted destination is a conflict, a source not available is the wrong life cycle", async () => {
    const source = efs.addFileSystem({ region: WEST });
    const plain = efs.addFileSystem({ region: EAST, encrypted: false, overwriteProtection: "DISABLED" });
    const efsApi = adapter();

    const unencrypted = await caught(
      efsApi.ensureReplication(WEST, source, { region: EAST, fileSystemId: plain }),
    );
    expect([unencrypted.kind, unencrypted.code]).toEqual(["conflict", "efs.conflict"]);
    expect(unencrypted.message).toContain("encrypted but the destination is not");

    efs.setLifeCycleState(source, "updating");
    const dest = efs.addFileSystem({ region: EAST, overwriteProtection: "DISABLED" });
    const busy = await caught(efsApi.ensureReplication(WEST, source, { region: EAST, fileSystemId: dest }));
    expect([busy.kind, busy.code]).toEqual(["conflict", "efs.wrong_lifecycle"]);
  });

  it("throttling of the create is transient", async () => {
    const source = efs.addFileSystem({ region: WEST });
    const dest = efs.addFileSystem({ region: EAST, overwriteProtection: "DISABLED" });
    efs.failOperation("CreateReplicationConfiguration", "ThrottlingException", { times: 5 });

    const err = await caught(
      adapter({ maxAttempts: 1 }).ensureReplication(WEST, source, { region: EAST, fileSystemId: dest }),
    );

    expect([err.kind, err.code]).toEqual(["transient", "efs.throttled"]);
    expect(efs.replicationOf(source)).toBeUndefined();
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
    expect([conflict.kind, conflict.code]).toEqual(["conflict", "efs.wrong_lifecycle"]);
  });
});

describe("configuration", () => {
  /** Runs `body` with these environment variables, restoring the environment afterwards. */
  async function withEnv(vars: Record<string, string>, body: () => Promise<void>): Promise<void> {
    const saved = { ...process.env };
    Object.assign(process.env, vars);
    try {
      await body();
    } finally {
      process.env = saved;
    }
  }

  it("finds a plain endpoint and credentials through the SDK's own chain (AWS_ENDPOINT_URL_EFS)", async () => {
    const id = efs.addFileSystem({ region: WEST });
    efs.addCredentials({ accessKeyId: "AKIDFAKEFROMENV", secretAccessKey: SECRET });
    await withEnv(
      { AWS_ENDPOINT_URL_EFS: efs.url, AWS_ACCESS_KEY_ID: "AKIDFAKEFROMENV", AWS_SECRET_ACCESS_KEY: SECRET },
      async () => {
        const efsApi = createEfsAdapter();
        adapters.push(efsApi);
        expect((await efsApi.describeFileSystem(WEST, id)).fileSystemId).toBe(id);
        const [call] = efs.callsTo("DescribeFileSystems", WEST);
        expect(call?.headers.authorization).toContain("AKIDFAKEFROMENV/");
        expect(call?.path).toBe("/2015-02-01/file-systems");
      },
    );
  });

  it("gives each region its own endpoint when AWS_ENDPOINT_URL_EFS holds {region}", async () => {
    const east = efs.addFileSystem({ region: EAST });
    const west = efs.addFileSystem({ region: WEST });
    efs.addCredentials({ accessKeyId: "AKIDFAKEFROMENV", secretAccessKey: SECRET });
    await withEnv(
      {
        AWS_ENDPOINT_URL_EFS: efs.endpointTemplate,
        AWS_ACCESS_KEY_ID: "AKIDFAKEFROMENV",
        AWS_SECRET_ACCESS_KEY: SECRET,
      },
      async () => {
        const efsApi = createEfsAdapter();
        adapters.push(efsApi);
        expect((await efsApi.describeFileSystem(EAST, east)).fileSystemId).toBe(east);
        expect((await efsApi.describeFileSystem(WEST, west)).fileSystemId).toBe(west);
        expect(efs.callsTo("DescribeFileSystems").map((r) => r.path)).toEqual([
          `/${EAST}/2015-02-01/file-systems`,
          `/${WEST}/2015-02-01/file-systems`,
        ]);
      },
    );
  });

  it("a wrong secret is refused as bad credentials, without the secret in the message", async () => {
    const id = efs.addFileSystem({ region: EAST });

    const err = await caught(
      adapter({
        credentials: { accessKeyId: "AKIDFAKEEXAMPLE", secretAccessKey: "wrong-secret-value" },
      }).describeFileSystem(EAST, id),
    );

    expect([err.kind, err.code]).toEqual(["forbidden", "efs.bad_credentials"]);
    expect(err.hint).toContain(EAST);
    expect(`${err.message} ${err.hint}`).not.toContain("wrong-secret-value");
  });
});
