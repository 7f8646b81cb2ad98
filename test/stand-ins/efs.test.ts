// The EFS fake, driven by the real @aws-sdk/client-efs: what the SDK parses out of the fake's
// answers is what the adapter will see from AWS.
import {
  BadRequest,
  ConflictException,
  CreateReplicationConfigurationCommand,
  DeleteReplicationConfigurationCommand,
  DescribeAccessPointsCommand,
  DescribeFileSystemsCommand,
  DescribeMountTargetsCommand,
  DescribeReplicationConfigurationsCommand,
  EFSClient,
  type EFSClientConfig,
  EFSServiceException,
  FileSystemNotFound,
  IncorrectFileSystemLifeCycleState,
  InternalServerError,
  paginateDescribeFileSystems,
  ReplicationAlreadyExists,
  ReplicationNotFound,
  ThrottlingException,
  UpdateFileSystemProtectionCommand,
  ValidationException,
} from "@aws-sdk/client-efs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeEfs, type FakeEfsOptions, startFakeEfs } from "../../src/sandbox/stand-ins/efs.ts";

const EAST = "us-east-1";
const WEST = "us-west-2";

let efs: FakeEfs;
const clients: EFSClient[] = [];

beforeEach(async () => {
  efs = await startFakeEfs();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await efs.close();
});

/** Replaces this test's stand-in with one started with `options`. */
async function restartWith(options: FakeEfsOptions): Promise<FakeEfs> {
  await efs.close();
  return startFakeEfs(options);
}

/** A real SDK client addressed to `region` at that region's endpoint, without retries unless asked. */
function sdk(region: string, maxAttempts = 1, config: Partial<EFSClientConfig> = {}): EFSClient {
  const client = new EFSClient({
    region,
    endpoint: efs.endpointFor(region),
    credentials: efs.credentials,
    maxAttempts,
    ...config,
  });
  clients.push(client);
  return client;
}

function replicatedPair(): { source: string; dest: string } {
  const source = efs.addFileSystem({ region: EAST, name: "primary", mountTargets: 2 });
  const dest = efs.addFileSystem({ region: WEST, name: "secondary" });
  efs.addReplication({ sourceFileSystemId: source, destinationFileSystemId: dest });
  return { source, dest };
}

async function describeRep(region: string, fileSystemId: string) {
  const out = await sdk(region).send(
    new DescribeReplicationConfigurationsCommand({ FileSystemId: fileSystemId }),
  );
  return out.Replications ?? [];
}

describe("DescribeFileSystems", () => {
  it("returns the file system with the fields the SDK parses, dates as Dates", async () => {
    const created = new Date("2024-05-01T10:00:00Z");
    const id = efs.addFileSystem({ region: EAST, name: "primary", mountTargets: 3, creationTime: created });

    const out = await sdk(EAST).send(new DescribeFileSystemsCommand({ FileSystemId: id }));

    expect(out.FileSystems).toHaveLength(1);
    const fs = out.FileSystems?.[0];
    expect(fs).toMatchObject({
      FileSystemId: id,
      Name: "primary",
      LifeCycleState: "available",
      NumberOfMountTargets: 3,
      FileSystemArn: `arn:aws:elasticfilesystem:${EAST}:${efs.accountId}:file-system/${id}`,
      FileSystemProtection: { ReplicationOverwriteProtection: "ENABLED" },
    });
    expect(fs?.CreationTime).toEqual(created);
  });

  it("only shows a file system in its own region", async () => {
    const id = efs.addFileSystem({ region: EAST });

    const err = await sdk(WEST)
      .send(new DescribeFileSystemsCommand({ FileSystemId: id }))
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(FileSystemNotFound);
    expect((err as FileSystemNotFound).$metadata.httpStatusCode).toBe(404);
    expect((err as FileSystemNotFound).ErrorCode).toBe("FileSystemNotFound");
    expect(efs.callsTo("DescribeFileSystems", WEST)).toHaveLength(1);
    expect(efs.callsTo("DescribeFileSystems", EAST)).toHaveLength(0);
  });

  it("lists a region's file systems across pages", async () => {
    const east = [1, 2, 3, 4, 5].map(() => efs.addFileSystem({ region: EAST }));
    efs.addFileSystem({ region: WEST });

    const seen: string[] = [];
    for await (const page of paginateDescribeFileSystems({ client: sdk(EAST), pageSize: 2 }, {}))
      for (const fs of page.FileSystems ?? []) seen.push(fs.FileSystemId ?? "");

    expect(seen).toEqual(east);
    expect(efs.callsTo("DescribeFileSystems", EAST)).toHaveLength(3);
  });

  it("accepts a file system ARN and rejects a malformed id", async () => {
    const id = efs.addFileSystem({ region: EAST });
    const arn = `arn:aws:elasticfilesystem:${EAST}:${efs.accountId}:file-system/${id}`;
    const byArn = await sdk(EAST).send(new DescribeFileSystemsCommand({ FileSystemId: arn }));
    expect(byArn.FileSystems?.[0]?.FileSystemId).toBe(id);

    await expect(
      sdk(EAST).send(new DescribeFileSystemsCommand({ FileSystemId: "not-an-id" })),
    ).rejects.toBeInstanceOf(BadRequest);
  });
});

