// A stand-in for the Amazon EFS control plane, speaking restJson1 (API 2015-02-01) to the real
// @aws-sdk/client-efs, strict where a DR tool depends on it:
//
// - One endpoint per region, as AWS has (`elasticfilesystem.<region>.amazonaws.com`): the server
//   answers `<url>/<region>/2015-02-01/...` (`endpointTemplate`), and refuses a request whose SigV4
//   credential scope names another region. The legacy single endpoint (`url`, no region in the
//   path) takes the region from the credential scope. Every signature is verified against the
//   known access keys (`credentials`).
// - Replication as the API reference and user guide describe it: AWS keeps one half of a
//   configuration in each region; a file system takes part in one configuration at most;
//   overwrite protection ENABLED (writable, cannot be a destination) / DISABLED (read-only, may
//   become a destination) / REPLICATING (a destination); a new replication is ENABLING, then
//   ENABLED, and its LastReplicatedTimestamp advances; a deletion takes time (DELETING); an
//   ALL_CONFIGURATIONS deletion completes in both regions at once, so it stays DELETING while the
//   other region is down; LOCAL_CONFIGURATION_ONLY removes the calling region's half only, and the
//   other half stays (visible there, in the way of a new replication) until deleted there.
// - Encryption is modelled: a replication from an encrypted source to an unencrypted existing
//   destination is refused with ConflictException, as the API reference says.
//
// Where the reference names no error for a refusal (an existing destination whose protection is
// ENABLED), the stand-in answers ReplicationAlreadyExists, the code AWS uses for protection
// conflicts ("ReplicationOverwriteProtection cannot be changed while the file system is a
// replication destination"). Shapes follow the SDK's schemas: timestamps are epoch seconds, errors
// carry `x-amzn-errortype` and an `{ErrorCode, Message}` body, as EFS sends them.
import { randomUUID } from "node:crypto";
import { FakeHttpServer, type FakeReply, type FaultRule, type RecordedRequest } from "./fake-http.ts";
import { type AwsCredentials, credentialScope, verifySigV4 } from "./sigv4.ts";

export type Protection = "ENABLED" | "DISABLED" | "REPLICATING";
export type DeletionMode = "ALL_CONFIGURATIONS" | "LOCAL_CONFIGURATION_ONLY";

export type EfsOperation =
  | "DescribeFileSystems"
  | "DescribeReplicationConfigurations"
  | "CreateReplicationConfiguration"
  | "DeleteReplicationConfiguration"
  | "UpdateFileSystemProtection"
  | "DescribeMountTargets"
  | "DescribeAccessPoints";

/** The operations that change something: a drill must make none of them. */
export const MUTATING_OPERATIONS: readonly EfsOperation[] = [
  "CreateReplicationConfiguration",
  "DeleteReplicationConfiguration",
  "UpdateFileSystemProtection",
];

/** Error codes with the HTTP status EFS (or the AWS front door) answers them with. */
const ERROR_STATUS = {
  BadRequest: 400,
  ValidationException: 400,
  IncompleteSignatureException: 400,
  AccessDeniedException: 403,
  MissingAuthenticationTokenException: 403,
  InvalidSignatureException: 403,
  UnrecognizedClientException: 403,
  FileSystemNotFound: 404,
  ReplicationNotFound: 404,
  MountTargetNotFound: 404,
  AccessPointNotFound: 404,
  UnknownOperationException: 404,
  ConflictException: 409,
  IncorrectFileSystemLifeCycleState: 409,
  ReplicationAlreadyExists: 409,
  ThrottlingException: 429,
  TooManyRequests: 429,
  InternalServerError: 500,
  ServiceUnavailableException: 503,
} as const;

export type EfsErrorCode = keyof typeof ERROR_STATUS;

/** An EFS error reply, usable as the `reply` of a fault rule. */
export function efsError(code: EfsErrorCode, message = `${code} (injected by the EFS fake)`): FakeReply {
  return {
    status: ERROR_STATUS[code],
    headers: { "x-amzn-errortype": code, "x-amzn-requestid": randomUUID() },
    body: { ErrorCode: code, Message: message },
  };
}

/** Thrown inside the handler to answer with an EFS error. */
class EfsFault extends Error {
  readonly reply: FakeReply;
  constructor(code: EfsErrorCode, message: string) {
    super(message);
    this.reply = efsError(code, message);
  }
}

const SERVICE = "elasticfilesystem";
const API = "/2015-02-01";
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const FS_ID = /^fs-[0-9a-f]{8,40}$/;
const FS_ARN = /^arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-]+:\d+:file-system\/(fs-[0-9a-f]{8,40})$/;

/** The access key every stand-in EFS accepts unless told otherwise (sandbox and tests). */
export const DEFAULT_EFS_CREDENTIALS: AwsCredentials = {
  accessKeyId: "AKIDSTANDINEFS000001",
  secretAccessKey: "stand-in-efs-secret-access-key",
};

interface Route {
  operation: EfsOperation;
  /** The region in the endpoint's path (`/<region>/2015-02-01/...`); unset on the legacy endpoint. */
  endpointRegion?: string;
  /** The `{FileSystemId}` / `{SourceFileSystemId}` path label, decoded. */
  id?: string;
}

