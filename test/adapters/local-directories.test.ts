import { chmod, mkdir, mkdtemp, stat, writeFile } from "node:fs/promises";
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
