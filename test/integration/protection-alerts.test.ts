// Protection alerts as the on-call engineer sees them, with two drbot processes sharing Redis:
// replication deleted behind drbot's back, or lag crossing the objective, posts ONE message to
// the alert channel, which is updated in place while it lasts and marked resolved when
// protection is back. Changes to EFS are made through the real SDK against the EFS stand-in.

import {
  CreateReplicationConfigurationCommand,
  DeleteReplicationConfigurationCommand,
  EFSClient,
  UpdateFileSystemProtectionCommand,
} from "@aws-sdk/client-efs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AuditLog } from "../../src/core/audit.ts";
import { createWorld, FS, type World } from "../support/world.ts";

const ALERTS = "C0ALERTS";

describe("protection alerts", () => {
  let world: World;
  const efs = (region: string) =>
    new EFSClient({
      region,
      endpoint: world.efs.endpointFor(region),
      credentials: world.efs.credentials,
    });
  const alerts = () => world.slack.messages(ALERTS);
  const auditEvents = async () => {
    const events: string[] = [];
    for await (const e of new AuditLog(world.redis, world.prefix).read()) events.push(e.event);
    return events.filter((e) => e.startsWith("protection."));
  };

  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (config) => {
        config.dr = { ...config.dr, alertChannel: ALERTS, watchInterval: "1s", rpoObjective: "30m" };
      },
    });
    // Two drbot processes on one Redis: both schedule the check and both run workers.
    await world.start("serve");
    await world.start("worker");
    await world.until(
      "the first check",
      async () => (await world.redis.exists(`${world.prefix}:protection:observed`)) === 1,
    );
  });
  afterAll(async () => {
    await world?.close();
  });

  it("keeps the lag gauge current in every process and posts nothing while protected", async () => {
    for (const service of world.services) {
      const text = await (await fetch(`${service.url}/metrics`)).text();
      const lag = Number(
        /^drbot_replication_lag_seconds\{file_system_id="fs-0bbb2222"\} ([\d.]+)$/m.exec(text)?.[1],
      );
      expect(lag).toBeGreaterThanOrEqual(42);
      expect(lag).toBeLessThan(120);
    }
    expect(alerts()).toEqual([]);
  });

  it("alerts once when replication is deleted behind drbot's back, updates it, and resolves it", async () => {
    await efs("us-east-1").send(
      new DeleteReplicationConfigurationCommand({ SourceFileSystemId: FS.primary }),
    );
    const alert = await world.until("the alert", () => alerts()[0]);
    expect(alert.text).toMatch(/^:rotating_light: \*DR protection lost\*: /);
    // Updated in place while it lasts (the lag and the time since move on every check).
    await world.until("two updates of the alert", () => alert.updates.length >= 2 || undefined);
    await world.until(
      "the replication to be gone",
      () => /no replication from the active file system fs-0aaa1111/.test(alert.text) || undefined,
    );
    expect(alert.text).toContain("• *Since:* ");
    expect(alert.text).toMatch(
      /• \*Current lag:\* \d+m?\d*s \(objective 30m\); last replicated \d{4}-\d\d-\d\d \d\d:\d\d UTC/,
    );
    expect(alert.text).toMatch(/a failover now would lose them/);
    expect(alert.text).toContain("`/dr reprotect`");
    expect(alerts()).toHaveLength(1);

    // Recreated (as an operator would in the console): protected again once a copy completes.
    await efs("us-west-2").send(
      new UpdateFileSystemProtectionCommand({
        FileSystemId: FS.secondary,
        ReplicationOverwriteProtection: "DISABLED",
      }),
    );
    await efs("us-east-1").send(
      new CreateReplicationConfigurationCommand({
        SourceFileSystemId: FS.primary,
        Destinations: [{ Region: "us-west-2", FileSystemId: FS.secondary }],
      }),
    );
    // Until its first copy completes it is not protection yet (the stand-in may report one at once).
    world.efs.setLastReplicated(FS.primary, new Date());
    await world.until(
      "the alert to be resolved",
      () => /^:white_check_mark: \*DR protection restored\*/.test(alert.text) || undefined,
    );
    // What was first seen: the deletion under way, or (if it finished between checks) its result.
    expect(alert.text).toMatch(
      /• \*Was:\* (no replication from the active file system fs-0aaa1111|replication from fs-0aaa1111 \(primary\) to fs-0bbb2222 \(secondary\) is DELETING, not ENABLED)/,
    );
    expect(alert.text).toMatch(
      /• \*Now:\* replication from fs-0aaa1111 \(primary\) to fs-0bbb2222 \(secondary\) is ENABLED/,
    );
    expect(alerts()).toHaveLength(1);
    // Recorded right after the message is updated.
    await world.until("the audit entries", async () => (await auditEvents()).length === 2 || undefined);
    expect(await auditEvents()).toEqual(["protection.lost", "protection.restored"]);
  });

  it("alerts once when the lag crosses the objective, and resolves when it catches up", async () => {
    world.efs.setLastReplicated(FS.primary, new Date(Date.now() - 45 * 60_000));
    const alert = await world.until("the lag alert", () => alerts()[1]);
    expect(alert.text).toMatch(/is 45m\d*s? behind, above the 30m objective/);
    expect(alert.text).toMatch(/• \*Current lag:\* 45m\d*s? \(objective 30m\)/);
    // Since when: the moment the lag crossed the objective, 15 minutes ago.
    expect(alert.text).toMatch(/\(15m\d*s? ago\)/);
    await world.until("an update of the lag alert", () => alert.updates.length >= 1 || undefined);
    world.efs.setLastReplicated(FS.primary, new Date());
    await world.until(
      "the lag alert to be resolved",
      () => /DR protection restored/.test(alert.text) || undefined,
    );
    expect(alerts()).toHaveLength(2);
    expect(alerts()[0]?.text).toMatch(/DR protection restored/);
    await world.until("the audit entries", async () => (await auditEvents()).length === 4 || undefined);
    expect(await auditEvents()).toEqual([
      "protection.lost",
      "protection.restored",
      "protection.lost",
      "protection.restored",
    ]);
  });

  it("still sees the lag through the standby's region when the active region does not answer", async () => {
    const standbyCalls = () => world.efs.callsTo("DescribeReplicationConfigurations", "us-west-2").length;
    const before = standbyCalls();
    world.efs.setRegionDown("us-east-1", true);
    try {
      world.efs.setLastReplicated(FS.primary, new Date(Date.now() - 40 * 60_000));
      const alert = await world.until("the alert during the outage", () => alerts()[2]);
      expect(alert.text).toMatch(/is 40m\d*s? behind, above the 30m objective/);
      expect(standbyCalls()).toBeGreaterThan(before);
    } finally {
      world.efs.setRegionDown("us-east-1", false);
    }
    world.efs.setLastReplicated(FS.primary, new Date());
    await world.until(
      "the alert to be resolved",
      () => /DR protection restored/.test(alerts()[2]?.text ?? "") || undefined,
    );
    expect(alerts()).toHaveLength(3);
  });
});
