// Tenant quotas as pure rules: what fits, what does not and what the refusal says.

import { describe, expect, it } from "vitest";
import { describeUsage, quotaProblem } from "../../src/core/quota.ts";

describe("quotaProblem", () => {
  const quota = { volumes: 3, totalGi: 100 };

  it("lets through what fits, up to and including the limit, and anything without a quota", () => {
    expect(
      quotaProblem("sales", quota, { volumes: 2, totalGi: 90 }, { volumes: 1, totalGi: 10 }),
    ).toBeUndefined();
    expect(
      quotaProblem("sales", undefined, { volumes: 99, totalGi: 9999 }, { volumes: 1, totalGi: 10 }),
    ).toBeUndefined();
    expect(
      quotaProblem("sales", {}, { volumes: 99, totalGi: 9999 }, { volumes: 1, totalGi: 10 }),
    ).toBeUndefined();
  });

  it("names usage, what the request adds and the limit, for the count and the size", () => {
    expect(quotaProblem("sales", quota, { volumes: 3, totalGi: 30 }, { volumes: 1, totalGi: 1 })).toBe(
      "business unit sales would exceed its quota: 3 volumes of 3 allowed are in use, and this would make 4. Delete or shrink what is no longer needed (`/volume list bu=sales` shows the volumes), or ask the platform team to raise the quota.",
    );
    expect(quotaProblem("sales", quota, { volumes: 1, totalGi: 95 }, { volumes: 0, totalGi: 10 })).toMatch(
      /95Gi of 100Gi allowed are in use, and this adds 10Gi \(105Gi\)/,
    );
    const both = quotaProblem("sales", quota, { volumes: 3, totalGi: 100 }, { volumes: 1, totalGi: 1 });
    expect(both).toMatch(/3 volumes of 3 allowed.*; 100Gi of 100Gi allowed/);
  });

  it("never refuses a resize for the volume count, nor a request that adds nothing", () => {
    expect(
      quotaProblem("sales", quota, { volumes: 9, totalGi: 10 }, { volumes: 0, totalGi: 5 }),
    ).toBeUndefined();
    expect(
      quotaProblem("sales", quota, { volumes: 9, totalGi: 500 }, { volumes: 0, totalGi: 0 }),
    ).toBeUndefined();
  });
});

describe("describeUsage", () => {
  it("shows usage against the quota, or that there is none", () => {
    expect(describeUsage({ volumes: 1, totalGi: 10 }, { volumes: 50, totalGi: 2048 })).toBe(
      "1 volume, 10Gi of a quota of 50 volumes, 2048Gi",
    );
    expect(describeUsage({ volumes: 2, totalGi: 3 }, { totalGi: 5 })).toBe(
      "2 volumes, 3Gi of a quota of 5Gi",
    );
    expect(describeUsage({ volumes: 0, totalGi: 0 }, undefined)).toBe("0 volumes, 0Gi (no quota)");
  });
});