describe("DescribeReplicationConfigurations", () => {
  it("finds the configuration by source id and, in the destination region, by destination id", async () => {
    const { source, dest } = replicatedPair();
    const at = new Date("2024-06-01T12:00:00.250Z");
    efs.setLastReplicated(source, at);

    const [fromSource] = await describeRep(EAST, source);
    const [fromDest] = await describeRep(WEST, dest);

    for (const rep of [fromSource, fromDest]) {
      expect(rep).toMatchObject({
        SourceFileSystemId: source,
        SourceFileSystemRegion: EAST,
        SourceFileSystemArn: `arn:aws:elasticfilesystem:${EAST}:${efs.accountId}:file-system/${source}`,
        Destinations: [{ FileSystemId: dest, Region: WEST, Status: "ENABLED" }],
      });
      expect(rep?.Destinations?.[0]?.LastReplicatedTimestamp).toEqual(at);
      expect(rep?.CreationTime).toBeInstanceOf(Date);
    }
    expect(efs.fileSystem(dest)).toMatchObject({ overwriteProtection: "REPLICATING", writable: false });
  });

  it("lists what each region holds", async () => {
    const { source } = replicatedPair();
    efs.addFileSystem({ region: EAST });

    const east = await sdk(EAST).send(new DescribeReplicationConfigurationsCommand({}));
    const west = await sdk(WEST).send(new DescribeReplicationConfigurationsCommand({}));
    const other = await sdk("eu-west-1").send(new DescribeReplicationConfigurationsCommand({}));

    expect(east.Replications?.map((r) => r.SourceFileSystemId)).toEqual([source]);
    expect(west.Replications?.map((r) => r.SourceFileSystemId)).toEqual([source]);
    expect(other.Replications).toEqual([]);
  });

  it("answers ReplicationNotFound for a file system without one, FileSystemNotFound for an unknown id", async () => {
    const { source, dest } = replicatedPair();
    const lone = efs.addFileSystem({ region: EAST });

    expect((await describeRep(EAST, dest))[0]?.SourceFileSystemId).toBe(source);
    await expect(describeRep(EAST, lone)).rejects.toBeInstanceOf(ReplicationNotFound);
    await expect(describeRep(WEST, lone)).rejects.toBeInstanceOf(ReplicationNotFound);
    await expect(describeRep(EAST, "fs-0123456789abcdef0")).rejects.toBeInstanceOf(FileSystemNotFound);
  });
});

