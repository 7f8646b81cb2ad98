import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalDirectories } from "../../src/adapters/local-directories.ts";
import { DrbotError } from "../../src/core/errors.ts";

// An owner other than the process's (tests run as root, whose own directories would pass anyway).
const perms = { mode: 0o750, uid: 4242, gid: 4243 };
const store = createLocalDirectories();

describe("local EFS directories", () => {
  it("creates each missing level with the configured mode and owner, and says which", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    const created = await store.ensureDirectory(root, ["v", "sales", "shipping", "dev", "data"], perms);
    expect(created).toEqual([
      join(root, "v"),
      join(root, "v/sales"),
      join(root, "v/sales/shipping"),
      join(root, "v/sales/shipping/dev"),
      join(root, "v/sales/shipping/dev/data"),
    ]);
    for (const dir of created) {
      const s = await stat(dir);
      expect({ dir, mode: (s.mode & 0o7777).toString(8), uid: s.uid, gid: s.gid }).toEqual({
        dir,
        mode: "750",
        uid: 4242,
        gid: 4243,
      });
    }
  });

  it("is harmless the second time and never touches existing directories", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    await mkdir(join(root, "v/sales"), { recursive: true });
    await chmod(join(root, "v/sales"), 0o755);
    await writeFile(join(root, "v/sales/keep.txt"), "tenant data");
    const created = await store.ensureDirectory(root, ["v", "sales", "app"], perms);
    expect(created).toEqual([join(root, "v/sales/app")]);
    const existing = await stat(join(root, "v/sales"));
    expect([existing.mode & 0o7777, existing.uid, existing.gid]).toEqual([
      0o755,
      process.getuid?.(),
      process.getgid?.(),
    ]);
    const made = await stat(join(root, "v/sales/app"));
    expect([made.mode & 0o7777, made.uid, made.gid]).toEqual([0o750, 4242, 4243]);
    expect(await store.ensureDirectory(root, ["v", "sales", "app"], perms)).toEqual([]);
  });

  it("creates shared parents safely when many volumes are created at the same time, leaving nothing behind", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.ensureDirectory(root, ["v", "sales", "app", `ns${i % 3}`, `pvc${i}`], perms),
      ),
    );
    // Every volume's own directory was created by its request, with the configured mode.
    for (let i = 0; i < 20; i++) expect(results[i]).toContain(join(root, `v/sales/app/ns${i % 3}/pvc${i}`));
    expect((await stat(join(root, "v/sales/app/ns1/pvc4"))).mode & 0o7777).toBe(0o750);
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(join(root, "v/sales/app"))).sort()).toEqual(["ns0", "ns1", "ns2"]);
    expect((await readdir(join(root, "v/sales/app/ns0"))).some((n) => n.startsWith(".drbot-new-"))).toBe(
      false,
    );
  });

  it("explains a missing mount and a file in the way", async () => {
    await expect(store.ensureDirectory("/nonexistent/efs", ["a"], perms)).rejects.toMatchObject({
      kind: "not_found",
      code: "efs.mount_missing",
    });
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    await writeFile(join(root, "a"), "x");
    const err = await store.ensureDirectory(root, ["a", "b"], perms).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrbotError);
    expect((err as DrbotError).message).toMatch(/exists and is not a directory/);
  });

  it("refuses a traversing segment even if one got this far", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    await expect(store.ensureDirectory(root, ["..", "etc"], perms)).rejects.toMatchObject({
      code: "efs.unsafe_segment",
    });
    await expect(store.ensureDirectory(root, ["a/b"], perms)).rejects.toMatchObject({
      code: "efs.unsafe_segment",
    });
  });
});