function routeOf(method: string, path: string): Route | undefined {
  let endpointRegion: string | undefined;
  let rest = path;
  const prefixed = /^\/([^/]+)(\/2015-02-01\/.*)$/.exec(path);
  if (prefixed?.[1] && REGION.test(prefixed[1])) {
    endpointRegion = prefixed[1];
    rest = prefixed[2] ?? "";
  }
  if (!rest.startsWith(`${API}/`)) return undefined;
  rest = rest.slice(API.length);
  const at = (operation: EfsOperation, id?: string): Route => ({
    operation,
    ...(endpointRegion ? { endpointRegion } : {}),
    ...(id !== undefined ? { id } : {}),
  });
  if (method === "GET" && rest === "/file-systems") return at("DescribeFileSystems");
  if (method === "GET" && rest === "/file-systems/replication-configurations")
    return at("DescribeReplicationConfigurations");
  if (method === "GET" && rest === "/mount-targets") return at("DescribeMountTargets");
  if (method === "GET" && rest === "/access-points") return at("DescribeAccessPoints");
  const labelled = /^\/file-systems\/([^/]+)\/(replication-configuration|protection)$/.exec(rest);
  if (!labelled?.[1]) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(labelled[1]);
  } catch {
    return undefined;
  }
  if (labelled[2] === "protection")
    return method === "PUT" ? at("UpdateFileSystemProtection", id) : undefined;
  if (method === "POST") return at("CreateReplicationConfiguration", id);
  if (method === "DELETE") return at("DeleteReplicationConfiguration", id);
  return undefined;
}

/** The EFS operation a recorded request invoked, if any. */
export function operationOf(req: RecordedRequest): EfsOperation | undefined {
  return routeOf(req.method, req.path)?.operation;
}

/** The region a request was addressed to: its endpoint's, or on the legacy endpoint the one it was signed for. */
export function regionOf(req: RecordedRequest): string | undefined {
  return routeOf(req.method, req.path)?.endpointRegion ?? credentialScope(req)?.region;
}

interface FileSystemRecord {
  id: string;
  region: string;
  name: string | undefined;
  lifeCycleState: string;
  protection: Protection;
  encrypted: boolean;
  creationTime: Date;
  sizeInBytes: number;
}

interface MountTargetRecord {
  id: string;
  fileSystemId: string;
  subnetId: string;
  ipAddress: string;
  availabilityZoneName: string;
  availabilityZoneId: string;
  lifeCycleState: string;
}

interface AccessPointRecord {
  id: string;
  fileSystemId: string;
  name: string | undefined;
  path: string;
  uid: number;
  gid: number;
}

/** A deletion asked for on one region's half of a configuration. */
interface HalfDeletion {
  mode: DeletionMode;
  startedAt: number;
  describes: number;
}

interface ReplicationRecord {
  sourceId: string;
  sourceRegion: string;
  creationTime: Date;
  destination: {
    id: string;
    region: string;
    /** ENABLING until `enabledAt`, then ENABLED (or what a test set). */
    status: string;
    enabledAt?: number;
    lastReplicated?: Date;
    /** A stalled replication's LastReplicatedTimestamp no longer advances: it falls behind. */
    stalled: boolean;
  };
  /** AWS keeps one half of the configuration in each region; a half can be deleted alone. */
  halves: Map<string, { deletion?: HalfDeletion }>;
}

/**
 * When an accepted deletion finishes. It finishes once the configuration was seen (as DELETING)
 * by `afterDescribes` DescribeReplicationConfigurations/DescribeFileSystems calls, or `afterMs`
 * have passed, whichever is set and comes first; `never` keeps it DELETING for good. Either way an
 * ALL_CONFIGURATIONS deletion also waits until every region holding a half answers.
 */
export interface DeletionBehaviour {
  afterDescribes?: number;
  afterMs?: number;
  never?: boolean;
}

export interface MountTargetInit {
  subnetId?: string;
  availabilityZoneName?: string;
  /** creating | available | updating | deleting | deleted | error (default available) */
  lifeCycleState?: string;
}

export interface FileSystemInit {
  region: string;
  id?: string;
  name?: string;
  lifeCycleState?: string;
  overwriteProtection?: Protection;
  /** Default true, as every file system created by the console is. */
  encrypted?: boolean;
  /** Creates this many mount targets, one per availability zone. */
  mountTargets?: number;
  creationTime?: Date;
}

export interface ReplicationInit {
  sourceFileSystemId: string;
  /** An existing file system; otherwise one is created in `destinationRegion`. */
  destinationFileSystemId?: string;
  destinationRegion?: string;
  status?: string;
  lastReplicatedTimestamp?: Date;
  creationTime?: Date;
}

export interface FileSystemSnapshot {
  fileSystemId: string;
  region: string;
  arn: string;
  name: string | undefined;
  lifeCycleState: string;
  overwriteProtection: Protection;
  encrypted: boolean;
  /** Only ENABLED is writable: DISABLED and REPLICATING are read-only (API reference). */
  writable: boolean;
  mountTargets: number;
  accessPoints: number;
}

export interface ReplicationSnapshot {
  sourceFileSystemId: string;
  sourceRegion: string;
  sourceFileSystemArn: string;
  creationTime: Date;
  destinations: { fileSystemId: string; region: string; status: string; lastReplicatedTimestamp?: Date }[];
  /** Regions still holding their half of the configuration. */
  regions: string[];
  /** Some half is being deleted. */
  deleting: boolean;
}

export type RegionDownMode = "unavailable" | "reset";

export interface FakeEfsOptions {
  accountId?: string;
  /** How deletions finish (default: once one Describe has seen them DELETING). */
  deletion?: DeletionBehaviour;
  /** Shorthand for `deletion: { afterMs }`: a deletion takes this long (minutes in the sandbox). */
  deletionMs?: number;
  /** How long a new replication stays ENABLING (default 0: ENABLED from the next call on). */
  enablingMs?: number;
  /** Every this many ms of an ENABLED replication, LastReplicatedTimestamp moves on (default: never). */
  syncIntervalMs?: number;
  /** Access keys whose signatures are accepted (default: DEFAULT_EFS_CREDENTIALS). */
  credentials?: AwsCredentials[];
  /**
   * The clock of replication's life (ENABLING, the sync cadence, deletion time, creation times);
   * default the real one. Tests move a clock of their own instead of waiting. Signatures are
   * always checked against the real time, as AWS does.
   */
  clock?: () => number;
}

