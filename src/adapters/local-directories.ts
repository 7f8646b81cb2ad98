// Volume directories on the EFS roots that workers see mounted (NFS volumes in the pod).

import { access, chmod, chown, constants, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { DrbotError } from "../core/errors.ts";
import type { DirectoryPermissions, DirectoryStore } from "../core/ports/directories.ts";

export function createLocalDirectories(): DirectoryStore {
  return {
    async probe(root) {
      // Mounted is enough here: only the levels drbot creates need to be writable, and a
      // refusal there is reported with the directory that refused.
      try {
        const s = await stat(root);
        if (!s.isDirectory()) throw new Error("not a directory");
        await access(root, constants.R_OK | constants.X_OK);
      } catch (err) {
        throw new DrbotError(
          "not_found",
          "efs.mount_missing",
          `The EFS root ${root} is not mounted here (${code(err)}).`,
          {
            hint: "Check the worker's NFS volume for this site.",
            cause: err,
          },
        );
      }
    },

    async ensureDirectory(root, segments, perms) {
      await this.probe(root);
      const created: string[] = [];
      let current = root;
      for (const segment of segments) {
        if (!segment || segment === "." || segment === ".." || segment.includes("/")) {
          throw new DrbotError(
            "invalid",
            "efs.unsafe_segment",
            `Refusing unsafe directory name "${segment}".`,
          );
        }
        current = join(current, segment);
        if (await makeOne(current, perms)) created.push(current);
      }
      return created;
    },
  };
}

/** Creates one level; true when this call created it. Existing directories are left as they are. */
async function makeOne(path: string, perms: DirectoryPermissions): Promise<boolean> {
  try {
    await mkdir(path, { mode: perms.mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      const s = await stat(path);
      if (!s.isDirectory()) {
        throw new DrbotError("conflict", "efs.not_a_directory", `${path} exists and is not a directory.`, {
          hint: "An operator must move it away before this volume can be created.",
        });
      }
      return false;
    }
    throw new DrbotError(kindOf(err), "efs.mkdir_failed", `Cannot create ${path} (${code(err)}).`, {
      hint: "The worker may not write in its parent directory: check the mount is read-write and that volumes.rootDirectory belongs to the worker's uid.",
      cause: err,
    });
  }
  try {
    // mkdir's mode is filtered by the umask; set it exactly, then the owner.
    await chmod(path, perms.mode);
    await chown(path, perms.uid, perms.gid);
  } catch (err) {
    throw new DrbotError(
      "forbidden",
      "efs.chown_failed",
      `Created ${path} but cannot set its owner ${perms.uid}:${perms.gid} (${code(err)}).`,
      {
        hint: "The worker needs CAP_CHOWN on the EFS mount, or set volumes.directory.uid/gid to the worker's own.",
        cause: err,
      },
    );
  }
  return true;
}

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

function kindOf(err: unknown): "transient" | "forbidden" {
  const c = (err as NodeJS.ErrnoException).code;
  return c === "EACCES" || c === "EPERM" || c === "EROFS" ? "forbidden" : "transient";
}
