// The sandbox's replication: the primary mount's tree arrives on the secondary mount (new,
// changed and deleted files), LastReplicatedTimestamp advances as the real SDK reads it, and
// nothing moves while the source region is down, while replication falls behind, or once the
// replication configuration is deleted.

import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeReplicationConfigurationsCommand, EFSClient } from "@aws-sdk/client-efs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mirrorTree } from "../../src/sandbox/mirror.ts";
import { Replicator } from "../../src/sandbox/replicator.ts";
import { type FakeEfs, startFakeEfs } from "../../src/sandbox/stand-ins/efs.ts";

const PRIMARY = "fs-0aaa1111";
const SECONDARY = "fs-0bbb2222";

async function tree(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(`${path}/`, ...(await tree(root, path)));
    else out.push(`${path} ${await readFile(join(root, path), "utf8")}`);
  }
  return out.sort();
}

describe("mirrorTree", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "drbot-mirror-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("copies new and changed files, makes folders with their mode, and removes what the source lost", async () => {
    const src = join(dir, "src");
    const dst = join(dir, "dst");
    await mkdir(join(src, "a/b"), { recursive: true, mode: 0o750 });
    await chmod(join(src, "a/b"), 0o750);
    await writeFile(join(src, "a/b/one.txt"), "one");
    await writeFile(join(src, "top.txt"), "top");
    await mkdir(join(dst, "stale/deep"), { recursive: true });
    await writeFile(join(dst, "stale/deep/old.txt"), "old");
    await writeFile(join(dst, "top.txt"), "an older version");

    const first = await mirrorTree(src, dst);
    expect(await tree(dst)).toEqual(await tree(src));
    expect((await stat(join(dst, "a/b"))).mode & 0o777).toBe(0o750);
    expect(first).toMatchObject({ copied: 2, removed: 1 });

    // Unchanged files are not copied again; a change of content is.
    expect(await mirrorTree(src, dst)).toMatchObject({ copied: 0, removed: 0 });
    await writeFile(join(src, "a/b/one.txt"), "ONE, changed");
    await utimes(join(src, "a/b/one.txt"), new Date(), new Date(Date.now() + 5_000));
    await rm(join(src, "top.txt"));
    expect(await mirrorTree(src, dst)).toMatchObject({ copied: 1, removed: 1 });
    expect(await tree(dst)).toEqual(["a/", "a/b/", "a/b/one.txt ONE, changed"]);
  });

  it("replaces a file by a folder of the same name and back", async () => {
    const src = join(dir, "src");
    const dst = join(dir, "dst");
    await mkdir(join(src, "x"), { recursive: true });
    await mkdir(dst);
    await writeFile(join(dst, "x"), "a file where the source has a folder");
    await mirrorTree(src, dst);
    expect((await stat(join(dst, "x"))).isDirectory()).toBe(true);
    await rm(join(src, "x"), { recursive: true });
    await writeFile(join(src, "x"), "now a file");
    await mirrorTree(src, dst);
    expect(await readFile(join(dst, "x"), "utf8")).toBe("now a file");
  });
});