describe("CreateReplicationConfiguration and UpdateFileSystemProtection", () => {
  it("creates a new destination file system that is REPLICATING", async () => {
    const source = efs.addFileSystem({ region: EAST });

    const out = await sdk(EAST).send(
      new CreateReplicationConfigurationCommand({
        SourceFileSystemId: source,
        Destinations: [{ Region: WEST }],
      }),
    );

    const destId = out.Destinations?.[0]?.FileSystemId ?? "";
    expect(out.SourceFileSystemId).toBe(source);
    expect(out.Destinations?.[0]?.Region).toBe(WEST);
    expect(efs.fileSystem(destId)).toMatchObject({ region: WEST, overwriteProtection: "REPLICATING" });
    expect(efs.replicationOf(destId)?.sourceFileSystemId).toBe(source);
  });

  it("needs an existing destination's protection DISABLED first, and then locks it", async () => {
    const source = efs.addFileSystem({ region: EAST });
    const dest = efs.addFileSystem({ region: WEST });
    const create = new CreateReplicationConfigurationCommand({
      SourceFileSystemId: source,
      Destinations: [{ Region: WEST, FileSystemId: dest }],
    });
    expect(efs.fileSystem(dest)).toMatchObject({ overwriteProtection: "ENABLED", writable: true });

    const refused = await sdk(EAST)
      .send(create)
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ReplicationAlreadyExists);
    expect((refused as Error).message).toContain(`${dest} has ReplicationOverwriteProtection ENABLED`);
    expect(efs.replicationOf(source)).toBeUndefined();

    const updated = await sdk(WEST).send(
      new UpdateFileSystemProtectionCommand({
        FileSystemId: dest,
        ReplicationOverwriteProtection: "DISABLED",
      }),
    );
    expect(updated.ReplicationOverwriteProtection).toBe("DISABLED");
    // DISABLED: read-only, waiting to become a destination (API reference).
    expect(efs.fileSystem(dest)).toMatchObject({ overwriteProtection: "DISABLED", writable: false });
    // Setting the value it already has succeeds.
    await sdk(WEST).send(
      new UpdateFileSystemProtectionCommand({
        FileSystemId: dest,
        ReplicationOverwriteProtection: "DISABLED",
      }),
    );

    const created = await sdk(EAST).send(create);
    expect(created.Destinations).toMatchObject([{ FileSystemId: dest, Region: WEST, Status: "ENABLING" }]);
    expect(efs.fileSystem(dest)?.overwriteProtection).toBe("REPLICATING");

    const locked = await sdk(WEST)
      .send(
        new UpdateFileSystemProtectionCommand({
          FileSystemId: dest,
          ReplicationOverwriteProtection: "ENABLED",
        }),
      )
      .catch((e: unknown) => e);
    expect(locked).toBeInstanceOf(ReplicationAlreadyExists);
    expect((locked as Error).message).toBe(
      "ReplicationOverwriteProtection cannot be changed while the file system is a replication destination.",
    );
    await expect(sdk(EAST).send(create)).rejects.toBeInstanceOf(ReplicationAlreadyExists);
  });

  it("goes ENABLING -> ENABLED after the configured delay, then LastReplicatedTimestamp advances", async () => {
    // The stand-in's own clock, moved by the test: no waiting, and no race with a slow machine.
    let now = Date.parse("2026-11-21T10:00:00.000Z");
    efs = await restartWith({ clock: () => now, enablingMs: 60_000, syncIntervalMs: 20_000 });
    const source = efs.addFileSystem({ region: EAST });
    const dest = efs.addFileSystem({ region: WEST, overwriteProtection: "DISABLED" });
    const created = now;
    await sdk(EAST).send(
      new CreateReplicationConfigurationCommand({
        SourceFileSystemId: source,
        Destinations: [{ Region: WEST, FileSystemId: dest }],
      }),
    );
    const destination = async (region = EAST, id = source) =>
      (await describeRep(region, id))[0]?.Destinations?.[0];
    expect(await destination(WEST, dest)).toMatchObject({ Status: "ENABLING" });
    expect((await destination(WEST, dest))?.LastReplicatedTimestamp).toBeUndefined();

    now = created + 59_999;
    expect((await destination())?.Status).toBe("ENABLING");
    now = created + 60_000;
    // ENABLED once the delay is over; its first sync completed then.
    expect(await destination()).toMatchObject({
      Status: "ENABLED",
      LastReplicatedTimestamp: new Date(created + 60_000),
    });
    now += 19_999;
    expect((await destination())?.LastReplicatedTimestamp).toEqual(new Date(created + 60_000));
    now += 1;
    expect((await destination())?.LastReplicatedTimestamp).toEqual(new Date(created + 80_000));

    // Stalled, it falls behind: the timestamp stays while time passes.
    efs.stallReplication(source);
    now += 10 * 60_000;
    expect((await destination())?.LastReplicatedTimestamp).toEqual(new Date(created + 80_000));
    // Running again, it catches up to the latest sync before now.
    efs.stallReplication(source, false);
    expect((await destination())?.LastReplicatedTimestamp).toEqual(new Date(created + 680_000));
  });

  it("refuses an unencrypted destination for an encrypted source with ConflictException", async () => {
    const source = efs.addFileSystem({ region: EAST });
    const dest = efs.addFileSystem({ region: WEST, encrypted: false, overwriteProtection: "DISABLED" });

    const err = await sdk(EAST)
      .send(
        new CreateReplicationConfigurationCommand({
          SourceFileSystemId: source,
          Destinations: [{ Region: WEST, FileSystemId: dest }],
        }),
      )
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ConflictException);
    expect((err as ConflictException).$metadata.httpStatusCode).toBe(409);
    expect(efs.fileSystem(dest)?.overwriteProtection).toBe("DISABLED");
    const fs = await sdk(WEST).send(new DescribeFileSystemsCommand({ FileSystemId: dest }));
    expect(fs.FileSystems?.[0]?.Encrypted).toBe(false);
  });

  it("refuses a source that is not available", async () => {
    const source = efs.addFileSystem({ region: EAST, lifeCycleState: "creating" });

    const err = await sdk(EAST)
      .send(
        new CreateReplicationConfigurationCommand({
          SourceFileSystemId: source,
          Destinations: [{ Region: WEST }],
        }),
      )
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(IncorrectFileSystemLifeCycleState);
    expect((err as IncorrectFileSystemLifeCycleState).$metadata.httpStatusCode).toBe(409);
  });
});

