import { describe, expect, it } from "vitest";
import { isTransient } from "../../src/core/errors.ts";
import { isNetworkFailure, kindOfHttpStatus } from "../../src/core/http-errors.ts";

describe("kindOfHttpStatus", () => {
  it.each([
    [400, "invalid"],
    [401, "forbidden"],
    [403, "forbidden"],
    [404, "not_found"],
    [408, "transient"],
    [409, "conflict"],
    [418, "internal"],
    [422, "invalid"],
    [429, "transient"],
    [500, "transient"],
    [502, "transient"],
    [503, "transient"],
  ] as const)("reads HTTP %i as %s", (status, kind) => {
    expect(kindOfHttpStatus(status)).toBe(kind);
  });
});

describe("isNetworkFailure", () => {
  const errno = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });

  it("is a refused, reset or unresolvable connection, on the error or on its cause", () => {
    expect(isNetworkFailure(errno("ECONNREFUSED"))).toBe(true);
    expect(isNetworkFailure(errno("ENOTFOUND"))).toBe(true);
    // Node's fetch: TypeError("fetch failed") with the socket's error as its cause.
    expect(isNetworkFailure(new TypeError("fetch failed", { cause: errno("ECONNRESET") }))).toBe(true);
    expect(
      isNetworkFailure(new Error("wrapped", { cause: new Error("inner", { cause: errno("EPIPE") }) })),
    ).toBe(true);
  });

  it("is a timeout", () => {
    expect(
      isNetworkFailure(new DOMException("The operation was aborted due to timeout", "TimeoutError")),
    ).toBe(true);
  });

  it("is not an answer, a file error or anything else", () => {
    expect(isNetworkFailure(errno("ENOENT"))).toBe(false);
    expect(isNetworkFailure(Object.assign(new Error("Not Found"), { status: 404 }))).toBe(false);
    expect(isNetworkFailure(new TypeError("x is not a function"))).toBe(false);
    expect(isNetworkFailure("ECONNREFUSED")).toBe(false);
    expect(isNetworkFailure(undefined)).toBe(false);
  });

  it("makes an error drbot did not wrap worth retrying", () => {
    expect(isTransient(errno("ECONNRESET"))).toBe(true);
    expect(isTransient(errno("EACCES"))).toBe(false);
  });
});
