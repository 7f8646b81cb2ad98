// EfsPort on @aws-sdk/client-efs. One client per region, because every call is addressed to a
// region (during an outage only the secondary answers). The endpoint comes from the SDK's own chain
// (AWS_ENDPOINT_URL_EFS, config files) unless given; SDK retries stay few because drbot's job runner
// retries transient errors itself, with its own backoff and deadline.
import {
  DeleteReplicationConfigurationCommand,
  DescribeFileSystemsCommand,
  DescribeMountTargetsCommand,
  DescribeReplicationConfigurationsCommand,
  EFSClient,
  type EFSClientConfig,
  type FileSystemDescription,
  type ReplicationConfigurationDescription,
} from "@aws-sdk/client-efs";
import { DrbotError, type ErrorKind } from "../core/errors.ts";
import type {
  EfsPort,
  FileSystemInfo,
  OverwriteProtection,
  ReplicationDeletionMode,
  ReplicationInfo,
} from "../core/ports/efs.ts";

export interface EfsAdapterOptions {
  /** Overrides the SDK's endpoint resolution (tests, VPC endpoints). */
  endpoint?: string;
  /** Defaults to the SDK's credential chain (env, IRSA, profiles). */
  credentials?: EFSClientConfig["credentials"];
  /** Attempts per call inside the SDK, first one included. */
  maxAttempts?: number;
  /** A call that has not been answered after this long fails as transient. */
  requestTimeoutMs?: number;
}

export interface EfsAdapter extends EfsPort {
  /** Closes the per-region clients' connections. */
  close(): void;
}