describe("DeleteReplicationConfiguration", () => {
  it("deletes from the destination region: DELETING first, then gone and writable", async () => {
    const { source, dest } = replicatedPair();

    await sdk(WEST).send(
      new DeleteReplicationConfigurationCommand({
        SourceFileSystemId: dest,
        DeletionMode: "ALL_CONFIGURATIONS",
      }),
    );

    const [during] = await describeRep(WEST, dest);
    expect(during?.Destinations?.[0]?.Status).toBe("DELETING");
    expect(efs.fileSystem(dest)?.writable).toBe(false);

    await expect(describeRep(WEST, dest)).rejects.toBeInstanceOf(ReplicationNotFound);
    await expect(describeRep(EAST, source)).rejects.toBeInstanceOf(ReplicationNotFound);
    const fs = await sdk(WEST).send(new DescribeFileSystemsCommand({ FileSystemId: dest }));
    expect(fs.FileSystems?.[0]?.FileSystemProtection?.ReplicationOverwriteProtection).toBe("ENABLED");
    expect(efs.fileSystem(dest)?.writable).toBe(true);
    expect(efs.replicationOf(source)).toBeUndefined();

    const deletes = efs.callsTo("DeleteReplicationConfiguration", WEST);
    expect(deletes).toHaveLength(1);
    expect(deletes[0]?.query.get("deletionMode")).toBe("ALL_CONFIGURATIONS");
    expect(efs.callsTo("DeleteReplicationConfiguration", EAST)).toHaveLength(0);
  });

  it("accepts the source id in the destination region, and a repeat while deleting", async () => {
    const { source, dest } = replicatedPair();
    efs.setDeletionBehaviour({ afterDescribes: 3 });
    const del = new DeleteReplicationConfigurationCommand({ SourceFileSystemId: source });

    await sdk(WEST).send(del);
    await sdk(WEST).send(del);

    expect(efs.replicationOf(dest)).toMatchObject({ deleting: true, destinations: [{ status: "DELETING" }] });
    for (let i = 0; i < 3; i++) await describeRep(WEST, dest);
    await expect(describeRep(WEST, dest)).rejects.toBeInstanceOf(ReplicationNotFound);
    await expect(sdk(WEST).send(del)).rejects.toBeInstanceOf(ReplicationNotFound);
  });

  it("takes the configured deletion time, DELETING until then", async () => {
    let now = Date.parse("2026-11-21T10:00:00.000Z");
    efs = await restartWith({ clock: () => now, deletionMs: 5 * 60_000 });
    const { source, dest } = replicatedPair();
    const asked = now;

    await sdk(EAST).send(new DeleteReplicationConfigurationCommand({ SourceFileSystemId: source }));
    for (const at of [asked, asked + 60_000, asked + 5 * 60_000 - 1]) {
      now = at;
      expect((await describeRep(EAST, source))[0]?.Destinations?.[0]?.Status).toBe("DELETING");
      expect(efs.fileSystem(dest)?.writable).toBe(false);
    }
    now = asked + 5 * 60_000;
    await expect(describeRep(WEST, dest)).rejects.toBeInstanceOf(ReplicationNotFound);
    expect(efs.replicationOf(source)).toBeUndefined();
    expect(efs.fileSystem(dest)).toMatchObject({ overwriteProtection: "ENABLED", writable: true });
  });

  it("can be told never to finish", async () => {
    const { dest } = replicatedPair();
    efs.setDeletionBehaviour({ never: true });

    await sdk(WEST).send(new DeleteReplicationConfigurationCommand({ SourceFileSystemId: dest }));
    for (let i = 0; i < 5; i++) {
      const [rep] = await describeRep(WEST, dest);
      expect(rep?.Destinations?.[0]?.Status).toBe("DELETING");
    }
    expect(efs.fileSystem(dest)?.overwriteProtection).toBe("REPLICATING");
  });

  it("LOCAL_CONFIGURATION_ONLY deletes only the half in the called region; the other half stays in the way", async () => {
    const { source, dest } = replicatedPair();
    efs.setDeletionBehaviour({ afterDescribes: 2 }); // the two describes below see it DELETING

    await sdk(WEST).send(
      new DeleteReplicationConfigurationCommand({
        SourceFileSystemId: dest,
        DeletionMode: "LOCAL_CONFIGURATION_ONLY",
      }),
    );
    const [during] = await describeRep(WEST, dest);
    expect(during?.Destinations?.[0]?.Status).toBe("DELETING");
    // The other region's half is not being deleted.
    const [east] = await describeRep(EAST, source);
    expect(east?.Destinations?.[0]?.Status).toBe("ENABLED");

    await expect(describeRep(WEST, dest)).rejects.toBeInstanceOf(ReplicationNotFound);
    // The destination's half is gone: writable again, protection back to ENABLED.
    expect(efs.fileSystem(dest)).toMatchObject({ overwriteProtection: "ENABLED", writable: true });
    expect(efs.replicationOf(dest)).toBeUndefined();
    // The source region still has its half, and says the other one is gone.
    const [orphan] = await describeRep(EAST, source);
    expect(orphan?.Destinations?.[0]).toMatchObject({ FileSystemId: dest, Region: WEST, Status: "ERROR" });
    expect(orphan?.Destinations?.[0]?.StatusMessage).toContain("other Region's half");
    expect(efs.replicationOf(source)?.regions).toEqual([EAST]);

    // It blocks a new replication of the source, either way round, until it is deleted in EAST.
    await sdk(WEST).send(
      new UpdateFileSystemProtectionCommand({
        FileSystemId: dest,
        ReplicationOverwriteProtection: "DISABLED",
      }),
    );
    const reverse = new CreateReplicationConfigurationCommand({
      SourceFileSystemId: dest,
      Destinations: [{ Region: EAST, FileSystemId: source }],
    });
    await expect(sdk(WEST).send(reverse)).rejects.toBeInstanceOf(ReplicationAlreadyExists);
    await expect(
      sdk(EAST).send(
        new UpdateFileSystemProtectionCommand({
          FileSystemId: source,
          ReplicationOverwriteProtection: "DISABLED",
        }),
      ),
    ).rejects.toBeInstanceOf(ReplicationAlreadyExists);

    efs.setDeletionBehaviour({ afterDescribes: 0 });
    await sdk(EAST).send(new DeleteReplicationConfigurationCommand({ SourceFileSystemId: source }));
    await expect(describeRep(EAST, source)).rejects.toBeInstanceOf(ReplicationNotFound);
    await sdk(EAST).send(
      new UpdateFileSystemProtectionCommand({
        FileSystemId: source,
        ReplicationOverwriteProtection: "DISABLED",
      }),
    );
    const created = await sdk(WEST).send(reverse);
    expect(created).toMatchObject({ SourceFileSystemId: dest, SourceFileSystemRegion: WEST });
    expect(efs.fileSystem(source)?.overwriteProtection).toBe("REPLICATING");
  });

  it("LOCAL_CONFIGURATION_ONLY in the source region leaves the destination read-only", async () => {
    const { source, dest } = replicatedPair();

    await sdk(EAST).send(
      new DeleteReplicationConfigurationCommand({
        SourceFileSystemId: source,
        DeletionMode: "LOCAL_CONFIGURATION_ONLY",
      }),
    );
    await describeRep(EAST, source);

    await expect(describeRep(EAST, source)).rejects.toBeInstanceOf(ReplicationNotFound);
    expect(efs.fileSystem(dest)).toMatchObject({ overwriteProtection: "REPLICATING", writable: false });
    expect((await describeRep(WEST, dest))[0]?.Destinations?.[0]?.Status).toBe("ERROR");
  });

  it("refuses LOCAL_CONFIGURATION_ONLY for same-region replication and an unknown mode", async () => {
    const source = efs.addFileSystem({ region: EAST });
    efs.addReplication({ sourceFileSystemId: source, destinationRegion: EAST });

    await expect(
      sdk(EAST).send(
        new DeleteReplicationConfigurationCommand({
          SourceFileSystemId: source,
          DeletionMode: "LOCAL_CONFIGURATION_ONLY",
        }),
      ),
    ).rejects.toBeInstanceOf(BadRequest);
    await expect(
      sdk(EAST).send(
        new DeleteReplicationConfigurationCommand({
          SourceFileSystemId: source,
          DeletionMode: "EVERYTHING" as "ALL_CONFIGURATIONS",
        }),
      ),
    ).rejects.toBeInstanceOf(ValidationException);
    expect(efs.replicationOf(source)?.deleting).toBe(false);
  });

  it("ALL_CONFIGURATIONS stays DELETING while the other region is down, and completes when it is back", async () => {
    const { source, dest } = replicatedPair();
    efs.setRegionDown(EAST, true);

    await sdk(WEST).send(new DeleteReplicationConfigurationCommand({ SourceFileSystemId: dest }));
    for (let i = 0; i < 5; i++) {
      const [rep] = await describeRep(WEST, dest);
      expect(rep?.Destinations?.[0]?.Status).toBe("DELETING");
    }
    // The destination never becomes writable while the deletion cannot reach the other region.
    const fs = await sdk(WEST).send(new DescribeFileSystemsCommand({ FileSystemId: dest }));
    expect(fs.FileSystems?.[0]?.FileSystemProtection?.ReplicationOverwriteProtection).toBe("REPLICATING");
    expect(efs.replicationOf(source)).toMatchObject({ regions: [EAST, WEST], deleting: true });

    efs.setRegionDown(EAST, false);
    await expect(describeRep(EAST, source)).rejects.toBeInstanceOf(ReplicationNotFound);
    await expect(describeRep(WEST, dest)).rejects.toBeInstanceOf(ReplicationNotFound);
    expect(efs.fileSystem(dest)).toMatchObject({ overwriteProtection: "ENABLED", writable: true });
  });

  it("LOCAL_CONFIGURATION_ONLY during the outage makes the destination writable; the source's half waits", async () => {
    const { source, dest } = replicatedPair();
    efs.setRegionDown(EAST, true);

    await sdk(WEST).send(new DeleteReplicationConfigurationCommand({ SourceFileSystemId: dest }));
    await describeRep(WEST, dest);
    expect((await describeRep(WEST, dest))[0]?.Destinations?.[0]?.Status).toBe("DELETING");
    // The operator gives up waiting and deletes the local half only.
    await sdk(WEST).send(
      new DeleteReplicationConfigurationCommand({
        SourceFileSystemId: dest,
        DeletionMode: "LOCAL_CONFIGURATION_ONLY",
      }),
    );
    await describeRep(WEST, dest);

    await expect(describeRep(WEST, dest)).rejects.toBeInstanceOf(ReplicationNotFound);
    expect(efs.fileSystem(dest)?.writable).toBe(true);
    efs.setRegionDown(EAST, false);
    const [left] = await describeRep(EAST, source);
    expect(left?.Destinations?.[0]?.Status).toBe("ERROR");
  });
});