export class FakeEfs {
  readonly http: FakeHttpServer;
  readonly accountId: string;
  private deletionBehaviour: DeletionBehaviour;
  private enablingMs: number;
  private syncIntervalMs: number | undefined;
  private readonly secrets = new Map<string, string>();
  private readonly fileSystems = new Map<string, FileSystemRecord>();
  private readonly mountTargets = new Map<string, MountTargetRecord>();
  private readonly accessPoints = new Map<string, AccessPointRecord>();
  private replications: ReplicationRecord[] = [];
  private readonly downRegions = new Map<string, RegionDownMode>();
  private seq = 0;
  private readonly now: () => number;

  constructor(options: FakeEfsOptions = {}) {
    this.accountId = options.accountId ?? "123456789012";
    this.now = options.clock ?? Date.now;
    this.deletionBehaviour =
      options.deletionMs !== undefined
        ? { afterMs: options.deletionMs }
        : { afterDescribes: 1, ...options.deletion };
    this.enablingMs = options.enablingMs ?? 0;
    this.syncIntervalMs = options.syncIntervalMs;
    for (const c of options.credentials ?? [DEFAULT_EFS_CREDENTIALS]) this.addCredentials(c);
    this.http = new FakeHttpServer("efs", (req) => this.handle(req));
    this.installRegionRules();
  }

  /** The legacy single endpoint: the region comes from each request's credential scope. */
  get url(): string {
    return this.http.url;
  }

  /** One endpoint per region, as `AWS_ENDPOINT_URL_EFS` for drbot: `{region}` stands for the region. */
  get endpointTemplate(): string {
    return `${this.http.url}/{region}`;
  }

  /** The endpoint of one region, for an SDK client's `endpoint`. */
  endpointFor(region: string): string {
    return `${this.http.url}/${region}`;
  }

  /** The first accepted access key, for clients of this stand-in. */
  get credentials(): AwsCredentials {
    const [accessKeyId, secretAccessKey] = [...this.secrets][0] ?? ["", ""];
    return { accessKeyId, secretAccessKey };
  }

  start(): Promise<string> {
    return this.http.start();
  }

  close(): Promise<void> {
    return this.http.close();
  }

  addCredentials(credentials: AwsCredentials): void {
    this.secrets.set(credentials.accessKeyId, credentials.secretAccessKey);
  }

  injectFault(rule: FaultRule): void {
    this.http.injectFault(rule);
  }

  /** Fails the next `times` calls of one operation (optionally in one region) with an EFS error. */
  failOperation(
    operation: EfsOperation,
    code: EfsErrorCode,
    options: { times?: number; region?: string; message?: string } = {},
  ): void {
    this.http.injectFault({
      match: (req) => operationOf(req) === operation && (!options.region || regionOf(req) === options.region),
      reply: efsError(code, options.message),
      times: options.times ?? 1,
    });
  }

  /** Drops injected faults; regions set down stay down. */
  clearFaults(): void {
    this.http.clearFaults();
    this.installRegionRules();
  }

  /** Every request addressed to `region` fails: 503 ServiceUnavailable, or the connection is cut. */
  setRegionDown(region: string, down: boolean, mode: RegionDownMode = "unavailable"): void {
    if (down) this.downRegions.set(region, mode);
    else this.downRegions.delete(region);
  }

  setDeletionBehaviour(behaviour: DeletionBehaviour): void {
    this.deletionBehaviour = { ...behaviour };
  }

  /** A deletion takes `ms` from the request (deletions already under way included). */
  setDeletionMs(ms: number): void {
    this.deletionBehaviour = { afterMs: ms };
  }

  /** How long replications created from now on stay ENABLING. */
  setEnablingMs(ms: number): void {
    this.enablingMs = ms;
  }

  /** LastReplicatedTimestamp cadence of ENABLED replications; undefined: it only moves when set. */
  setSyncInterval(ms: number | undefined): void {
    this.syncIntervalMs = ms;
  }

  /** Requests for `operation` (optionally addressed to `region`), including refused and faulted ones. */
  callsTo(operation: EfsOperation, region?: string): RecordedRequest[] {
    return this.http.requests.filter(
      (r) => operationOf(r) === operation && (region === undefined || regionOf(r) === region),
    );
  }

  /** Requests to operations that change something, whatever their outcome. */
  mutatingCalls(): RecordedRequest[] {
    return this.http.requests.filter((r) => MUTATING_OPERATIONS.includes(operationOf(r) as EfsOperation));
  }

  addFileSystem(init: FileSystemInit): string {
    const id = init.id ?? this.newId("fs");
    if (!FS_ID.test(id)) throw new Error(`EFS fake: ${id} is not a valid file system id (fs-<8 to 40 hex>)`);
    if (this.fileSystems.has(id)) throw new Error(`EFS fake: file system ${id} already exists`);
    this.fileSystems.set(id, {
      id,
      region: init.region,
      name: init.name,
      lifeCycleState: init.lifeCycleState ?? "available",
      protection: init.overwriteProtection ?? "ENABLED",
      encrypted: init.encrypted ?? true,
      creationTime: init.creationTime ?? new Date(this.now()),
      sizeInBytes: 6144,
    });
    for (let i = 0; i < (init.mountTargets ?? 0); i++) this.addMountTarget(id);
    return id;
  }

  addMountTarget(fileSystemId: string, init: MountTargetInit = {}): string {
    const fs = this.mustGet(fileSystemId);
    const n = this.mountTargetsOf(fileSystemId).length;
    const id = this.newId("fsmt");
    this.mountTargets.set(id, {
      id,
      fileSystemId,
      subnetId: init.subnetId ?? `subnet-${this.hex(17)}`,
      ipAddress: `10.0.${n}.${10 + n}`,
      availabilityZoneName: init.availabilityZoneName ?? `${fs.region}${String.fromCharCode(97 + (n % 26))}`,
      availabilityZoneId: `${fs.region.replaceAll("-", "")}-az${n + 1}`,
      lifeCycleState: init.lifeCycleState ?? "available",
    });
    return id;
  }

