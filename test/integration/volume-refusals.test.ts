// A corpus of bad `/volume` requests through the signed Slack path: each is answered with an
// explanation, and afterwards nothing exists anywhere that was not there before.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { renderVolume } from "../../src/core/volumes.ts";
import { CHANNEL, createWorld, USERS, type World } from "../support/world.ts";

const ok = "bu=sales app=shipping ns=shipping-dev";
const long = (n: number) => "a".repeat(n);

// [name, command text, user, channel, expected words in the answer]
const corpus: Array<[string, string, string?, string?, RegExp?]> = [
  [
    "no fields at all but a key",
    "create bu=sales",
    undefined,
    undefined,
    /4 problems[\s\S]*application is missing: add app=/,
  ],
  ["no size", `create ${ok} pvc=data`, undefined, undefined, /size is missing: add size=/],
  [
    "unknown business unit",
    "create bu=marketing app=a ns=b pvc=c size=1",
    undefined,
    undefined,
    /business unit "marketing" is not configured/,
  ],
  [
    "capitalised business unit",
    "create bu=Sales app=a ns=b pvc=c size=1",
    undefined,
    undefined,
    /use lowercase: "sales"/,
  ],
  [
    "capitalised application",
    "create bu=sales app=Shipping ns=b pvc=c size=1",
    undefined,
    undefined,
    /use lowercase: "shipping"/,
  ],
  ["underscore", "create bu=sales app=ship_ping ns=b pvc=c size=1", undefined, undefined, /found "_"/],
  [
    "path traversal",
    "create bu=sales app=../../etc ns=b pvc=c size=1",
    undefined,
    undefined,
    /found "\.", "\/"/,
  ],
  ["absolute path", "create bu=sales app=/etc ns=b pvc=c size=1", undefined, undefined, /found "\/"/],
  ["dotted application", "create bu=sales app=a.b ns=b pvc=c size=1", undefined, undefined, /found "\."/],
  ["quoted space", 'create bu=sales app="a b" ns=b pvc=c size=1', undefined, undefined, /found a space/],
  [
    "leading dash",
    "create bu=sales app=-x ns=b pvc=c size=1",
    undefined,
    undefined,
    /start and end with a letter or a digit/,
  ],
  ["trailing dash", "create bu=sales app=x- ns=b pvc=c size=1", undefined, undefined, /start and end/],
  [
    "64-character application",
    `create bu=sales app=${long(64)} ns=b pvc=c size=1`,
    undefined,
    undefined,
    /64 characters long; the limit is 63/,
  ],
  [
    "kube-system",
    "create bu=sales app=a ns=kube-system pvc=c size=1",
    undefined,
    undefined,
    /reserved for the platform/,
  ],
  [
    "openshift namespace",
    "create bu=sales app=a ns=openshift-config pvc=c size=1",
    undefined,
    undefined,
    /reserved/,
  ],
  [
    "capital namespace",
    "create bu=sales app=a ns=Dev pvc=c size=1",
    undefined,
    undefined,
    /use lowercase: "dev"/,
  ],
  ["dotted pvc", "create bu=sales app=a ns=b pvc=data.db size=1", undefined, undefined, /found "\."/],
  [
    "64-character pvc",
    `create bu=sales app=a ns=b pvc=${long(64)} size=1`,
    undefined,
    undefined,
    /limit is 63/,
  ],
  [
    "shell in pvc",
    "create bu=sales app=a ns=b pvc=$(reboot) size=1",
    undefined,
    undefined,
    /found "\$", "\(", "\)"/,
  ],
  ["semicolon", "create bu=sales app=a ns=b pvc=a;b size=1", undefined, undefined, /found ";"/],
  ["backticks", "create bu=sales app=a ns=b pvc=`x` size=1", undefined, undefined, /found "`"/],
  [
    "template syntax",
    'create bu=sales app="{{ pv_name }}" ns=b pvc=c size=1',
    undefined,
    undefined,
    /found "\{"/,
  ],
  ["YAML syntax", 'create bu=sales app="a: b" ns=b pvc=c size=1', undefined, undefined, /found ":"/],
  ["unicode", "create bu=sales app=shïp ns=b pvc=c size=1", undefined, undefined, /found "ï"/],
  ["emoji", "create bu=sales app=ship🚢 ns=b pvc=c size=1", undefined, undefined, /only lowercase letters/],
  ["size zero", `create ${ok} pvc=c size=0`, undefined, undefined, /at least 1 GiB/],
  ["negative size", `create ${ok} pvc=c size=-1`, undefined, undefined, /at least 1 GiB/],
  ["size in G", `create ${ok} pvc=c size=10G`, undefined, undefined, /ambiguous; write whole GiB as 10Gi/],
  ["fractional size", `create ${ok} pvc=c size=1.5Gi`, undefined, undefined, /whole GiB|whole number/],
  ["size in Mi", `create ${ok} pvc=c size=512Mi`, undefined, undefined, /must be given in GiB/],
  [
    "size over the limit",
    `create ${ok} pvc=c size=1025`,
    undefined,
    undefined,
    /above the limit of 1024 GiB/,
  ],
  ["size in words", `create ${ok} pvc=c size=ten`, undefined, undefined, /not a size/],
  ["size exponent", `create ${ok} pvc=c size=1e3`, undefined, undefined, /not a size/],
  ["empty size", `create ${ok} pvc=c size=`, undefined, undefined, /size is missing/],
  [
    "unknown key",
    `create ${ok} pvc=c size=1 colour=red`,
    undefined,
    undefined,
    /unknown key "colour"; known keys: bu, business_unit/,
  ],
  ["repeated key", `create ${ok} pvc=c size=1 bu=ops`, undefined, undefined, /business_unit is given twice/],
  ["stray word", `create please ${ok} pvc=c size=1`, undefined, undefined, /unexpected word "please"/],
  ["unknown subcommand", `destroy ${ok} pvc=c size=1`, undefined, undefined, /Unknown subcommand "destroy"/],
  [
    "a user who is not a requester",
    `create ${ok} pvc=c size=1`,
    USERS.stranger,
    undefined,
    /You may not request volumes for business unit sales: requests there come from <@U0REQ1> or members of <!subteam\^S0SALES>/,
  ],
  [
    "an approver who is not a requester",
    `create ${ok} pvc=c size=1`,
    USERS.approver1,
    undefined,
    /You may not request volumes/,
  ],
  [
    "a channel outside the allow-list",
    `create ${ok} pvc=c size=1`,
    USERS.requester,
    "C0OTHER",
    /does not take volume requests in this channel/,
  ],
  [
    "a volume recorded in Git",
    `create ${ok} pvc=existing size=1`,
    undefined,
    undefined,
    /already recorded in Git at PV-PVCs\/primary\/sales\/rosa-primary\/shipping\/shipping-dev\/pv-pvc_existing\.yaml/,
  ],
  [
    "a PV already on the cluster",
    `create ${ok} pvc=stray size=1`,
    undefined,
    undefined,
    /PersistentVolume sales\.shipping\.shipping-dev\.stray already exists on cluster rosa-primary/,
  ],
  [
    "a PVC already on the cluster",
    "create bu=sales app=shipping ns=team pvc=claimed size=1",
    undefined,
    undefined,
    /PersistentVolumeClaim team\/claimed already exists/,
  ],
  [
    "a volume being created",
    `create ${ok} pvc=held size=1`,
    USERS.groupRequester,
    undefined,
    /already being created \(request `vol-[0-9a-f]+` by <@U0REQ1>\)/,
  ],
];