describe("mount targets and access points", () => {
  it("describes mount targets and access points of a file system", async () => {
    const id = efs.addFileSystem({ region: WEST, mountTargets: 3 });
    const ap = efs.addAccessPoint(id, { name: "data", path: "/k8s", uid: 1000, gid: 1000 });

    const mts = await sdk(WEST).send(new DescribeMountTargetsCommand({ FileSystemId: id }));
    const aps = await sdk(WEST).send(new DescribeAccessPointsCommand({ FileSystemId: id }));

    expect(mts.MountTargets).toHaveLength(3);
    expect(mts.MountTargets?.map((m) => m.AvailabilityZoneName)).toEqual([
      "us-west-2a",
      "us-west-2b",
      "us-west-2c",
    ]);
    expect(mts.MountTargets?.every((m) => m.FileSystemId === id && m.LifeCycleState === "available")).toBe(
      true,
    );
    expect(aps.AccessPoints).toMatchObject([
      {
        AccessPointId: ap,
        Name: "data",
        RootDirectory: { Path: "/k8s" },
        PosixUser: { Uid: 1000, Gid: 1000 },
      },
    ]);
    await expect(sdk(WEST).send(new DescribeMountTargetsCommand({}))).rejects.toBeInstanceOf(BadRequest);
    await expect(
      sdk(EAST).send(new DescribeMountTargetsCommand({ FileSystemId: id })),
    ).rejects.toBeInstanceOf(FileSystemNotFound);
  });

  it("reports each mount target's zone and life-cycle state as set for a drill", async () => {
    const id = efs.addFileSystem({ region: WEST, mountTargets: 3 });

    efs.setMountTargets(id, [
      { availabilityZoneName: "us-west-2b", lifeCycleState: "available" },
      { availabilityZoneName: "us-west-2c", lifeCycleState: "deleting" },
    ]);
    const mts = await sdk(WEST).send(new DescribeMountTargetsCommand({ FileSystemId: id }));
    expect(mts.MountTargets?.map((m) => [m.AvailabilityZoneName, m.LifeCycleState])).toEqual([
      ["us-west-2b", "available"],
      ["us-west-2c", "deleting"],
    ]);

    efs.setMountTargets(id, 0);
    const none = await sdk(WEST).send(new DescribeMountTargetsCommand({ FileSystemId: id }));
    expect(none.MountTargets).toEqual([]);
    expect(efs.fileSystem(id)?.mountTargets).toBe(0);
    expect(efs.mutatingCalls()).toEqual([]);
  });
});