  /**
   * Replaces a file system's mount targets: `count` available ones (one per zone), or one per
   * entry, e.g. `[{ lifeCycleState: "available" }, { lifeCycleState: "deleting" }]`. Returns their ids.
   */
  setMountTargets(fileSystemId: string, targets: number | MountTargetInit[]): string[] {
    this.mustGet(fileSystemId);
    for (const mt of this.mountTargetsOf(fileSystemId)) this.mountTargets.delete(mt.id);
    const list = typeof targets === "number" ? Array.from({ length: targets }, () => ({})) : targets;
    return list.map((init) => this.addMountTarget(fileSystemId, init));
  }

  addAccessPoint(
    fileSystemId: string,
    init: { name?: string; path?: string; uid?: number; gid?: number } = {},
  ): string {
    this.mustGet(fileSystemId);
    const id = this.newId("fsap");
    this.accessPoints.set(id, {
      id,
      fileSystemId,
      name: init.name,
      path: init.path ?? "/",
      uid: init.uid ?? 0,
      gid: init.gid ?? 0,
    });
    return id;
  }

  /** A replication configuration as if created long ago (ENABLED); the destination becomes REPLICATING. */
  addReplication(init: ReplicationInit): ReplicationSnapshot {
    const source = this.mustGet(init.sourceFileSystemId);
    const destId =
      init.destinationFileSystemId ??
      this.addFileSystem({
        region:
          init.destinationRegion ??
          this.fail("addReplication needs destinationRegion or destinationFileSystemId"),
        encrypted: source.encrypted,
      });
    const dest = this.mustGet(destId);
    if (this.partOf(source) || this.partOf(dest))
      throw new Error(`EFS fake: ${source.id} or ${dest.id} is already part of a replication configuration`);
    const rep = this.replicate(source, dest, {
      status: init.status ?? "ENABLED",
      ...(init.lastReplicatedTimestamp ? { lastReplicated: init.lastReplicatedTimestamp } : {}),
      creationTime: init.creationTime ?? new Date(this.now()),
    });
    return this.snapshotReplication(rep);
  }

  /** Sets the destination's LastReplicatedTimestamp of the configuration `fileSystemId` is in. */
  setLastReplicated(fileSystemId: string, at: Date): void {
    const rep =
      this.findReplication(fileSystemId) ?? this.fail(`no replication configuration for ${fileSystemId}`);
    rep.destination.lastReplicated = at;
  }

  /**
   * A stalled replication stops advancing LastReplicatedTimestamp, so its lag grows (a network
   * problem, a source too busy); un-stalled, it catches up at the next sync.
   */
  stallReplication(fileSystemId: string, stalled = true): void {
    const rep =
      this.findReplication(fileSystemId) ?? this.fail(`no replication configuration for ${fileSystemId}`);
    this.advance(rep);
    rep.destination.stalled = stalled;
  }

  setLifeCycleState(fileSystemId: string, state: string): void {
    this.mustGet(fileSystemId).lifeCycleState = state;
  }

  setOverwriteProtection(fileSystemId: string, protection: Protection): void {
    this.mustGet(fileSystemId).protection = protection;
  }

  fileSystem(id: string): FileSystemSnapshot | undefined {
    this.settle(false);
    const fs = this.fileSystems.get(id);
    if (!fs) return undefined;
    return {
      fileSystemId: fs.id,
      region: fs.region,
      arn: this.arn(fs),
      name: fs.name,
      lifeCycleState: fs.lifeCycleState,
      overwriteProtection: fs.protection,
      encrypted: fs.encrypted,
      writable: fs.protection === "ENABLED",
      mountTargets: this.mountTargetsOf(fs.id).length,
      accessPoints: [...this.accessPoints.values()].filter((a) => a.fileSystemId === fs.id).length,
    };
  }

  /**
   * The configuration `fileSystemId` takes part in as its own region sees it (as source or
   * destination), if any: after a LOCAL_CONFIGURATION_ONLY deletion in one region, the file system
   * of the other region still has it.
   */
  replicationOf(fileSystemId: string): ReplicationSnapshot | undefined {
    this.settle(false);
    const fs = this.fileSystems.get(fileSystemId);
    const rep = fs ? this.partOf(fs) : undefined;
    return rep && this.snapshotReplication(rep);
  }

  // --- protocol ---------------------------------------------------------------------------------

  private async handle(req: RecordedRequest): Promise<FakeReply> {
    const route = routeOf(req.method, req.path);
    if (!route)
      return efsError("UnknownOperationException", `no EFS operation for ${req.method} ${req.path}`);
    const auth = await verifySigV4(req, {
      service: SERVICE,
      ...(route.endpointRegion ? { region: route.endpointRegion } : {}),
      secretFor: (key) => this.secrets.get(key),
    });
    if (!auth.ok) return efsError(auth.code, auth.message);
    const region = route.endpointRegion ?? auth.scope.region;
    try {
      const describing =
        route.operation === "DescribeFileSystems" || route.operation === "DescribeReplicationConfigurations";
      this.settle(describing);
      const reply = this.dispatch(route, region, req);
      if (describing)
        for (const rep of this.replications)
          for (const half of rep.halves.values()) if (half.deletion) half.deletion.describes += 1;
      return reply;
    } catch (err) {
      if (err instanceof EfsFault) return err.reply;
      throw err;
    }
  }

