import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type RawVolumeRequest,
  type VolumeField,
  validateVolumeId,
  validateVolumeRequest,
} from "../../src/core/volume-request.ts";

const tenant = { requesters: { users: [], groups: [] } };
const rules = {
  tenants: Object.fromEntries(["sales", "ops", "a", "t".repeat(63)].map((t) => [t, tenant])),
  maxSizeGi: 1024,
};
const good = {
  business_unit: "sales",
  application: "shipping",
  namespace: "shipping-dev",
  pvc_name: "data",
  pvc_size: "10Gi",
};
const long = (n: number, c = "a") => c.repeat(n);

describe("validateVolumeRequest", () => {
  it("accepts the contract's example and normalises the size", () => {
    const r = validateVolumeRequest(good, rules);
    expect(r).toEqual({
      ok: true,
      value: {
        businessUnit: "sales",
        application: "shipping",
        namespace: "shipping-dev",
        pvcName: "data",
        sizeGi: 10,
      },
    });
  });

  it.each([
    ["10", 10],
    ["10Gi", 10],
    [10, 10],
    ["1", 1],
    ["1024Gi", 1024],
    [" 7Gi ", 7],
    ["007", 7],
  ])("accepts size %j as %i GiB", (size, gi) => {
    const r = validateVolumeRequest({ ...good, pvc_size: size }, rules);
    expect(r.ok && r.value.sizeGi).toBe(gi);
  });

  it("accepts names at the limits: 63-character labels and single characters", () => {
    expect(validateVolumeRequest({ ...good, application: long(63), pvc_name: "x" }, rules).ok).toBe(true);
    expect(
      validateVolumeRequest(
        { ...good, business_unit: "a", application: "1", namespace: "b-2", pvc_name: "0" },
        rules,
      ).ok,
    ).toBe(true);
  });

  // Each bad request: the field that must be blamed and words the message must contain.
  const bad: Array<[string, RawVolumeRequest, VolumeField, RegExp]> = [
    ["no business unit", { ...good, business_unit: undefined }, "business_unit", /missing: add bu=/],
    ["empty business unit", { ...good, business_unit: "" }, "business_unit", /missing/],
    ["blank business unit", { ...good, business_unit: "   " }, "business_unit", /missing/],
    [
      "unknown business unit",
      { ...good, business_unit: "marketing" },
      "business_unit",
      /not configured.*known: a, ops, sales, t+\)\. Ask the platform team/,
    ],
    [
      "capitalised business unit",
      { ...good, business_unit: "Sales" },
      "business_unit",
      /capital letters; use lowercase: "sales"/,
    ],
    [
      "business unit with underscore",
      { ...good, business_unit: "sa_les" },
      "business_unit",
      /only lowercase letters, digits and "-" \(found "_"\)/,
    ],
    ["business unit as number", { ...good, business_unit: 42 }, "business_unit", /must be text/],
    [
      "business unit too long",
      { ...good, business_unit: long(64) },
      "business_unit",
      /64 characters long; the limit is 63/,
    ],
    ["no application", { ...good, application: undefined }, "application", /missing: add app=/],
    ["empty application", { ...good, application: "" }, "application", /missing/],
    ["application with capitals", { ...good, application: "Shipping" }, "application", /capital letters/],
    ["application with dot", { ...good, application: "ship.ping" }, "application", /found "\."/],
    ["application with slash", { ...good, application: "ship/ping" }, "application", /found "\/"/],
    ["application traversal", { ...good, application: ".." }, "application", /found "\."/],
    ["application traversal path", { ...good, application: "../../etc" }, "application", /found "\.", "\/"/],
    ["application absolute", { ...good, application: "/etc" }, "application", /found "\/"/],
    ["application with space", { ...good, application: "ship ping" }, "application", /found a space/],
    [
      "application starting with dash",
      { ...good, application: "-ship" },
      "application",
      /start and end with a letter or a digit/,
    ],
    ["application ending with dash", { ...good, application: "ship-" }, "application", /start and end/],
    ["application 64 chars", { ...good, application: long(64) }, "application", /the limit is 63/],
    ["application 300 chars", { ...good, application: long(300) }, "application", /300 characters/],
    ["application with newline", { ...good, application: "ship\nping" }, "application", /\\u000a/],
    ["application with YAML", { ...good, application: "a: b" }, "application", /found ":", a space/],
    ["application with unicode", { ...good, application: "shïp" }, "application", /found "ï"/],
    ["application with emoji", { ...good, application: "ship🚢" }, "application", /only lowercase letters/],
    ["application with NUL", { ...good, application: "ship\u0000" }, "application", /\\u0000/],
    ["application with backslash", { ...good, application: "a\\b" }, "application", /found "\\\\"/],
    ["application is object", { ...good, application: { a: 1 } }, "application", /must be text/],
    ["application is array", { ...good, application: ["x"] }, "application", /must be text/],
    ["application with template", { ...good, application: "{{ pv_name }}" }, "application", /found "\{"/],
    ["no namespace", { ...good, namespace: undefined }, "namespace", /missing: add ns=/],
    [
      "namespace kube-system",
      { ...good, namespace: "kube-system" },
      "namespace",
      /reserved for the platform/,
    ],
    ["namespace kube-public", { ...good, namespace: "kube-public" }, "namespace", /reserved/],
    ["namespace openshift", { ...good, namespace: "openshift" }, "namespace", /reserved/],
    ["namespace openshift-config", { ...good, namespace: "openshift-config" }, "namespace", /reserved/],
    ["namespace with underscore", { ...good, namespace: "ship_dev" }, "namespace", /found "_"/],
    ["namespace with capitals", { ...good, namespace: "Ship-Dev" }, "namespace", /use lowercase: "ship-dev"/],
    ["namespace too long", { ...good, namespace: long(70) }, "namespace", /70 characters long/],
    ["namespace dot-dot", { ...good, namespace: "a..b" }, "namespace", /found "\."/],
    ["namespace ends with dash", { ...good, namespace: "dev-" }, "namespace", /start and end/],
    ["no pvc", { ...good, pvc_name: undefined }, "pvc_name", /missing: add pvc=/],
    ["pvc empty", { ...good, pvc_name: "" }, "pvc_name", /missing/],
    ["pvc with dot", { ...good, pvc_name: "data.db" }, "pvc_name", /found "\."/],
    ["pvc with asterisk", { ...good, pvc_name: "data*" }, "pvc_name", /found "\*"/],
    ["pvc with semicolon", { ...good, pvc_name: "data;rm" }, "pvc_name", /found ";"/],
    ["pvc with quote", { ...good, pvc_name: 'da"ta' }, "pvc_name", /found "\\""/],
    ["pvc with tab", { ...good, pvc_name: "da\tta" }, "pvc_name", /\\u0009|found "\\t"/],
    ["pvc uppercase", { ...good, pvc_name: "DATA" }, "pvc_name", /use lowercase: "data"/],
    ["pvc 64 chars", { ...good, pvc_name: long(64, "b") }, "pvc_name", /limit is 63/],
    ["pvc starting with dash", { ...good, pvc_name: "-data" }, "pvc_name", /start and end/],
    [
      "PV name over 253 characters",
      {
        ...good,
        business_unit: long(63, "t"),
        application: long(63),
        namespace: long(63, "b"),
        pvc_name: long(63, "c"),
      },
      "pvc_name",
      /would be 255 characters; Kubernetes allows 253/,
    ],
    ["no size", { ...good, pvc_size: undefined }, "pvc_size", /size is missing: add size=/],
    ["empty size", { ...good, pvc_size: "" }, "pvc_size", /missing/],
    ["size zero", { ...good, pvc_size: "0" }, "pvc_size", /at least 1 GiB/],
    ["size zero Gi", { ...good, pvc_size: "0Gi" }, "pvc_size", /at least 1 GiB/],
    ["negative size", { ...good, pvc_size: "-5" }, "pvc_size", /at least 1 GiB/],
    ["negative number", { ...good, pvc_size: -5 }, "pvc_size", /at least 1 GiB/],
    ["fractional size", { ...good, pvc_size: "1.5Gi" }, "pvc_size", /ambiguous|whole number/],
    ["fractional number", { ...good, pvc_size: 2.5 }, "pvc_size", /whole number/],
    ["size in G", { ...good, pvc_size: "10G" }, "pvc_size", /ambiguous; write whole GiB as 10Gi/],
    ["size in GB", { ...good, pvc_size: "10GB" }, "pvc_size", /ambiguous/],
    ["size in Mi", { ...good, pvc_size: "512Mi" }, "pvc_size", /must be given in GiB/],
    ["size in Ti", { ...good, pvc_size: "1Ti" }, "pvc_size", /must be given in GiB/],
    ["size over the limit", { ...good, pvc_size: "1025" }, "pvc_size", /above the limit of 1024 GiB/],
    ["huge size", { ...good, pvc_size: "99999999999999999999" }, "pvc_size", /above the limit/],
    ["size words", { ...good, pvc_size: "ten" }, "pvc_size", /not a size/],
    ["size with YAML", { ...good, pvc_size: "10Gi\nfoo: bar" }, "pvc_size", /not a size/],
    ["size as object", { ...good, pvc_size: { gi: 10 } }, "pvc_size", /must be a number of GiB/],
    ["size as boolean", { ...good, pvc_size: true }, "pvc_size", /must be a number of GiB/],
    ["size hex", { ...good, pvc_size: "0x10" }, "pvc_size", /not a size/],
    ["size exponent", { ...good, pvc_size: "1e3" }, "pvc_size", /not a size/],
    ["size NaN", { ...good, pvc_size: Number.NaN }, "pvc_size", /not a size/],
  ];

  it(`has a table of at least 60 bad requests (${bad.length})`, () => {
    expect(bad.length).toBeGreaterThanOrEqual(60);
  });

  it.each(bad)("refuses %s, naming the field and why", (_, input, field, words) => {
    const r = validateVolumeRequest(input, rules);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const problem = r.problems.find((p) => p.field === field);
    expect(problem, JSON.stringify(r.problems)).toBeDefined();
    expect(problem?.message).toMatch(words);
  });

  it("reports every broken field at once", () => {
    const r = validateVolumeRequest(
      { business_unit: "X", application: "", namespace: "kube-system", pvc_size: "0" },
      rules,
    );
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.problems.map((p) => p.field).sort()).toEqual([
        "application",
        "business_unit",
        "namespace",
        "pvc_name",
        "pvc_size",
      ]);
  });

  it("never accepts a name that is not a DNS-1123 label (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (name) => {
        const r = validateVolumeRequest({ ...good, pvc_name: name }, rules);
        const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) && name.length <= 63;
        expect(r.ok).toBe(label);
        if (!r.ok) for (const p of r.problems) expect(p.message).not.toMatch(/[\n\r\u2028]/);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("validateVolumeId (delete)", () => {
  const id = { business_unit: "sales", application: "shipping", namespace: "shipping-dev", pvc_name: "data" };
  const listed = {
    ...rules,
    tenants: { ...rules.tenants, sales: { ...tenant, namespaces: ["shop-*"] } },
  };

  it("names a volume without a size", () => {
    expect(validateVolumeId(id, rules)).toEqual({
      ok: true,
      value: { businessUnit: "sales", application: "shipping", namespace: "shipping-dev", pvcName: "data" },
    });
  });

  it("lets a tenant retire a volume in a namespace that has left its list, never in a system one", () => {
    expect(validateVolumeId(id, listed).ok).toBe(true);
    expect(validateVolumeRequest({ ...id, pvc_size: "1" }, listed).ok).toBe(false);
    const system = validateVolumeId({ ...id, namespace: "kube-system" }, rules);
    expect(system.ok).toBe(false);
    expect(!system.ok && system.problems[0]?.message).toMatch(/reserved for the platform/);
  });

  it("refuses names that are no tenant's, whatever the object prototype holds", () => {
    for (const bu of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const r = validateVolumeId({ ...id, business_unit: bu }, rules);
      expect(r.ok, bu).toBe(false);
    }
  });
});