describe("one endpoint per region, SigV4 verified", () => {
  it("the SDK sends the region's path prefix, and the call lands in that region", async () => {
    const id = efs.addFileSystem({ region: WEST });

    const out = await sdk(WEST).send(new DescribeFileSystemsCommand({ FileSystemId: id }));

    expect(out.FileSystems?.[0]?.FileSystemId).toBe(id);
    const [call] = efs.callsTo("DescribeFileSystems", WEST);
    expect(call?.path).toBe(`/${WEST}/2015-02-01/file-systems`);
    expect(efs.endpointTemplate.replace("{region}", WEST)).toBe(efs.endpointFor(WEST));
  });

  it("refuses a request signed for another region than the endpoint's", async () => {
    const id = efs.addFileSystem({ region: EAST });
    // A client for WEST pointed at EAST's endpoint: the scope names WEST.
    const misrouted = sdk(WEST, 1, { endpoint: efs.endpointFor(EAST) });

    const err = await misrouted
      .send(new DescribeFileSystemsCommand({ FileSystemId: id }))
      .catch((e: unknown) => e);

    expect((err as EFSServiceException).name).toBe("InvalidSignatureException");
    expect((err as EFSServiceException).$metadata.httpStatusCode).toBe(403);
    expect((err as Error).message).toContain("Credential should be scoped to a valid region");
  });

  it("refuses a wrong secret, an unknown key, a stale date and a tampered request", async () => {
    const id = efs.addFileSystem({ region: EAST });
    const send = (config: Partial<EFSClientConfig>) =>
      sdk(EAST, 1, config)
        .send(new DescribeFileSystemsCommand({ FileSystemId: id }))
        .then(
          () => {
            throw new Error("expected a refusal");
          },
          (e: unknown) => e as EFSServiceException,
        );

    const wrongSecret = await send({
      credentials: { accessKeyId: efs.credentials.accessKeyId, secretAccessKey: "not-the-secret" },
    });
    expect([wrongSecret.name, wrongSecret.$metadata.httpStatusCode]).toEqual([
      "InvalidSignatureException",
      403,
    ]);
    expect(wrongSecret.message).toContain("signature we calculated does not match");

    const unknown = await send({
      credentials: { accessKeyId: "AKIDUNKNOWN000000000", secretAccessKey: "x" },
    });
    expect([unknown.name, unknown.$metadata.httpStatusCode]).toEqual(["UnrecognizedClientException", 403]);

    const stale = await send({ systemClockOffset: -20 * 60_000 });
    expect(stale.name).toBe("InvalidSignatureException");
    expect(stale.message).toMatch(/^Signature expired/);

    // A signed request whose body is changed on the way no longer matches its signature.
    const source = efs.addFileSystem({ region: EAST });
    const dest = efs.addFileSystem({ region: WEST, overwriteProtection: "DISABLED" });
    const client = sdk(EAST);
    client.middlewareStack.add(
      (next) => async (args) => {
        // Same length (content-length is signed too), another destination.
        const request = args.request as { body: string };
        request.body = request.body.replace(dest, `${dest.slice(0, -1)}${dest.endsWith("0") ? "1" : "0"}`);
        return next(args);
      },
      { step: "deserialize", name: "tamper" },
    );
    const tampered = await client
      .send(
        new CreateReplicationConfigurationCommand({
          SourceFileSystemId: source,
          Destinations: [{ Region: WEST, FileSystemId: dest }],
        }),
      )
      .catch((e: unknown) => e);
    expect((tampered as EFSServiceException).name).toBe("InvalidSignatureException");
    expect(efs.replicationOf(source)).toBeUndefined();
    expect(efs.mutatingCalls()).toHaveLength(1);
  });

  it("the legacy single endpoint takes the region from the credential scope", async () => {
    const id = efs.addFileSystem({ region: WEST });

    const out = await sdk(WEST, 1, { endpoint: efs.url }).send(
      new DescribeFileSystemsCommand({ FileSystemId: id }),
    );

    expect(out.FileSystems?.[0]?.FileSystemId).toBe(id);
    expect(efs.callsTo("DescribeFileSystems", WEST)[0]?.path).toBe("/2015-02-01/file-systems");
  });
});

