// EfsPort on @aws-sdk/client-efs. One client per region, because every call is addressed to a
// region (during an outage only the secondary answers). The endpoint comes from the SDK's own chain
// (AWS_ENDPOINT_URL_EFS, config files) unless given; an endpoint containing `{region}` is one
// endpoint per region, as AWS has, and each client gets its region's. SDK retries stay few because
// drbot's job runner retries transient errors itself, with its own backoff and deadline.
import {
  CreateReplicationConfigurationCommand,
  DeleteReplicationConfigurationCommand,
  DescribeFileSystemsCommand,
  DescribeMountTargetsCommand,
  DescribeReplicationConfigurationsCommand,
  EFSClient,
  type EFSClientConfig,
  type FileSystemDescription,
  type MountTargetDescription,
  type ReplicationConfigurationDescription,
  UpdateFileSystemProtectionCommand,
} from "@aws-sdk/client-efs";
import { DrbotError, type ErrorCode, type ErrorKind } from "../core/errors.ts";
import { isNetworkFailure, kindOfHttpStatus } from "../core/http-errors.ts";
import type { Logger } from "../core/logger.ts";
import type {
  EfsPort,
  FileSystemInfo,
  MountTargetInfo,
  OverwriteProtection,
  ReplicationDeletionMode,
  ReplicationInfo,
} from "../core/ports/efs.ts";