describe("Replicator", () => {
  let dir: string;
  let efs: FakeEfs;
  let mounts: Record<string, string>;
  let down: Set<string>;
  let behind: boolean;
  let replicator: Replicator;
  let sdk: EFSClient;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "drbot-replicator-"));
    efs = await startFakeEfs();
    efs.addFileSystem({ id: PRIMARY, region: "us-east-1" });
    efs.addFileSystem({ id: SECONDARY, region: "us-west-2", overwriteProtection: "DISABLED" });
    efs.addReplication({
      sourceFileSystemId: PRIMARY,
      destinationFileSystemId: SECONDARY,
      lastReplicatedTimestamp: new Date(Date.now() - 3_600_000),
    });
    mounts = { [PRIMARY]: join(dir, "primary"), [SECONDARY]: join(dir, "secondary") };
    await mkdir(mounts[PRIMARY] as string);
    await mkdir(mounts[SECONDARY] as string);
    down = new Set();
    behind = false;
    replicator = new Replicator({
      efs,
      mounts,
      intervalMs: 20,
      regionDown: (r) => down.has(r),
      fallingBehind: () => behind,
    });
    sdk = new EFSClient({
      region: "us-west-2",
      endpoint: efs.endpointFor("us-west-2"),
      credentials: efs.credentials,
    });
  });
  afterEach(async () => {
    await replicator.stop();
    sdk.destroy();
    await efs.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** LastReplicatedTimestamp as an AWS client reads it from the secondary's region. */
  const lastReplicated = async () => {
    const out = await sdk.send(new DescribeReplicationConfigurationsCommand({ FileSystemId: SECONDARY }));
    return out.Replications?.[0]?.Destinations?.[0]?.LastReplicatedTimestamp?.getTime() ?? 0;
  };
  const until = async (what: string, check: () => Promise<boolean> | boolean) => {
    const deadline = Date.now() + 5_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it("copies the primary's tree every pass and moves LastReplicatedTimestamp to the pass's start", async () => {
    await mkdir(join(mounts[PRIMARY] as string, "k8s-static-volumes/sales/app/ns/data"), { recursive: true });
    await writeFile(
      join(mounts[PRIMARY] as string, "k8s-static-volumes/sales/app/ns/data/file.txt"),
      "hello",
    );
    const before = Date.now();
    replicator.start();
    await until("the file on the secondary", async () =>
      (await tree(mounts[SECONDARY] as string)).includes(
        "k8s-static-volumes/sales/app/ns/data/file.txt hello",
      ),
    );
    await until("the timestamp to advance", async () => (await lastReplicated()) >= before);
    expect(await lastReplicated()).toBeLessThanOrEqual(Date.now());

    await rm(join(mounts[PRIMARY] as string, "k8s-static-volumes/sales/app/ns/data/file.txt"));
    await until("the deletion to arrive", async () =>
      (await tree(mounts[SECONDARY] as string)).every((p) => !p.includes("file.txt")),
    );
  });

  it("does nothing while the source region is down or replication falls behind, and resumes after", async () => {
    down.add("us-east-1");
    await writeFile(join(mounts[PRIMARY] as string, "written-during-the-outage.txt"), "x");
    const stale = await lastReplicated();
    expect(await replicator.pass()).toEqual([
      { fileSystemId: PRIMARY, outcome: "skipped", reason: "source region us-east-1 is down" },
    ]);
    down.clear();
    behind = true;
    expect((await replicator.pass())[0]).toMatchObject({
      outcome: "skipped",
      reason: "replication is falling behind",
    });
    expect(await readdir(mounts[SECONDARY] as string)).toEqual([]);
    expect(await lastReplicated()).toBe(stale);

    behind = false;
    expect((await replicator.pass())[0]).toMatchObject({ outcome: "replicated", copied: 1 });
    expect(await readdir(mounts[SECONDARY] as string)).toEqual(["written-during-the-outage.txt"]);
    expect(await lastReplicated()).toBeGreaterThan(stale);
  });

  it("stops for good once the replication configuration is deleted", async () => {
    const del = new EFSClient({
      region: "us-west-2",
      endpoint: efs.endpointFor("us-west-2"),
      credentials: efs.credentials,
    });
    const { DeleteReplicationConfigurationCommand } = await import("@aws-sdk/client-efs");
    await del.send(new DeleteReplicationConfigurationCommand({ SourceFileSystemId: SECONDARY }));
    del.destroy();
    await writeFile(join(mounts[PRIMARY] as string, "after-failover.txt"), "x");
    expect((await replicator.pass())[0]).toMatchObject({
      outcome: "skipped",
      reason: "replication is being deleted",
    });
    // The deletion completes once a Describe has seen it (the stand-in's default behaviour).
    await until("the deletion to complete", async () => {
      await sdk
        .send(new DescribeReplicationConfigurationsCommand({ FileSystemId: SECONDARY }))
        .catch(() => {});
      return efs.replicationOf(PRIMARY) === undefined;
    });
    expect(await replicator.pass()).toEqual([]);
    expect(await readdir(mounts[SECONDARY] as string)).toEqual([]);
  });
});