describe("faults", () => {
  it("throttling and server errors reach the SDK as its typed exceptions", async () => {
    const id = efs.addFileSystem({ region: EAST });
    efs.failOperation("DescribeFileSystems", "ThrottlingException", { region: EAST });
    efs.failOperation("DescribeFileSystems", "InternalServerError", { region: EAST });

    const throttled = await sdk(EAST)
      .send(new DescribeFileSystemsCommand({ FileSystemId: id }))
      .catch((e: unknown) => e);
    const failed = await sdk(EAST)
      .send(new DescribeFileSystemsCommand({ FileSystemId: id }))
      .catch((e: unknown) => e);
    const fine = await sdk(EAST).send(new DescribeFileSystemsCommand({ FileSystemId: id }));

    expect(throttled).toBeInstanceOf(ThrottlingException);
    expect((throttled as ThrottlingException).$metadata.httpStatusCode).toBe(429);
    expect(failed).toBeInstanceOf(InternalServerError);
    expect((failed as InternalServerError).$fault).toBe("server");
    expect(fine.FileSystems?.[0]?.FileSystemId).toBe(id);
  });

  it("the SDK's own retry gets past one throttled answer", async () => {
    const id = efs.addFileSystem({ region: EAST });
    efs.failOperation("DescribeFileSystems", "ThrottlingException");

    const out = await sdk(EAST, 2).send(new DescribeFileSystemsCommand({ FileSystemId: id }));

    expect(out.FileSystems?.[0]?.FileSystemId).toBe(id);
    expect(efs.callsTo("DescribeFileSystems", EAST)).toHaveLength(2);
  });

  it("a region that is down answers 503 or cuts the connection; the other region still works", async () => {
    const east = efs.addFileSystem({ region: EAST });
    const west = efs.addFileSystem({ region: WEST });
    efs.setRegionDown(EAST, true);

    const unavailable = await sdk(EAST)
      .send(new DescribeFileSystemsCommand({ FileSystemId: east }))
      .catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(EFSServiceException);
    expect((unavailable as EFSServiceException).name).toBe("ServiceUnavailableException");
    expect((unavailable as EFSServiceException).$metadata.httpStatusCode).toBe(503);
    const ok = await sdk(WEST).send(new DescribeFileSystemsCommand({ FileSystemId: west }));
    expect(ok.FileSystems).toHaveLength(1);

    efs.setRegionDown(EAST, true, "reset");
    efs.clearFaults();
    const reset = await sdk(EAST)
      .send(new DescribeFileSystemsCommand({ FileSystemId: east }))
      .catch((e: unknown) => e);
    expect((reset as NodeJS.ErrnoException).code).toBe("ECONNRESET");

    efs.setRegionDown(EAST, false);
    const back = await sdk(EAST).send(new DescribeFileSystemsCommand({ FileSystemId: east }));
    expect(back.FileSystems?.[0]?.FileSystemId).toBe(east);
  });

  it("refuses unsigned requests like AWS", async () => {
    const res = await fetch(`${efs.url}/2015-02-01/file-systems`);
    expect(res.status).toBe(403);
    expect(res.headers.get("x-amzn-errortype")).toBe("MissingAuthenticationTokenException");
  });
});