export interface EfsAdapterOptions {
  /** drbot's logger, for the SDK's warnings. */
  logger?: Logger;
  /**
   * Overrides the SDK's endpoint resolution (tests, VPC endpoints). `{region}` in it is replaced by
   * each client's region. Unset: AWS_ENDPOINT_URL_EFS when it holds `{region}`, else the SDK's chain.
   */
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

/** `{region}` is drbot's own extension of AWS_ENDPOINT_URL_EFS: the SDK would take it verbatim. */
const REGION_PLACEHOLDER = "{region}";

/** The AWS SDK's logger interface over pino: its debug chatter stays at debug. */
function sdkLogger(log: Logger) {
  return {
    debug: (...m: unknown[]) => log.debug({ sdk: m.map(String).join(" ") }, "aws sdk"),
    info: (...m: unknown[]) => log.debug({ sdk: m.map(String).join(" ") }, "aws sdk"),
    warn: (...m: unknown[]) => log.warn({ sdk: m.map(String).join(" ") }, "aws sdk"),
    error: (...m: unknown[]) => log.error({ sdk: m.map(String).join(" ") }, "aws sdk"),
  };
}

export function createEfsAdapter(options: EfsAdapterOptions = {}): EfsAdapter {
  const clients = new Map<string, EFSClient>();
  const fromEnv = process.env.AWS_ENDPOINT_URL_EFS;
  const template = options.endpoint ?? (fromEnv?.includes(REGION_PLACEHOLDER) ? fromEnv : undefined);

  function client(region: string): EFSClient {
    let c = clients.get(region);
    if (!c) {
      const endpoint = template?.replaceAll(REGION_PLACEHOLDER, region);
      c = new EFSClient({
        region,
        maxAttempts: options.maxAttempts ?? 3,
        requestHandler: {
          connectionTimeout: 5_000,
          requestTimeout: options.requestTimeoutMs ?? 20_000,
          throwOnRequestTimeout: true,
        },
        ...(endpoint ? { endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        // The SDK's own warnings (deprecations, retries) go through drbot's logger.
        ...(options.logger ? { logger: sdkLogger(options.logger) } : {}),
      });
      clients.set(region, c);
    }
    return c;
  }

  const adapter: EfsAdapter = {
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
      return (await adapter.describeMountTargets(region, fileSystemId)).length;
    },

    async describeMountTargets(region, fileSystemId) {
      const call: Call = { operation: "DescribeMountTargets", region, fileSystemId };
      const out: MountTargetInfo[] = [];
      let marker: string | undefined;
      do {
        const page = await send(call, () =>
          client(region).send(
            new DescribeMountTargetsCommand({ FileSystemId: fileSystemId, Marker: marker }),
          ),
        );
        for (const mt of page.MountTargets ?? []) out.push(toMountTargetInfo(mt));
        marker = page.NextMarker;
      } while (marker);
      return out;
    },

    async ensureOverwriteProtection(region, fileSystemId, protection) {
      const call: Call = { operation: "UpdateFileSystemProtection", region, fileSystemId };
      try {
        await send(call, () =>
          client(region).send(
            new UpdateFileSystemProtectionCommand({
              FileSystemId: fileSystemId,
              ReplicationOverwriteProtection: protection,
            }),
          ),
        );
      } catch (err) {
        // Protection cannot change while the file system takes part in a replication: name it.
        if (err instanceof DrbotError && err.code === "efs.replication_exists")
          throw (await replicationInTheWay(adapter, [{ region, fileSystemId }], call, err)) ?? err;
        throw err;
      }
    },

    async ensureReplication(region, sourceFileSystemId, destination) {
      const call: Call = {
        operation: "CreateReplicationConfiguration",
        region,
        fileSystemId: sourceFileSystemId,
      };
      try {
        await send(call, () =>
          client(region).send(
            new CreateReplicationConfigurationCommand({
              SourceFileSystemId: sourceFileSystemId,
              Destinations: [{ Region: destination.region, FileSystemId: destination.fileSystemId }],
            }),
          ),
        );
        return "created";
      } catch (err) {
        if (!(err instanceof DrbotError && (err.code === "efs.replication_exists" || err.kind === "invalid")))
          throw err;
        // The refusal does not say what is in the way; the two file systems' own regions do.
        const existing = await adapter.describeReplication(region, sourceFileSystemId).catch(() => undefined);
        if (existing && isExactly(existing, sourceFileSystemId, region, destination)) return "exists";
        const blocking = await replicationInTheWay(
          adapter,
          [{ region, fileSystemId: sourceFileSystemId }, destination],
          call,
          err,
        );
        if (blocking) throw blocking;
        const dest = await adapter
          .describeFileSystem(destination.region, destination.fileSystemId)
          .catch(() => undefined);
        if (dest && dest.overwriteProtection !== "DISABLED") throw destinationProtected(dest, call, err);
        throw err;
      }
    },

    close() {
      for (const c of clients.values()) c.destroy();
      clients.clear();
    },
  };
  return adapter;
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

function toMountTargetInfo(mt: MountTargetDescription): MountTargetInfo {
  return {
    mountTargetId: mt.MountTargetId ?? "",
    availabilityZoneName: mt.AvailabilityZoneName ?? "",
    lifeCycleState: mt.LifeCycleState ?? "unknown",
    ...(mt.IpAddress ? { ipAddress: mt.IpAddress } : {}),
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

function isExactly(
  rep: ReplicationInfo,
  sourceFileSystemId: string,
  sourceRegion: string,
  destination: { region: string; fileSystemId: string },
): boolean {
  const [d, ...more] = rep.destinations;
  return (
    rep.sourceFileSystemId === sourceFileSystemId &&
    rep.sourceRegion === sourceRegion &&
    more.length === 0 &&
    d?.fileSystemId === destination.fileSystemId &&
    d.region === destination.region &&
    d.status !== "DELETING"
  );
}

function replicationText(rep: ReplicationInfo): string {
  const d = rep.destinations[0];
  return `${rep.sourceFileSystemId} (${rep.sourceRegion}) -> ${d ? `${d.fileSystemId} (${d.region})` : "no destination"}, ${d?.status ?? "unknown"}`;
}

/**
 * The replication configuration that keeps one of `candidates` (file systems, each asked in its own
 * region) from taking part in another, as a DrbotError that names it and where to remove it; undefined
 * when none is found (or the regions do not answer: the original error then stands).
 */
async function replicationInTheWay(
  efs: EfsPort,
  candidates: { region: string; fileSystemId: string }[],
  call: Call,
  cause: DrbotError,
): Promise<DrbotError | undefined> {
  for (const c of candidates) {
    const rep = await efs.describeReplication(c.region, c.fileSystemId).catch(() => null);
    if (!rep) continue;
    const deleting = rep.destinations.some((d) => d.status === "DELETING");
    return new DrbotError(
      "conflict",
      "efs.replication_exists",
      `EFS ${call.operation} for ${call.fileSystemId} in ${call.region} failed: another replication configuration is in the way: ${c.fileSystemId} takes part in ${replicationText(rep)}, as ${c.region} sees it.`,
      {
        hint: deleting
          ? `It is being deleted; wait until it is gone in ${c.region} (DescribeReplicationConfigurations answers ReplicationNotFound), then retry.`
          : `Remove it in ${c.region} first (aws efs delete-replication-configuration --source-file-system-id ${rep.sourceFileSystemId} --region ${c.region}; ReplicationNotFound means it is already gone), then retry.`,
        cause,
      },
    );
  }
  return undefined;
}

function destinationProtected(dest: FileSystemInfo, call: Call, cause: DrbotError): DrbotError {
  return new DrbotError(
    "conflict",
    "efs.destination_protected",
    `EFS ${call.operation} for ${call.fileSystemId} in ${call.region} failed: the destination ${dest.fileSystemId} in ${dest.region} has replication overwrite protection ${dest.overwriteProtection}, so it cannot become a replication destination.`,
    {
      hint: `Set it to DISABLED in ${dest.region} first (UpdateFileSystemProtection: aws efs update-file-system-protection --file-system-id ${dest.fileSystemId} --replication-overwrite-protection DISABLED --region ${dest.region}), then retry. While DISABLED it is read-only, and replication overwrites its data.`,
      cause,
    },
  );
}

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
  const make = (kind: ErrorKind, code: ErrorCode, summary: string, hint: string) =>
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
        "efs.wrong_lifecycle",
        "the file system is not in the available state",
        "Wait until the file system is available (EFS console or `aws efs describe-file-systems`) and retry.",
      );
    case "ReplicationAlreadyExists":
      return make(
        "conflict",
        "efs.replication_exists",
        "a replication configuration is in the way: the file system already takes part in one",
        `Look at the replication configurations of both file systems, each in its own region (aws efs describe-replication-configurations --file-system-id <id> --region <region>), and remove the one in the way there.`,
      );
    case "ConflictException":
      return make(
        "conflict",
        "efs.conflict",
        "the source file system is encrypted but the destination is not",
        "Replicate to an encrypted file system: encryption is chosen when a file system is created, so create an encrypted one and name it in drbot.yaml.",
      );
    case "InvalidSignatureException":
    case "IncompleteSignatureException":
    case "UnrecognizedClientException":
    case "MissingAuthenticationTokenException":
      return make(
        "forbidden",
        "efs.bad_credentials",
        "AWS refused the request's credentials or signature",
        `Check the AWS credentials drbot runs with, and that the EFS endpoint (AWS_ENDPOINT_URL_EFS) serves ${call.region}.`,
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
  if (status === undefined && isNetworkFailure(err))
    return make(
      "transient",
      "efs.unreachable",
      `the EFS API in ${call.region} could not be reached`,
      `It is retried automatically; if it persists, the region may be down (AWS Health Dashboard) or the network path to the EFS endpoint is broken.`,
    );
  switch (status === undefined ? "internal" : kindOfHttpStatus(status)) {
    case "transient":
      return make(
        "transient",
        "efs.unavailable",
        `the EFS API in ${call.region} failed with HTTP ${status}`,
        `It is retried automatically; check the AWS Health Dashboard for EFS in ${call.region}.`,
      );
    case "forbidden":
      return make(
        "forbidden",
        "efs.forbidden",
        "access was denied",
        `Check that drbot's IAM role allows elasticfilesystem:${call.operation} on this file system in ${call.region}.`,
      );
    case "not_found":
      return make(
        "not_found",
        "efs.not_found",
        "AWS answered not found",
        "Check the file system id and region.",
      );
    case "conflict":
      return make(
        "conflict",
        "efs.conflict",
        "the file system is not in a state that allows this",
        "Check the file system and its replication in the EFS console.",
      );
    case "invalid":
      return make(
        "invalid",
        "efs.invalid_request",
        "AWS rejected the request as invalid",
        "Check the file system id and the drbot.yaml settings for this site.",
      );
    default:
      return make(
        "internal",
        "efs.unexpected",
        "unexpected error",
        "Look at the worker logs for this job; this may be a bug in drbot.",
      );
  }
}
