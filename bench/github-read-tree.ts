// Reading every recorded manifest of a site: GitPort.readTree (one archive download, streamed)
// against listFiles + readBlob (one request per file), through the real adapter and the GitHub
// stand-in. Prints requests, time and how much memory the read adds while it runs.
// `node bench/github-read-tree.ts [--files 10000] [--skip-baseline]`

import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createGitHubRepository } from "../src/adapters/github.ts";
import { mapLimit } from "../src/core/map-limit.ts";
import { startFakeGitHub } from "../src/sandbox/stand-ins/github.ts";

export interface ReadTreeResult {
  files: number;
  unpackedMb: number;
  archiveMb: number;
  requests: number;
  ms: number;
  /** Peak growth over the heap and Buffer memory in use before the read (after a full GC),
   *  garbage not yet collected included. */
  peakHeapGrowthMb: number;
  peakBufferGrowthMb: number;
  /** What the read holds halfway through: heap + Buffers after a full GC, over the same base. */
  liveMidReadMb: number;
  baseline?: { requests: number; ms: number };
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const mb = (bytes: number) => Math.round(bytes / 10_000) / 100;

function manifest(i: number): string {
  const name = `sales.shop.shop-dev.data-${i}`;
  return `apiVersion: v1
kind: PersistentVolume
metadata:
  name: ${name}
  labels: { drbot.io/business-unit: sales, drbot.io/application: shop }
spec:
  capacity: { storage: 10Gi }
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  csi:
    driver: efs.csi.aws.com
    volumeHandle: fs-0123456789abcdef0:/dr/sales/shop/shop-dev/data-${i}
  claimRef: { namespace: shop-dev, name: data-${i} }
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data-${i}
  namespace: shop-dev
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  volumeName: ${name}
  resources: { requests: { storage: 10Gi } }
`;
}

export async function benchReadTree(files: number, baseline = true): Promise<ReadTreeResult> {
  const token = "ghp_bench_token";
  const fake = await startFakeGitHub({ owner: "acme", repo: "dr-volumes", token });
  try {
    const prefix = "PV-PVCs/primary";
    fake.commitFiles(
      Object.fromEntries(
        Array.from({ length: files }, (_, i) => [
          `${prefix}/sales/rosa-primary/app${i % 40}/ns${i % 5}/pv-pvc_data-${i}.yaml`,
          manifest(i),
        ]),
      ),
      `seed ${files} volumes`,
    );
    const git = createGitHubRepository({
      apiUrl: fake.apiUrl,
      owner: "acme",
      repo: "dr-volumes",
      branch: "main",
      auth: token,
      paceWrites: false,
    });

    // Twice, with a turn between: Buffer memory is returned after the collection that frees it.
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    const before = process.memoryUsage();
    let peakHeap = before.heapUsed;
    let peakBuffers = before.arrayBuffers;
    let unpacked = 0;
    let seen = 0;
    let liveMidRead = 0;
    const requestsBefore = fake.requestCount;
    const archiveBefore = fake.archiveBytesSent;
    const started = performance.now();
    const read = await git.readTree(prefix, (file) => {
      unpacked += Buffer.byteLength(file.content);
      if (++seen === Math.ceil(files / 2)) {
        gc();
        const live = process.memoryUsage();
        liveMidRead = live.heapUsed + live.arrayBuffers - before.heapUsed - before.arrayBuffers;
      }
      const now = process.memoryUsage();
      peakHeap = Math.max(peakHeap, now.heapUsed);
      peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
    });
    const ms = Math.round(performance.now() - started);
    if (read.files !== files) throw new Error(`readTree read ${read.files} of ${files} files`);
    const result: ReadTreeResult = {
      files,
      unpackedMb: mb(unpacked),
      archiveMb: mb(fake.archiveBytesSent - archiveBefore),
      requests: fake.requestCount - requestsBefore,
      ms,
      peakHeapGrowthMb: mb(peakHeap - before.heapUsed),
      peakBufferGrowthMb: mb(peakBuffers - before.arrayBuffers),
      liveMidReadMb: mb(liveMidRead),
    };
    if (baseline) {
      // One request per file would spend a token's hourly 5,000 before 5,000 files; the budget is
      // lifted so that the baseline's time can be measured at all.
      fake.setRateLimit({ limit: 1_000_000 });
      const start = fake.requestCount;
      const t = performance.now();
      const entries = await git.listFiles(prefix);
      await mapLimit(entries, 8, async (e) => void (await git.readBlob(e.sha)));
      result.baseline = { requests: fake.requestCount - start, ms: Math.round(performance.now() - t) };
    }
    return result;
  } finally {
    await fake.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      files: { type: "string", default: "10000" },
      "skip-baseline": { type: "boolean", default: false },
    },
  });
  for (const n of [...new Set([1000, Number(values.files)])]) {
    const r = await benchReadTree(n, !values["skip-baseline"]);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}
