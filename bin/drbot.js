#!/usr/bin/env node
// drbot runs its TypeScript sources directly on Node 24 (native type stripping, no build step).
// When an older system node starts this file, re-run it under the Node 24 that `npm ci`
// installed beside the project (the `node` dev dependency), or explain what to install.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const major = Number(process.versions.node.split(".")[0]);

if (major >= 24) {
  await import(join(root, "src", "cli.ts"));
} else {
  const local = join(root, "node_modules", ".bin", "node");
  if (!existsSync(local)) {
    process.stderr.write(`drbot needs Node.js 24; this is ${process.version}. Run \`npm ci\` first.\n`);
    process.exit(1);
  }
  const run = spawnSync(local, [join(root, "src", "cli.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(run.status ?? 1);
}