  private dispatch(route: Route, region: string, req: RecordedRequest): FakeReply {
    switch (route.operation) {
      case "DescribeFileSystems":
        return this.describeFileSystems(region, req.query);
      case "DescribeReplicationConfigurations":
        return this.describeReplications(region, req.query);
      case "CreateReplicationConfiguration":
        return this.createReplication(region, route.id ?? "", req.body);
      case "DeleteReplicationConfiguration":
        return this.deleteReplication(region, route.id ?? "", req.query);
      case "UpdateFileSystemProtection":
        return this.updateProtection(region, route.id ?? "", req.body);
      case "DescribeMountTargets":
        return this.describeMountTargets(region, req.query);
      case "DescribeAccessPoints":
        return this.describeAccessPoints(region, req.query);
    }
  }

  private describeFileSystems(region: string, q: URLSearchParams): FakeReply {
    const id = q.get("FileSystemId");
    if (id !== null) return ok({ FileSystems: [this.describeFs(this.fsIn(region, id))] });
    const token = q.get("CreationToken");
    const all = [...this.fileSystems.values()].filter(
      (fs) => fs.region === region && (token === null || this.creationToken(fs) === token),
    );
    const page = paginate(all, q.get("Marker"), q.get("MaxItems"), 100);
    return ok({
      ...(q.get("Marker") !== null ? { Marker: q.get("Marker") } : {}),
      FileSystems: page.items.map((fs) => this.describeFs(fs)),
      ...(page.next ? { NextMarker: page.next } : {}),
    });
  }

  private describeReplications(region: string, q: URLSearchParams): FakeReply {
    const id = q.get("FileSystemId");
    const reps =
      id === null ? this.replications.filter((r) => r.halves.has(region)) : [this.repIn(region, id)];
    const page = paginate(reps, q.get("NextToken"), q.get("MaxResults"), 100);
    return ok({
      Replications: page.items.map((r) => this.describeRep(r, region)),
      ...(page.next ? { NextToken: page.next } : {}),
    });
  }

  private createReplication(region: string, rawId: string, body: string): FakeReply {
    const source = this.fsIn(region, rawId);
    const input = parseBody(body) as { Destinations?: unknown };
    const dests = input.Destinations;
    if (!Array.isArray(dests) || dests.length !== 1)
      throw new EfsFault("BadRequest", "Destinations must contain exactly one destination.");
    const want = dests[0] as { Region?: unknown; FileSystemId?: unknown };
    if (want.Region !== undefined && typeof want.Region !== "string")
      throw new EfsFault("BadRequest", "Destination Region must be a string.");
    const destRegion = typeof want.Region === "string" && want.Region ? want.Region : region;
    if (source.lifeCycleState !== "available")
      throw new EfsFault(
        "IncorrectFileSystemLifeCycleState",
        `File system ${source.id} is ${source.lifeCycleState}, not available.`,
      );
    if (this.partOf(source))
      throw new EfsFault(
        "ReplicationAlreadyExists",
        `File system ${source.id} is already part of a replication configuration.`,
      );
    let dest: FileSystemRecord;
    if (typeof want.FileSystemId === "string") {
      dest = this.fsIn(destRegion, want.FileSystemId);
      if (dest.id === source.id)
        throw new EfsFault("BadRequest", "The source and destination file systems must be different.");
      if (this.partOf(dest))
        throw new EfsFault(
          "ReplicationAlreadyExists",
          `File system ${dest.id} is already part of a replication configuration.`,
        );
      if (dest.lifeCycleState !== "available")
        throw new EfsFault(
          "IncorrectFileSystemLifeCycleState",
          `File system ${dest.id} is ${dest.lifeCycleState}, not available.`,
        );
      if (dest.protection !== "DISABLED")
        throw new EfsFault(
          "ReplicationAlreadyExists",
          `Destination file system ${dest.id} has ReplicationOverwriteProtection ${dest.protection}; it must be DISABLED to be used as a replication destination.`,
        );
      if (source.encrypted && !dest.encrypted)
        throw new EfsFault(
          "ConflictException",
          `Source file system ${source.id} is encrypted but destination file system ${dest.id} is not.`,
        );
    } else {
      dest = this.mustGet(this.addFileSystem({ region: destRegion, encrypted: source.encrypted }));
    }
    const rep = this.replicate(source, dest, {
      status: "ENABLING",
      enabledAt: this.now() + this.enablingMs,
      creationTime: new Date(this.now()),
    });
    return ok(this.describeRep(rep, region));
  }

  private deleteReplication(region: string, rawId: string, q: URLSearchParams): FakeReply {
    const mode = q.get("deletionMode") ?? "ALL_CONFIGURATIONS";
    if (mode !== "ALL_CONFIGURATIONS" && mode !== "LOCAL_CONFIGURATION_ONLY")
      throw new EfsFault(
        "ValidationException",
        `Value '${mode}' at 'deletionMode' failed to satisfy constraint: Member must satisfy enum value set: [ALL_CONFIGURATIONS, LOCAL_CONFIGURATION_ONLY]`,
      );
    const rep = this.repIn(region, rawId);
    if (mode === "LOCAL_CONFIGURATION_ONLY" && rep.sourceRegion === rep.destination.region)
      throw new EfsFault(
        "BadRequest",
        "LOCAL_CONFIGURATION_ONLY is not supported for same-Region replication.",
      );
    const now = this.now();
    if (mode === "ALL_CONFIGURATIONS") {
      // One deletion of every half, completing everywhere at once; a repeat changes nothing.
      const started = Math.min(
        now,
        ...[...rep.halves.values()].map((h) => (h.deletion?.mode === mode ? h.deletion.startedAt : now)),
      );
      for (const half of rep.halves.values())
        if (half.deletion?.mode !== mode) half.deletion = { mode, startedAt: started, describes: 0 };
    } else {
      // The local half only. An ALL_CONFIGURATIONS deletion it replaces no longer reaches the
      // other half: that one stays until it is deleted in its own region.
      const local = rep.halves.get(region) as { deletion?: HalfDeletion };
      if (local.deletion?.mode !== mode) local.deletion = { mode, startedAt: now, describes: 0 };
      for (const [r, half] of rep.halves)
        if (r !== region && half.deletion?.mode === "ALL_CONFIGURATIONS") delete half.deletion;
    }
    return { status: 204, headers: { "x-amzn-requestid": randomUUID() } };
  }

