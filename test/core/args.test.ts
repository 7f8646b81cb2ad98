import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseArgs, VOLUME_KEYS } from "../../src/commands/args.ts";

describe("slash-command arguments", () => {
  it("reads short and long keys, quotes and smart quotes", () => {
    expect(
      parseArgs("create bu=sales application=shipping ns=dev pvc_name=data size=10Gi", VOLUME_KEYS),
    ).toEqual({
      subcommand: "create",
      words: [],
      values: {
        business_unit: "sales",
        application: "shipping",
        namespace: "dev",
        pvc_name: "data",
        pvc_size: "10Gi",
      },
      errors: [],
    });
    expect(parseArgs('create app="a b" ns=\u201cx y\u201d', VOLUME_KEYS).values).toEqual({
      application: "a b",
      namespace: "x y",
    });
    expect(parseArgs("CREATE BU=sales Pvc-Name=data", VOLUME_KEYS).values).toEqual({
      business_unit: "sales",
      pvc_name: "data",
    });
  });

  it("reports unknown keys, repeated keys and stray words instead of ignoring them", () => {
    const r = parseArgs("create please bu=a bu=b colour=red", VOLUME_KEYS);
    expect(r.errors).toEqual([
      'business_unit is given twice ("a" and "b"); give it once.',
      'unknown key "colour"; known keys: bu, business_unit, app, application, ns, namespace, pvc, pvc_name, size, pvc_size.',
      'unexpected word "please"; arguments are key=value pairs, like bu=sales.',
    ]);
  });

  it("never throws, and never lets a value escape its key (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const r = parseArgs(text, VOLUME_KEYS);
        for (const key of Object.keys(r.values)) expect(Object.values(VOLUME_KEYS)).toContain(key);
        // Control characters in a value are shown escaped, never raw (they could forge lines).
        for (const e of r.errors) expect([...e].some((c) => c.charCodeAt(0) < 0x20)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it("round-trips any set of safe values (property)", () => {
    const value = fc.stringMatching(/^[a-z0-9][-a-z0-9]{0,20}$/);
    fc.assert(
      fc.property(value, value, value, (bu, app, ns) => {
        const r = parseArgs(`create bu=${bu} app=${app} ns=${ns}`, VOLUME_KEYS);
        expect(r.values).toEqual({ business_unit: bu, application: app, namespace: ns });
        expect(r.errors).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });
});