export function createEfsAdapter(options: EfsAdapterOptions = {}): EfsAdapter {
  const clients = new Map<string, EFSClient>();

  function client(region: string): EFSClient {
    let c = clients.get(region);
    if (!c) {
      c = new EFSClient({
        region,
        maxAttempts: options.maxAttempts ?? 3,
        requestHandler: {
          connectionTimeout: 5_000,
          requestTimeout: options.requestTimeoutMs ?? 20_000,
          throwOnRequestTimeout: true,
        },
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
      clients.set(region, c);
    }
    return c;
  }

  return {
    async describeFileSystem(region, fileSystemId) {
      const call: Call = { operation: "DescribeFileSystems", region, fileSystemId };
      const out = await send(call, () =>
        client(region).send(new DescribeFileSystemsCommand({ FileSystemId: fileSystemId })),
      );
      const fs = out.FileSystems?.[0];
      if (!fs) throw notFound(call);
      return toFileSystemInfo(fs, region);
    },

    async describeReplication(region, fileSystemId) {
      const call: Call = { operation: "DescribeReplicationConfigurations", region, fileSystemId };
      try {
        const out = await send(call, () =>
          client(region).send(new DescribeReplicationConfigurationsCommand({ FileSystemId: fileSystemId })),
        );
        const rep = out.Replications?.[0];
        return rep ? toReplicationInfo(rep) : null;
      } catch (err) {
        if (err instanceof DrbotError && err.code === "efs.replication_not_found") return null;
        throw err;
      }
    },

    async ensureReplicationDeleted(region, sourceFileSystemId, mode: ReplicationDeletionMode) {
      const call: Call = {
        operation: "DeleteReplicationConfiguration",
        region,
        fileSystemId: sourceFileSystemId,
      };
      try {
        await send(call, () =>
          client(region).send(
            new DeleteReplicationConfigurationCommand({
              SourceFileSystemId: sourceFileSystemId,
              DeletionMode: mode,
            }),
          ),
        );
        return "deleting";
      } catch (err) {
        // Already deleted (by us on an earlier attempt, or by someone else) is what we wanted.
        if (err instanceof DrbotError && err.code === "efs.replication_not_found") return "not-found";
        throw err;
      }
    },

    async countMountTargets(region, fileSystemId) {
      const call: Call = { operation: "DescribeMountTargets", region, fileSystemId };
      let count = 0;
      let marker: string | undefined;
      do {
        const out = await send(call, () =>
          client(region).send(
            new DescribeMountTargetsCommand({ FileSystemId: fileSystemId, Marker: marker }),
          ),
        );
        count += out.MountTargets?.length ?? 0;
        marker = out.NextMarker;
      } while (marker);
      return count;
    },

    close() {
      for (const c of clients.values()) c.destroy();
      clients.clear();
    },
  };
}

function toFileSystemInfo(fs: FileSystemDescription, region: string): FileSystemInfo {
  return {
    fileSystemId: fs.FileSystemId ?? "",
    region,
    lifeCycleState: fs.LifeCycleState ?? "unknown",
    // File systems created before the protection feature report nothing: they are writable.
    overwriteProtection: (fs.FileSystemProtection?.ReplicationOverwriteProtection ??
      "ENABLED") as OverwriteProtection,
    ...(fs.Name ? { name: fs.Name } : {}),
  };
}

function toReplicationInfo(rep: ReplicationConfigurationDescription): ReplicationInfo {
  return {
    sourceFileSystemId: rep.SourceFileSystemId ?? "",
    sourceRegion: rep.SourceFileSystemRegion ?? "",
    destinations: (rep.Destinations ?? []).map((d) => ({
      fileSystemId: d.FileSystemId ?? "",
      region: d.Region ?? "",
      status: d.Status ?? "unknown",
      ...(d.LastReplicatedTimestamp ? { lastReplicatedTimestamp: d.LastReplicatedTimestamp } : {}),
    })),
    ...(rep.CreationTime ? { creationTime: rep.CreationTime } : {}),
  };
}

// --- errors ---------------------------------------------------------------------------------------

interface Call {
  operation: string;
  region: string;
  fileSystemId: string;
}

async function send<T>(call: Call, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw translate(err, call);
  }
}

function notFound(call: Call): DrbotError {
  return new DrbotError(
    "not_found",
    "efs.file_system_not_found",
    `EFS file system ${call.fileSystemId} was not found in ${call.region}.`,
    { hint: `Check the file system id and region in drbot.yaml, and that the AWS account is the right one.` },
  );
}

interface SdkErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** SDK errors -> DrbotError with a stable code and a message an on-call human can act on. */
function translate(err: unknown, call: Call): DrbotError {
  if (err instanceof DrbotError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as SdkErrorShape;
  const name = e.name ?? "Error";
  const status = e.$metadata?.httpStatusCode;
  const what = `EFS ${call.operation} for ${call.fileSystemId} in ${call.region}`;
  const detail = `${name}${e.message && e.message !== name ? `: ${e.message}` : ""}${
    e.$metadata?.requestId ? `; AWS request id ${e.$metadata.requestId}` : ""
  }`;
  const make = (kind: ErrorKind, code: string, summary: string, hint: string) =>
    new DrbotError(kind, code, `${what} failed: ${summary} (${detail}).`, { hint, cause: err });

  switch (name) {
    case "FileSystemNotFound":
      return make(
        "not_found",
        "efs.file_system_not_found",
        "the file system does not exist in this region",
        "Check the file system id and region in drbot.yaml; a file system is only visible in its own region.",
      );
    case "ReplicationNotFound":
      return make(
        "not_found",
        "efs.replication_not_found",
        "there is no replication configuration for this file system",
        "Check in the EFS console whether replication was already deleted.",
      );
    case "IncorrectFileSystemLifeCycleState":
      return make(
        "conflict",
        "efs.file_system_not_available",
        "the file system is not in the available state",
        "Wait until the file system is available (EFS console or `aws efs describe-file-systems`) and retry.",
      );
    case "ReplicationAlreadyExists":
      return make(
        "conflict",
        "efs.replication_exists",
        "the file system is already part of a replication configuration",
        "Check the replication configuration in the EFS console.",
      );
    case "CredentialsProviderError":
      return make(
        "forbidden",
        "efs.no_credentials",
        "no AWS credentials were found",
        "Check the AWS credentials drbot runs with (environment, IRSA service account, profile).",
      );
  }
  if (status === 429 || name === "ThrottlingException" || name === "TooManyRequests")
    return make(
      "transient",
      "efs.throttled",
      "AWS throttled the request",
      "It is retried automatically; if it persists, look for other clients calling the EFS API in this account.",
    );
  if (status !== undefined && status >= 500)
    return make(
      "transient",
      "efs.unavailable",
      `the EFS API in ${call.region} answered with a server error (HTTP ${status})`,
      `It is retried automatically; check the AWS Health Dashboard for EFS in ${call.region}.`,
    );
  if (status === 401 || status === 403)
    return make(
      "forbidden",
      "efs.forbidden",
      "access was denied",
      `Check that drbot's IAM role allows elasticfilesystem:${call.operation} on this file system in ${call.region}.`,
    );
  if (status === 404)
    return make(
      "not_found",
      "efs.not_found",
      "AWS answered not found",
      "Check the file system id and region.",
    );
  if (status === 409)
    return make(
      "conflict",
      "efs.conflict",
      "the file system is not in a state that allows this",
      "Check the file system and its replication in the EFS console.",
    );
  if (status === 400 || status === 422)
    return make(
      "invalid",
      "efs.invalid_request",
      "AWS rejected the request as invalid",
      "Check the file system id and the drbot.yaml settings for this site.",
    );
  if (isNetworkError(e))
    return make(
      "transient",
      "efs.unreachable",
      `the EFS API in ${call.region} could not be reached`,
      `It is retried automatically; if it persists, the region may be down (AWS Health Dashboard) or the network path to the EFS endpoint is broken.`,
    );
  return make(
    "internal",
    "efs.unexpected",
    "unexpected error",
    "Look at the worker logs for this job; this may be a bug in drbot.",
  );
}

function isNetworkError(e: SdkErrorShape): boolean {
  if (e.$metadata?.httpStatusCode !== undefined) return false;
  return (
    (e.code !== undefined && NETWORK_CODES.has(e.code)) ||
    e.name === "TimeoutError" ||
    e.name === "RequestTimeout"
  );
}
