// The outside world of the sandbox: the Slack, EFS, two Kubernetes and GitHub stand-ins on free
// ports of 127.0.0.1, set up with the sandbox's people, channel, regions and repository.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BOT, CHANNEL, PEOPLE_LIST, SITES } from "./people.ts";
import { FakeEfs } from "./stand-ins/efs.ts";
import { FakeGitHub } from "./stand-ins/github.ts";
import { FakeKube } from "./stand-ins/kube.ts";
import { type FakeSlack, startFakeSlack } from "./stand-ins/slack.ts";

const execFileAsync = promisify(execFile);

export type StandIns = {
  slack: FakeSlack;
  efs: FakeEfs;
  kube: { primary: FakeKube; secondary: FakeKube };
  github: FakeGitHub;
  close(): Promise<void>;
};

export async function startStandIns(
  gitDir: string,
  secrets: { bot: string; signing: string; github: string },
  timing: { replicationDeletionMs: number; bindDelayMs: number },
): Promise<StandIns> {
  const started: Array<{ close(): Promise<void> }> = [];
  const close = async () => {
    for (const s of started.reverse()) await s.close().catch(() => {});
  };
  try {
    const slack = await startFakeSlack({
      botToken: secrets.bot,
      signingSecret: secrets.signing,
      users: PEOPLE_LIST.map((p) => ({ id: p.id, name: p.name, realName: p.realName })),
      channels: [{ id: CHANNEL.id, name: CHANNEL.name }],
      team: { id: "T0SANDBOX", name: "drbot sandbox", domain: "drbot-sandbox" },
      bot: BOT,
    });
    started.push(slack);
    const efs = new FakeEfs({ deletionMs: timing.replicationDeletionMs });
    await efs.start();
    started.push(efs);
    const primary = new FakeKube({ contextName: "primary", bindDelayMs: timing.bindDelayMs });
    await primary.start();
    started.push(primary);
    const secondary = new FakeKube({ contextName: "secondary", bindDelayMs: timing.bindDelayMs });
    await secondary.start();
    started.push(secondary);
    const github = await startGitHubOn(gitDir, secrets.github);
    // Only its server: FakeGitHub.close() would delete the repository, which is the sandbox's state.
    started.push({ close: () => github.http.close() });
    return { slack, efs, kube: { primary, secondary }, github, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The GitHub stand-in on the sandbox's own bare repository, made (with an initial commit) once. */
async function startGitHubOn(gitDir: string, token: string): Promise<FakeGitHub> {
  const fresh = !existsSync(join(gitDir, "HEAD"));
  if (fresh) {
    await execFileAsync("git", ["init", "--bare", "--quiet", "--initial-branch=main", gitDir]);
    // Every object stays loose, which is what the stand-in's in-process reader expects.
    await execFileAsync("git", ["--git-dir", gitDir, "config", "gc.auto", "0"]);
  }
  const github = new FakeGitHub({ owner: "acme", repo: "dr-volumes", token, gitDir });
  if (fresh)
    github.commitFile(
      "README.md",
      "# dr-volumes\n\nGitOps repository of the drbot sandbox: PV/PVC manifests per site and the DR state.\n",
      "Initial commit",
    );
  await github.http.start();
  return github;
}

/** Both file systems and the replication between them, as a new AWS account would have them set up. */
export function freshWorld(efs: FakeEfs): string[] {
  efs.addFileSystem({
    id: SITES.primary.fileSystemId,
    region: SITES.primary.region,
    name: "drbot-sandbox-primary",
    mountTargets: 3,
  });
  efs.addFileSystem({
    id: SITES.secondary.fileSystemId,
    region: SITES.secondary.region,
    name: "drbot-sandbox-secondary",
    mountTargets: 3,
    overwriteProtection: "DISABLED",
  });
  efs.addReplication({
    sourceFileSystemId: SITES.primary.fileSystemId,
    destinationFileSystemId: SITES.secondary.fileSystemId,
    lastReplicatedTimestamp: new Date(),
  });
  return [];
}

/** The stand-ins log every request for tests; a sandbox that runs for days keeps only the recent ones. */
export function trimRequestLogs(stand: StandIns): void {
  for (const server of [
    stand.slack.http,
    stand.efs.http,
    stand.kube.primary.http,
    stand.kube.secondary.http,
    stand.github.http,
  ]) {
    const excess = server.requests.length - 1_000;
    if (excess > 0) server.requests.splice(0, excess);
  }
}