  private updateProtection(region: string, rawId: string, body: string): FakeReply {
    const fs = this.fsIn(region, rawId);
    const value = (parseBody(body) as { ReplicationOverwriteProtection?: unknown })
      .ReplicationOverwriteProtection;
    if (value !== "ENABLED" && value !== "DISABLED" && value !== "REPLICATING")
      throw new EfsFault(
        "ValidationException",
        `Value '${String(value)}' at 'replicationOverwriteProtection' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, REPLICATING]`,
      );
    if (value === "REPLICATING")
      throw new EfsFault("BadRequest", "ReplicationOverwriteProtection cannot be set to REPLICATING.");
    const rep = this.partOf(fs);
    if (rep)
      throw new EfsFault(
        "ReplicationAlreadyExists",
        rep.destination.id === fs.id
          ? "ReplicationOverwriteProtection cannot be changed while the file system is a replication destination."
          : `File system ${fs.id} is the source of a replication configuration.`,
      );
    if (fs.lifeCycleState !== "available")
      throw new EfsFault(
        "IncorrectFileSystemLifeCycleState",
        `File system ${fs.id} is ${fs.lifeCycleState}, not available.`,
      );
    fs.protection = value;
    return ok({ ReplicationOverwriteProtection: fs.protection });
  }

  private describeMountTargets(region: string, q: URLSearchParams): FakeReply {
    const fsId = q.get("FileSystemId");
    const mtId = q.get("MountTargetId");
    const apId = q.get("AccessPointId");
    let targets: MountTargetRecord[];
    if (mtId !== null) {
      const mt = this.mountTargets.get(mtId);
      if (!mt || this.fileSystems.get(mt.fileSystemId)?.region !== region)
        throw new EfsFault("MountTargetNotFound", `Mount target '${mtId}' does not exist.`);
      targets = [mt];
    } else if (fsId !== null) {
      targets = this.mountTargetsOf(this.fsIn(region, fsId).id);
    } else if (apId !== null) {
      const ap = this.accessPoints.get(apId);
      if (!ap || this.fileSystems.get(ap.fileSystemId)?.region !== region)
        throw new EfsFault("AccessPointNotFound", `Access point '${apId}' does not exist.`);
      targets = this.mountTargetsOf(ap.fileSystemId);
    } else {
      throw new EfsFault("BadRequest", "One of FileSystemId, MountTargetId or AccessPointId is required.");
    }
    const page = paginate(targets, q.get("Marker"), q.get("MaxItems"), 10);
    return ok({
      ...(q.get("Marker") !== null ? { Marker: q.get("Marker") } : {}),
      MountTargets: page.items.map((mt) => ({
        OwnerId: this.accountId,
        MountTargetId: mt.id,
        FileSystemId: mt.fileSystemId,
        SubnetId: mt.subnetId,
        LifeCycleState: mt.lifeCycleState,
        IpAddress: mt.ipAddress,
        NetworkInterfaceId: `eni-${mt.id.slice(5)}`,
        AvailabilityZoneId: mt.availabilityZoneId,
        AvailabilityZoneName: mt.availabilityZoneName,
        VpcId: "vpc-0fa1e0000000000a1",
      })),
      ...(page.next ? { NextMarker: page.next } : {}),
    });
  }

  private describeAccessPoints(region: string, q: URLSearchParams): FakeReply {
    const fsId = q.get("FileSystemId");
    const apId = q.get("AccessPointId");
    if (fsId !== null && apId !== null)
      throw new EfsFault("BadRequest", "Specify either FileSystemId or AccessPointId, not both.");
    let points: AccessPointRecord[];
    if (apId !== null) {
      const ap = this.accessPoints.get(apId);
      if (!ap || this.fileSystems.get(ap.fileSystemId)?.region !== region)
        throw new EfsFault("AccessPointNotFound", `Access point '${apId}' does not exist.`);
      points = [ap];
    } else {
      const fs = fsId === null ? undefined : this.fsIn(region, fsId);
      points = [...this.accessPoints.values()].filter((ap) =>
        fs ? ap.fileSystemId === fs.id : this.fileSystems.get(ap.fileSystemId)?.region === region,
      );
    }
    const page = paginate(points, q.get("NextToken"), q.get("MaxResults"), 100);
    return ok({
      AccessPoints: page.items.map((ap) => {
        const fs = this.mustGet(ap.fileSystemId);
        return {
          ClientToken: ap.id,
          ...(ap.name ? { Name: ap.name } : {}),
          Tags: ap.name ? [{ Key: "Name", Value: ap.name }] : [],
          AccessPointId: ap.id,
          AccessPointArn: `arn:aws:elasticfilesystem:${fs.region}:${this.accountId}:access-point/${ap.id}`,
          FileSystemId: ap.fileSystemId,
          PosixUser: { Uid: ap.uid, Gid: ap.gid },
          RootDirectory: { Path: ap.path },
          OwnerId: this.accountId,
          LifeCycleState: "available",
        };
      }),
      ...(page.next ? { NextToken: page.next } : {}),
    });
  }

  // --- state ------------------------------------------------------------------------------------

  /** A new configuration with a half in each region; the destination becomes REPLICATING. */
  private replicate(
    source: FileSystemRecord,
    dest: FileSystemRecord,
    init: { status: string; enabledAt?: number; lastReplicated?: Date; creationTime: Date },
  ): ReplicationRecord {
    dest.protection = "REPLICATING";
    const rep: ReplicationRecord = {
      sourceId: source.id,
      sourceRegion: source.region,
      creationTime: init.creationTime,
      destination: {
        id: dest.id,
        region: dest.region,
        status: init.status,
        ...(init.enabledAt !== undefined ? { enabledAt: init.enabledAt } : {}),
        ...(init.lastReplicated ? { lastReplicated: init.lastReplicated } : {}),
        stalled: false,
      },
      halves: new Map([
        [source.region, {}],
        [dest.region, {}],
      ]),
    };
    this.replications.push(rep);
    return rep;
  }