describe("refused volume requests", () => {
  let world: World;
  let before: Awaited<ReturnType<World["snapshot"]>>;

  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"), { configure: (c) => (c.channels = [CHANNEL]) });
    // The held job must outlive the whole corpus, however loaded the machine: no bind deadline in sight.
    await world.start("serve", { timing: { pollMs: 20, bindTimeoutMs: 3_600_000 } });
    // Already recorded in Git, already on the cluster, and one request still running.
    const config = world.service.config;
    const id = {
      businessUnit: "sales",
      application: "shipping",
      namespace: "shipping-dev",
      pvcName: "existing",
    } as never;
    world.github.commitFile(
      "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_existing.yaml",
      renderVolume(config, "primary", id, 1),
      "seed",
    );
    world.kube.primary.seed({
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: "sales.shipping.shipping-dev.stray" },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteMany"],
        nfs: { server: "x", path: "/x" },
      },
    });
    world.kube.primary.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team" } });
    world.kube.primary.seed({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "claimed", namespace: "team" },
      spec: { accessModes: ["ReadWriteMany"], resources: { requests: { storage: "1Gi" } } },
    });
    world.kube.primary.holdBinding("held");
    const accepted = await world.answer(await world.slash(`create ${ok} pvc=held size=1`));
    expect(accepted).toMatch(/^Accepted: volume sales\.shipping\.shipping-dev\.held is queued/);
    await world.until("the held job to wait for binding", () =>
      world.cards().find((c) => /Wait until the PVC is Bound _running_/.test(JSON.stringify(c.blocks))),
    );
    before = await world.snapshot();
  });

  afterAll(async () => {
    await world?.close();
  });

  it(`has at least 40 bad requests (${corpus.length})`, () => {
    expect(corpus.length).toBeGreaterThanOrEqual(40);
  });

  it.each(corpus)(
    "refuses %s with an explanation and changes nothing",
    async (_, text, user, channel, expected) => {
      const res = await world.slash(text, user ?? USERS.requester, "/volume", channel ?? CHANNEL);
      // Acknowledged in time: the stand-in drops an answer later than Slack's 3 s, as Slack does.
      expect(res.timedOut).toBe(false);
      expect(res.status).toBe(200);
      const answer = await world.answer(res);
      expect(answer).toMatch(expected ?? /./);
      expect(await world.snapshot()).toEqual(before);
    },
  );

  it("refuses while a DR operation holds the lock", async () => {
    await world.redis.set(`${world.prefix}:lock:dr`, "dr-1234");
    try {
      const answer = await world.answer(await world.slash(`create ${ok} pvc=during-dr size=1`));
      expect(answer).toMatch(/a DR operation \(dr-1234\) is in progress/);
      expect(await world.snapshot()).toEqual(before);
    } finally {
      await world.redis.del(`${world.prefix}:lock:dr`);
    }
  });
});
