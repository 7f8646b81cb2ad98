// AWS Signature Version 4, checked on the receiving side as AWS checks it: the credential scope
// must name the service and the endpoint's region, the access key must be known, the request
// must be recent, and the signature recomputed over the canonical request with the key's secret
// must match. The recomputation is the SDK's own signer (@smithy/signature-v4), fed the request
// exactly as it arrived, so the stand-ins accept what AWS accepts and refuse what it refuses.
import { createHash, createHmac, type Hash, type Hmac, timingSafeEqual } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import type { RecordedRequest } from "./fake-http.ts";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** `Credential=AKID/20250101/us-west-2/elasticfilesystem/aws4_request`, taken apart. */
export interface CredentialScope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

export type SigV4ErrorCode =
  | "MissingAuthenticationTokenException"
  | "IncompleteSignatureException"
  | "UnrecognizedClientException"
  | "InvalidSignatureException";

export type SigV4Result =
  | { ok: true; scope: CredentialScope }
  | { ok: false; code: SigV4ErrorCode; message: string; scope?: CredentialScope };

export interface SigV4Expectation {
  service: string;
  /** The region the endpoint serves; unset for an endpoint that takes any region (legacy). */
  region?: string;
  /** The secret of a known access key, undefined for an unknown one. */
  secretFor(accessKeyId: string): string | undefined;
  /** AWS allows 15 minutes of clock skew either way. */
  maxSkewMs?: number;
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;.-]+),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/;
const SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/** The credential scope a request claims, without checking anything; undefined when unsigned. */
export function credentialScope(req: RecordedRequest): CredentialScope | undefined {
  const m = AUTH.exec(header(req, "authorization") ?? "");
  return m
    ? { accessKeyId: m[1] ?? "", date: m[2] ?? "", region: m[3] ?? "", service: m[4] ?? "" }
    : undefined;
}

export async function verifySigV4(req: RecordedRequest, expect: SigV4Expectation): Promise<SigV4Result> {
  const authorization = header(req, "authorization");
  if (!authorization)
    return {
      ok: false,
      code: "MissingAuthenticationTokenException",
      message: "Missing Authentication Token",
    };
  const m = AUTH.exec(authorization);
  if (!m)
    return {
      ok: false,
      code: "IncompleteSignatureException",
      message: `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters of an AWS4-HMAC-SHA256 signature.`,
    };
  const scope: CredentialScope = {
    accessKeyId: m[1] ?? "",
    date: m[2] ?? "",
    region: m[3] ?? "",
    service: m[4] ?? "",
  };
  const signedHeaders = (m[5] ?? "").split(";");
  const signature = m[6] ?? "";
  const fail = (code: SigV4ErrorCode, message: string): SigV4Result => ({ ok: false, code, message, scope });

  if (scope.service !== expect.service)
    return fail(
      "InvalidSignatureException",
      `Credential should be scoped to correct service: '${expect.service}'. `,
    );
  if (expect.region !== undefined && scope.region !== expect.region)
    return fail("InvalidSignatureException", "Credential should be scoped to a valid region. ");
  const secret = expect.secretFor(scope.accessKeyId);
  if (secret === undefined)
    return fail("UnrecognizedClientException", "The security token included in the request is invalid.");

  const amzDate = header(req, "x-amz-date") ?? "";
  const d = AMZ_DATE.exec(amzDate);
  if (!d || !signedHeaders.includes("host"))
    return fail("IncompleteSignatureException", "Date and host must be signed (X-Amz-Date, Host).");
  const signingDate = new Date(
    Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(d[4]), Number(d[5]), Number(d[6])),
  );
  if (amzDate.slice(0, 8) !== scope.date)
    return fail(
      "InvalidSignatureException",
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scope.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  const skew = expect.maxSkewMs ?? 15 * 60_000;
  const now = Date.now();
  if (signingDate.getTime() < now - skew)
    return fail(
      "InvalidSignatureException",
      `Signature expired: ${amzDate} is now earlier than ${isoBasic(now - skew)} (${isoBasic(now)} - 15 min.)`,
    );
  if (signingDate.getTime() > now + skew)
    return fail(
      "InvalidSignatureException",
      `Signature not yet current: ${amzDate} is still later than ${isoBasic(now + skew)} (${isoBasic(now)} + 15 min.)`,
    );

  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = header(req, name);
    if (value === undefined) return fail("InvalidSignatureException", SIGNATURE_MISMATCH);
    headers[name] = value;
  }
  // The signer trusts a payload hash header instead of hashing the body: check it against the body.
  const payloadHash = headers["x-amz-content-sha256"];
  if (
    payloadHash !== undefined &&
    payloadHash !== "UNSIGNED-PAYLOAD" &&
    payloadHash !== createHash("sha256").update(req.body, "utf8").digest("hex")
  )
    return fail(
      "InvalidSignatureException",
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  const [rawPath = "/", rawQuery = ""] = req.url.split("?", 2);
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: scope.accessKeyId, secretAccessKey: secret },
    region: scope.region,
    service: scope.service,
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: "http:",
      hostname: headers.host ?? "",
      path: rawPath,
      query,
      headers,
      body: req.body,
    },
    { signingDate, signingRegion: scope.region, signingService: scope.service },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? ""))?.[1] ?? "";
  if (expected.length !== signature.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature)))
    return fail("InvalidSignatureException", SIGNATURE_MISMATCH);
  return { ok: true, scope };
}

function header(req: RecordedRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

function isoBasic(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** SHA-256 and HMAC-SHA256 on node:crypto, in the shape the signer expects. */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}