  /**
   * Brings every configuration up to now: ENABLING ones that are due become ENABLED, timestamps
   * advance at the sync cadence, and deletions that are due finish. `describing`: the current call
   * is a Describe, which may finish deletions (DeletionBehaviour.afterDescribes).
   */
  private settle(describing: boolean): void {
    for (const rep of [...this.replications]) {
      this.advance(rep);
      for (const [region, half] of [...rep.halves]) {
        const d = half.deletion;
        if (
          d?.mode === "LOCAL_CONFIGURATION_ONLY" &&
          this.due(d, describing) &&
          !this.downRegions.has(region)
        )
          this.removeHalf(rep, region);
      }
      // ALL_CONFIGURATIONS is one deletion: it completes in every region at once, or not at all.
      const all = [...rep.halves].filter(([, h]) => h.deletion?.mode === "ALL_CONFIGURATIONS");
      if (
        all.length > 0 &&
        all.every(
          ([region, h]) => h.deletion && this.due(h.deletion, describing) && !this.downRegions.has(region),
        )
      )
        for (const [region] of all) this.removeHalf(rep, region);
      if (rep.halves.size === 0) this.replications = this.replications.filter((r) => r !== rep);
    }
  }

  private due(d: HalfDeletion, describing: boolean): boolean {
    const b = this.deletionBehaviour;
    if (b.never) return false;
    const byDescribes = describing && b.afterDescribes !== undefined && d.describes >= b.afterDescribes;
    const byTime = b.afterMs !== undefined && this.now() - d.startedAt >= b.afterMs;
    return byDescribes || byTime;
  }

  /** ENABLING -> ENABLED when due (the first sync then completes); later syncs at the cadence. */
  private advance(rep: ReplicationRecord): void {
    const d = rep.destination;
    const now = this.now();
    if (d.status === "ENABLING" && d.enabledAt !== undefined && now >= d.enabledAt) {
      d.status = "ENABLED";
      d.lastReplicated = new Date(d.enabledAt);
      delete d.enabledAt;
    }
    const interval = this.syncIntervalMs;
    if (
      interval === undefined ||
      interval <= 0 ||
      d.status !== "ENABLED" ||
      d.stalled ||
      rep.halves.size < this.regionsOf(rep).size ||
      [...rep.halves.values()].some((h) => h.deletion)
    )
      return;
    const last = d.lastReplicated?.getTime() ?? rep.creationTime.getTime();
    const syncs = Math.floor((now - last) / interval);
    if (syncs > 0) d.lastReplicated = new Date(last + syncs * interval);
  }

  private removeHalf(rep: ReplicationRecord, region: string): void {
    rep.halves.delete(region);
    // The destination's half gone: it is writable again, protection back to ENABLED (API reference).
    if (region === rep.destination.region) {
      const dest = this.fileSystems.get(rep.destination.id);
      if (dest) dest.protection = "ENABLED";
    }
  }

  private regionsOf(rep: ReplicationRecord): Set<string> {
    return new Set([rep.sourceRegion, rep.destination.region]);
  }

  /** The configuration a file system takes part in, as its own region holds it. */
  private partOf(fs: FileSystemRecord): ReplicationRecord | undefined {
    return this.replications.find(
      (r) => r.halves.has(fs.region) && (r.sourceId === fs.id || r.destination.id === fs.id),
    );
  }

  /** Any configuration that names the file system, whichever halves are left (test helpers). */
  private findReplication(fileSystemId: string): ReplicationRecord | undefined {
    return this.replications.find((r) => r.sourceId === fileSystemId || r.destination.id === fileSystemId);
  }

  /**
   * The configuration addressed as `rawId` in `region`: a region sees its own half, found by the
   * source or the destination id. The API names source file systems that live in other regions, so
   * an id known anywhere in the account is ReplicationNotFound, an unknown one FileSystemNotFound.
   */
  private repIn(region: string, rawId: string): ReplicationRecord {
    const id = fileSystemIdOf(rawId);
    const rep = this.replications.find(
      (r) => r.halves.has(region) && (r.sourceId === id || r.destination.id === id),
    );
    if (rep) return rep;
    if (!this.fileSystems.has(id))
      throw new EfsFault("FileSystemNotFound", `File system '${id}' does not exist.`);
    throw new EfsFault(
      "ReplicationNotFound",
      `Replication configuration for file system '${id}' does not exist.`,
    );
  }

  /** A file system is only visible in its own region. */
  private fsIn(region: string, rawId: string): FileSystemRecord {
    const id = fileSystemIdOf(rawId);
    const fs = this.fileSystems.get(id);
    if (!fs || fs.region !== region)
      throw new EfsFault("FileSystemNotFound", `File system '${id}' does not exist.`);
    return fs;
  }

  private mustGet(id: string): FileSystemRecord {
    return this.fileSystems.get(id) ?? this.fail(`no file system ${id}`);
  }

  private mountTargetsOf(fileSystemId: string): MountTargetRecord[] {
    return [...this.mountTargets.values()].filter((m) => m.fileSystemId === fileSystemId);
  }

