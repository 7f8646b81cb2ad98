#!/usr/bin/env node
// Records the other platforms' builds of packages with native binaries (Biome, msgpackr-extract)
// in package-lock.json. The npm registry mirror these machines use does not serve them, so npm
// leaves them out of the lock file, and `npm ci` then refuses to install ("Missing:
// @biomejs/cli-darwin-arm64@ from lock file"). The entries carry the platform (os/cpu/libc)
// taken from the package name, so npm skips them here and fetches them, by exact version, on a
// platform that needs them. Run after any `npm install` that rewrites the lock file.
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const packages = lock.packages;
const OS = ["android", "darwin", "freebsd", "linux", "openbsd", "sunos", "win32", "aix"];
const CPU = ["arm64", "x64", "arm", "ia32", "ppc64", "riscv64", "s390x", "loong64"];
let added = 0;

for (const [key, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    if (packages[`node_modules/${name}`] || packages[`${key}/node_modules/${name}`]) continue;
    const parts = name.split("/").pop().split("-");
    const os = parts.find((p) => OS.includes(p));
    const cpu = parts.find((p) => CPU.includes(p));
    if (!os || !cpu || !/^\d+\.\d+\.\d+/.test(version)) {
      throw new Error(`cannot infer the platform of ${name}@${version}; add it to the lock file by hand`);
    }
    const record = { version };
    if (entry.dev) record.dev = true;
    record.optional = true;
    record.os = [os];
    record.cpu = [cpu];
    if (parts.includes("musl")) record.libc = ["musl"];
    packages[`node_modules/${name}`] = record;
    added++;
  }
}

lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: recorded ${added} optional platform package(s)`);