describe("moving, measuring and removing directories (the trash)", () => {
  it("moves a directory with its content by a rename, creating the destination's parents; a rerun says it already moved", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    await mkdir(join(root, "v/sales/app/ns/data/sub"), { recursive: true });
    await writeFile(join(root, "v/sales/app/ns/data/sub/f.txt"), "content");
    const inode = (await stat(join(root, "v/sales/app/ns/data/sub/f.txt"))).ino;
    const from = ["v", "sales", "app", "ns", "data"];
    const to = ["v", ".drbot-trash", "vol-12345678", "sales", "app", "ns", "data"];
    expect(await store.moveDirectory(root, from, to, perms)).toBe("moved");
    const moved = join(root, "v/.drbot-trash/vol-12345678/sales/app/ns/data/sub/f.txt");
    // The same file (a rename, not a copy), and nothing left where it was.
    expect((await stat(moved)).ino).toBe(inode);
    expect(existsSync(join(root, "v/sales/app/ns/data"))).toBe(false);
    // Parents made on the way get the configured mode exactly, whatever the umask.
    expect((await stat(join(root, "v/.drbot-trash/vol-12345678"))).mode & 0o7777).toBe(perms.mode);
    expect(await store.moveDirectory(root, from, to, perms)).toBe("already");
    expect(await store.moveDirectory(root, ["v", "none"], ["v", "elsewhere"], perms)).toBe("missing");
  });

  it("refuses to move onto a directory that exists, changing neither", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    await mkdir(join(root, "a"), { recursive: true });
    await mkdir(join(root, "b"), { recursive: true });
    await writeFile(join(root, "a/x"), "a");
    await expect(store.moveDirectory(root, ["a"], ["b"], perms)).rejects.toMatchObject({
      code: "efs.move_both_exist",
    });
    expect(await readFile(join(root, "a/x"), "utf8")).toBe("a");
    await expect(store.moveDirectory(root, ["a"], ["..", "b"], perms)).rejects.toMatchObject({
      code: "efs.unsafe_segment",
    });
  });

  it("writes a small file once, atomically, and reads it back", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    expect(await store.writeFileOnce(root, ["entry.json"], "first")).toBe(true);
    expect(await store.writeFileOnce(root, ["entry.json"], "second")).toBe(false);
    expect(await store.readSmallFile(root, ["entry.json"])).toBe("first");
    expect(await store.readSmallFile(root, ["missing.json"])).toBeNull();
    expect(await store.readSmallFile(root, ["entry.json"], 3)).toBeNull();
    expect(await readdir(root)).toEqual(["entry.json"]);
  });

  it("measures bytes and files without following symbolic links, and stops at its deadline", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    const outside = await mkdtemp(join(tmpdir(), "drbot-outside-"));
    await writeFile(join(outside, "big"), "y".repeat(100_000));
    await mkdir(join(root, "d/e"), { recursive: true });
    await writeFile(join(root, "d/a"), "x".repeat(1000));
    await writeFile(join(root, "d/e/b"), "x".repeat(24));
    await symlink(outside, join(root, "d/link"));
    expect(await store.measure(root, ["d"], { deadline: Date.now() + 5_000 })).toEqual({
      bytes: 1024,
      files: 2,
      complete: true,
    });
    expect(await store.measure(root, ["nope"], { deadline: Date.now() + 5_000 })).toBeNull();
    expect((await store.measure(root, ["d"], { deadline: Date.now() - 1 }))?.complete).toBe(false);
  });

  it("lists entries, lets exactly one of several racing claims win, and removes a tree without following links", async () => {
    const root = await mkdtemp(join(tmpdir(), "drbot-efs-"));
    const outside = await mkdtemp(join(tmpdir(), "drbot-outside-"));
    await writeFile(join(outside, "precious"), "keep");
    await mkdir(join(root, "t/vol-00000001/x"), { recursive: true });
    await symlink(outside, join(root, "t/vol-00000001/x/link"));
    expect((await store.listEntries(root, ["t"])).map((e) => [e.name, e.directory])).toEqual([
      ["vol-00000001", true],
    ]);
    expect(await store.listEntries(root, ["none"])).toEqual([]);
    const claims = await Promise.all(
      Array.from({ length: 5 }, () => store.claimEntry(root, ["t"], "vol-00000001", ".purging-vol-00000001")),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    await store.removeTree(root, ["t", ".purging-vol-00000001"]);
    expect(await readdir(join(root, "t"))).toEqual([]);
    expect(await readFile(join(outside, "precious"), "utf8")).toBe("keep");
    await expect(store.removeTree(root, [])).rejects.toMatchObject({ code: "efs.unsafe_segment" });
  });
});