  private describeFs(fs: FileSystemRecord): Record<string, unknown> {
    return {
      OwnerId: this.accountId,
      CreationToken: this.creationToken(fs),
      FileSystemId: fs.id,
      FileSystemArn: this.arn(fs),
      CreationTime: epochSeconds(fs.creationTime),
      LifeCycleState: fs.lifeCycleState,
      ...(fs.name ? { Name: fs.name } : {}),
      NumberOfMountTargets: this.mountTargetsOf(fs.id).length,
      SizeInBytes: {
        Value: fs.sizeInBytes,
        ValueInIA: 0,
        ValueInStandard: fs.sizeInBytes,
        ValueInArchive: 0,
      },
      PerformanceMode: "generalPurpose",
      Encrypted: fs.encrypted,
      ThroughputMode: "elastic",
      Tags: fs.name ? [{ Key: "Name", Value: fs.name }] : [],
      FileSystemProtection: { ReplicationOverwriteProtection: fs.protection },
    };
  }

  /** The status a region's half shows: its own deletion, a missing other half, or the replication's. */
  private statusIn(rep: ReplicationRecord, region: string): { status: string; message?: string } {
    if (rep.halves.get(region)?.deletion) return { status: "DELETING" };
    if (rep.halves.size < this.regionsOf(rep).size)
      return {
        status: "ERROR",
        message:
          "The other Region's half of this replication configuration was deleted; delete this half too.",
      };
    return { status: rep.destination.status };
  }

  private describeRep(rep: ReplicationRecord, region: string): Record<string, unknown> {
    const d = rep.destination;
    const { status, message } = this.statusIn(rep, region);
    const sourceArn = `arn:aws:elasticfilesystem:${rep.sourceRegion}:${this.accountId}:file-system/${rep.sourceId}`;
    return {
      SourceFileSystemId: rep.sourceId,
      SourceFileSystemRegion: rep.sourceRegion,
      SourceFileSystemArn: sourceArn,
      OriginalSourceFileSystemArn: sourceArn,
      CreationTime: epochSeconds(rep.creationTime),
      Destinations: [
        {
          Status: status,
          FileSystemId: d.id,
          Region: d.region,
          ...(d.lastReplicated ? { LastReplicatedTimestamp: epochSeconds(d.lastReplicated) } : {}),
          OwnerId: this.accountId,
          ...(message ? { StatusMessage: message } : {}),
        },
      ],
      SourceFileSystemOwnerId: this.accountId,
    };
  }

  private snapshotReplication(rep: ReplicationRecord): ReplicationSnapshot {
    const d = rep.destination;
    const deleting = [...rep.halves.values()].some((h) => h.deletion);
    const region = rep.halves.has(d.region) ? d.region : rep.sourceRegion;
    return {
      sourceFileSystemId: rep.sourceId,
      sourceRegion: rep.sourceRegion,
      sourceFileSystemArn: `arn:aws:elasticfilesystem:${rep.sourceRegion}:${this.accountId}:file-system/${rep.sourceId}`,
      creationTime: rep.creationTime,
      destinations: [
        {
          fileSystemId: d.id,
          region: d.region,
          status: deleting ? "DELETING" : this.statusIn(rep, region).status,
          ...(d.lastReplicated ? { lastReplicatedTimestamp: d.lastReplicated } : {}),
        },
      ],
      regions: [...rep.halves.keys()],
      deleting,
    };
  }

  private arn(fs: FileSystemRecord): string {
    return `arn:aws:elasticfilesystem:${fs.region}:${this.accountId}:file-system/${fs.id}`;
  }

  private creationToken(fs: FileSystemRecord): string {
    return `drbot-fake-${fs.id}`;
  }

  /** Region-down rules come first, so a down region fails whatever else is injected. */
  private installRegionRules(): void {
    this.http.injectFault({ match: (req) => this.downMode(req) === "reset", reply: "reset" });
    this.http.injectFault({
      match: (req) => this.downMode(req) === "unavailable",
      reply: efsError("ServiceUnavailableException", "Service Unavailable"),
    });
  }

  private downMode(req: RecordedRequest): RegionDownMode | undefined {
    const region = regionOf(req);
    return region === undefined ? undefined : this.downRegions.get(region);
  }

  private newId(prefix: string): string {
    this.seq += 1;
    return `${prefix}-0${this.seq.toString(16).padStart(16, "0")}`;
  }

  private hex(length: number): string {
    return randomUUID().replaceAll("-", "").slice(0, length);
  }

  private fail(message: string): never {
    throw new Error(`EFS fake: ${message}`);
  }
}

export async function startFakeEfs(options: FakeEfsOptions = {}): Promise<FakeEfs> {
  const fake = new FakeEfs(options);
  await fake.start();
  return fake;
}

function ok(body: unknown): FakeReply {
  return { status: 200, headers: { "x-amzn-requestid": randomUUID() }, body };
}

function epochSeconds(d: Date): number {
  return d.getTime() / 1000;
}

/** Accepts a file system id or ARN, as the EFS API does. */
function fileSystemIdOf(raw: string): string {
  const arn = FS_ARN.exec(raw);
  const id = arn?.[1] ?? raw;
  if (!FS_ID.test(id)) throw new EfsFault("BadRequest", `Invalid file system ID: ${raw}`);
  return id;
}

function parseBody(body: string): unknown {
  if (!body) return {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null) return parsed;
  } catch {
    // answered below
  }
  throw new EfsFault("BadRequest", "The request body is not a JSON object.");
}

/** Offset-based pages; the token is opaque to clients. */
function paginate<T>(
  items: T[],
  token: string | null,
  size: string | null,
  defaultSize: number,
): { items: T[]; next?: string } {
  const start = token === null ? 0 : Number(token);
  if (!Number.isInteger(start) || start < 0 || start > items.length)
    throw new EfsFault("BadRequest", `Invalid pagination token: ${token}`);
  const n = size === null ? defaultSize : Number(size);
  if (!Number.isInteger(n) || n < 1) throw new EfsFault("BadRequest", `Invalid page size: ${size}`);
  const end = start + n;
  return end < items.length
    ? { items: items.slice(start, end), next: String(end) }
    : { items: items.slice(start) };
}
