// A fake Amazon EFS control plane speaking restJson1 (API 2015-02-01) to the real
// @aws-sdk/client-efs. One server plays every region: AWS routes by host name, the fake reads the
// region from the SigV4 credential scope instead, so tests can tell which region a call went to.
// Shapes follow the SDK's schemas: timestamps are epoch seconds, errors carry `x-amzn-errortype`
// and an `{ErrorCode, Message}` body, as EFS sends them.
import { randomUUID } from "node:crypto";
import { FakeHttpServer, type FakeReply, type FaultRule, type RecordedRequest } from "./fake-http.ts";

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

/** Error codes with the HTTP status EFS (or the AWS front door) answers them with. */
const ERROR_STATUS = {
  BadRequest: 400,
  ValidationException: 400,
  AccessDeniedException: 403,
  MissingAuthenticationTokenException: 403,
  InvalidSignatureException: 403,
  FileSystemNotFound: 404,
  ReplicationNotFound: 404,
  MountTargetNotFound: 404,
  AccessPointNotFound: 404,
  UnknownOperationException: 404,
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

const PREFIX = "/2015-02-01";
const FS_ID = /^fs-[0-9a-f]{8,40}$/;
const FS_ARN = /^arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-]+:\d+:file-system\/(fs-[0-9a-f]{8,40})$/;

interface Route {
  operation: EfsOperation;
  /** The `{FileSystemId}` / `{SourceFileSystemId}` path label, decoded. */
  id?: string;
}

function routeOf(method: string, path: string): Route | undefined {
  if (!path.startsWith(`${PREFIX}/`)) return undefined;
  const rest = path.slice(PREFIX.length);
  if (method === "GET" && rest === "/file-systems") return { operation: "DescribeFileSystems" };
  if (method === "GET" && rest === "/file-systems/replication-configurations")
    return { operation: "DescribeReplicationConfigurations" };
  if (method === "GET" && rest === "/mount-targets") return { operation: "DescribeMountTargets" };
  if (method === "GET" && rest === "/access-points") return { operation: "DescribeAccessPoints" };
  const labelled = /^\/file-systems\/([^/]+)\/(replication-configuration|protection)$/.exec(rest);
  if (!labelled?.[1]) return undefined;
  const id = decodeURIComponent(labelled[1]);
  if (labelled[2] === "protection")
    return method === "PUT" ? { operation: "UpdateFileSystemProtection", id } : undefined;
  if (method === "POST") return { operation: "CreateReplicationConfiguration", id };
  if (method === "DELETE") return { operation: "DeleteReplicationConfiguration", id };
  return undefined;
}

/** The EFS operation a recorded request invoked, if any. */
export function operationOf(req: RecordedRequest): EfsOperation | undefined {
  return routeOf(req.method, req.path)?.operation;
}

/** `Credential=AKID/20250101/us-west-2/elasticfilesystem/aws4_request` -> region and service. */
function credentialScope(req: RecordedRequest): { region: string; service: string } | undefined {
  const auth = req.headers.authorization ?? "";
  const m = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth);
  return m?.[1] && m[2] ? { region: m[1], service: m[2] } : undefined;
}

/** The region a request was signed for (and so addressed to). */
export function regionOf(req: RecordedRequest): string | undefined {
  return credentialScope(req)?.region;
}

interface FileSystemRecord {
  id: string;
  region: string;
  name: string | undefined;
  lifeCycleState: string;
  protection: Protection;
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
}

interface AccessPointRecord {
  id: string;
  fileSystemId: string;
  name: string | undefined;
  path: string;
  uid: number;
  gid: number;
}

interface ReplicationRecord {
  sourceId: string;
  sourceRegion: string;
  creationTime: Date;
  destination: {
    id: string;
    region: string;
    status: string;
    statusMessage?: string;
    lastReplicated?: Date;
  };
  /** AWS keeps one half of the configuration in each region; a half can be deleted alone. */
  heldIn: Set<string>;
  deletion?: { regions: Set<string>; startedAt: number; describes: number };
}

/**
 * When an accepted deletion finishes. It finishes once the configuration was seen (as DELETING)
 * by `afterDescribes` DescribeReplicationConfigurations/DescribeFileSystems calls, or `afterMs`
 * have passed, whichever is set and comes first; `never` keeps it DELETING for good.
 */
export interface DeletionBehaviour {
  afterDescribes?: number;
  afterMs?: number;
  never?: boolean;
}

export interface FileSystemInit {
  region: string;
  id?: string;
  name?: string;
  lifeCycleState?: string;
  overwriteProtection?: Protection;
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
  /** A replication destination (REPLICATING) is read-only. */
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
  deleting: boolean;
}

export type RegionDownMode = "unavailable" | "reset";

export interface FakeEfsOptions {
  accountId?: string;
  deletion?: DeletionBehaviour;
}

export class FakeEfs {
  readonly http: FakeHttpServer;
  readonly accountId: string;
  private deletionBehaviour: DeletionBehaviour;
  private readonly fileSystems = new Map<string, FileSystemRecord>();
  private readonly mountTargets = new Map<string, MountTargetRecord>();
  private readonly accessPoints = new Map<string, AccessPointRecord>();
  private replications: ReplicationRecord[] = [];
  private readonly downRegions = new Map<string, RegionDownMode>();
  private seq = 0;

  constructor(options: FakeEfsOptions = {}) {
    this.accountId = options.accountId ?? "123456789012";
    this.deletionBehaviour = { afterDescribes: 1, ...options.deletion };
    this.http = new FakeHttpServer("efs", (req) => this.handle(req));
    this.installRegionRules();
  }

  get url(): string {
    return this.http.url;
  }

  start(): Promise<string> {
    return this.http.start();
  }

  close(): Promise<void> {
    return this.http.close();
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

  /** Requests for `operation` (optionally signed for `region`), including faulted ones. */
  callsTo(operation: EfsOperation, region?: string): RecordedRequest[] {
    return this.http.requests.filter(
      (r) => operationOf(r) === operation && (region === undefined || regionOf(r) === region),
    );
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
      creationTime: init.creationTime ?? new Date(),
      sizeInBytes: 6144,
    });
    for (let i = 0; i < (init.mountTargets ?? 0); i++) this.addMountTarget(id);
    return id;
  }

  addMountTarget(
    fileSystemId: string,
    init: { subnetId?: string; availabilityZoneName?: string } = {},
  ): string {
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
    });
    return id;
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

  /** A replication configuration as if created long ago; the destination becomes REPLICATING. */
  addReplication(init: ReplicationInit): ReplicationSnapshot {
    const source = this.mustGet(init.sourceFileSystemId);
    const destId =
      init.destinationFileSystemId ??
      this.addFileSystem({
        region:
          init.destinationRegion ??
          this.fail("addReplication needs destinationRegion or destinationFileSystemId"),
      });
    const dest = this.mustGet(destId);
    if (this.findReplication(source.id) || this.findReplication(dest.id))
      throw new Error(`EFS fake: ${source.id} or ${dest.id} is already part of a replication configuration`);
    dest.protection = "REPLICATING";
    const rep: ReplicationRecord = {
      sourceId: source.id,
      sourceRegion: source.region,
      creationTime: init.creationTime ?? new Date(),
      destination: {
        id: dest.id,
        region: dest.region,
        status: init.status ?? "ENABLED",
        ...(init.lastReplicatedTimestamp ? { lastReplicated: init.lastReplicatedTimestamp } : {}),
      },
      heldIn: new Set([source.region, dest.region]),
    };
    this.replications.push(rep);
    return this.snapshotReplication(rep);
  }

  /** Sets the destination's LastReplicatedTimestamp of the configuration `fileSystemId` is in. */
  setLastReplicated(fileSystemId: string, at: Date): void {
    const rep =
      this.findReplication(fileSystemId) ?? this.fail(`no replication configuration for ${fileSystemId}`);
    rep.destination.lastReplicated = at;
  }

  setLifeCycleState(fileSystemId: string, state: string): void {
    this.mustGet(fileSystemId).lifeCycleState = state;
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
      writable: fs.protection !== "REPLICATING",
      mountTargets: this.mountTargetsOf(fs.id).length,
      accessPoints: [...this.accessPoints.values()].filter((a) => a.fileSystemId === fs.id).length,
    };
  }

  /** The configuration `fileSystemId` takes part in (as source or destination), if any. */
  replicationOf(fileSystemId: string): ReplicationSnapshot | undefined {
    this.settle(false);
    const rep = this.findReplication(fileSystemId);
    return rep && this.snapshotReplication(rep);
  }

  // --- protocol ---------------------------------------------------------------------------------

  private handle(req: RecordedRequest): FakeReply {
    const route = routeOf(req.method, req.path);
    if (!route)
      return efsError("UnknownOperationException", `no EFS operation for ${req.method} ${req.path}`);
    const scope = credentialScope(req);
    try {
      if (!scope) throw new EfsFault("MissingAuthenticationTokenException", "Missing Authentication Token");
      if (scope.service !== "elasticfilesystem")
        throw new EfsFault(
          "InvalidSignatureException",
          `Credential should be scoped to correct service: 'elasticfilesystem', not '${scope.service}'.`,
        );
      const describing =
        route.operation === "DescribeFileSystems" || route.operation === "DescribeReplicationConfigurations";
      this.settle(describing);
      const reply = this.dispatch(route, scope.region, req);
      if (describing) for (const rep of this.replications) if (rep.deletion) rep.deletion.describes += 1;
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
      id === null ? this.replications.filter((r) => r.heldIn.has(region)) : [this.repIn(region, id)];
    const page = paginate(reps, q.get("NextToken"), q.get("MaxResults"), 100);
    return ok({
      Replications: page.items.map((r) => this.describeRep(r)),
      ...(page.next ? { NextToken: page.next } : {}),
    });
  }

  private createReplication(region: string, rawId: string, body: string): FakeReply {
    const source = this.fsIn(region, rawId);
    const input = parseBody(body) as { Destinations?: unknown };
    const dests = input.Destinations;
    if (!Array.isArray(dests) || dests.length !== 1)
      throw new EfsFault("ValidationException", "Destinations must contain exactly one destination.");
    const want = dests[0] as { Region?: unknown; FileSystemId?: unknown };
    if (typeof want.Region !== "string" || !want.Region)
      throw new EfsFault("BadRequest", "Destination Region is required.");
    if (source.lifeCycleState !== "available")
      throw new EfsFault(
        "IncorrectFileSystemLifeCycleState",
        `File system ${source.id} is ${source.lifeCycleState}, not available.`,
      );
    if (this.findReplication(source.id))
      throw new EfsFault(
        "ReplicationAlreadyExists",
        `File system ${source.id} is already part of a replication.`,
      );
    let dest: FileSystemRecord;
    if (typeof want.FileSystemId === "string") {
      dest = this.fsIn(want.Region, want.FileSystemId);
      if (this.findReplication(dest.id))
        throw new EfsFault(
          "ReplicationAlreadyExists",
          `File system ${dest.id} is already part of a replication.`,
        );
      if (dest.protection !== "DISABLED")
        throw new EfsFault(
          "BadRequest",
          `Replication overwrite protection of destination ${dest.id} must be DISABLED before it can be a destination.`,
        );
    } else {
      dest = this.mustGet(this.addFileSystem({ region: want.Region }));
    }
    const snapshot = this.addReplication({ sourceFileSystemId: source.id, destinationFileSystemId: dest.id });
    const rep = this.findReplication(snapshot.sourceFileSystemId) as ReplicationRecord;
    return ok(this.describeRep(rep));
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
    const regions = mode === "ALL_CONFIGURATIONS" ? [...rep.heldIn] : [region];
    if (rep.deletion) for (const r of regions) rep.deletion.regions.add(r);
    else rep.deletion = { regions: new Set(regions), startedAt: Date.now(), describes: 0 };
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
    if (this.findReplication(fs.id))
      throw new EfsFault(
        "ReplicationAlreadyExists",
        `File system ${fs.id} is part of a replication configuration.`,
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
        LifeCycleState: "available",
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

  /** Finishes deletions that are due; `describing`: the current call is a Describe, which may finish them. */
  private settle(describing: boolean): void {
    const b = this.deletionBehaviour;
    if (b.never) return;
    for (const rep of [...this.replications]) {
      const d = rep.deletion;
      if (!d) continue;
      const byDescribes = describing && b.afterDescribes !== undefined && d.describes >= b.afterDescribes;
      const byTime = b.afterMs !== undefined && Date.now() - d.startedAt >= b.afterMs;
      if (byDescribes || byTime) this.finishDeletion(rep);
    }
  }

  /** Removes the halves being deleted, except in regions that are down (they wait for recovery). */
  private finishDeletion(rep: ReplicationRecord): void {
    const d = rep.deletion;
    if (!d) return;
    for (const region of [...d.regions]) {
      if (this.downRegions.has(region)) continue;
      rep.heldIn.delete(region);
      d.regions.delete(region);
      if (region === rep.destination.region) {
        const dest = this.fileSystems.get(rep.destination.id);
        if (dest) dest.protection = "ENABLED";
      }
    }
    if (rep.heldIn.size === 0) {
      this.replications = this.replications.filter((r) => r !== rep);
      return;
    }
    if (d.regions.size === 0) rep.deletion = undefined;
    // Only one half is left: nothing replicates any more.
    if (!rep.deletion) {
      rep.destination.status = "ERROR";
      rep.destination.statusMessage = "The other half of this replication configuration was deleted.";
    }
  }

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
      (r) => r.heldIn.has(region) && (r.sourceId === id || r.destination.id === id),
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
      Encrypted: true,
      ThroughputMode: "elastic",
      Tags: fs.name ? [{ Key: "Name", Value: fs.name }] : [],
      FileSystemProtection: { ReplicationOverwriteProtection: fs.protection },
    };
  }

  private describeRep(rep: ReplicationRecord): Record<string, unknown> {
    const d = rep.destination;
    const sourceArn = `arn:aws:elasticfilesystem:${rep.sourceRegion}:${this.accountId}:file-system/${rep.sourceId}`;
    return {
      SourceFileSystemId: rep.sourceId,
      SourceFileSystemRegion: rep.sourceRegion,
      SourceFileSystemArn: sourceArn,
      OriginalSourceFileSystemArn: sourceArn,
      CreationTime: epochSeconds(rep.creationTime),
      Destinations: [
        {
          Status: rep.deletion ? "DELETING" : d.status,
          FileSystemId: d.id,
          Region: d.region,
          ...(d.lastReplicated ? { LastReplicatedTimestamp: epochSeconds(d.lastReplicated) } : {}),
          OwnerId: this.accountId,
          ...(d.statusMessage && !rep.deletion ? { StatusMessage: d.statusMessage } : {}),
        },
      ],
      SourceFileSystemOwnerId: this.accountId,
    };
  }

  private snapshotReplication(rep: ReplicationRecord): ReplicationSnapshot {
    const d = rep.destination;
    return {
      sourceFileSystemId: rep.sourceId,
      sourceRegion: rep.sourceRegion,
      sourceFileSystemArn: `arn:aws:elasticfilesystem:${rep.sourceRegion}:${this.accountId}:file-system/${rep.sourceId}`,
      creationTime: rep.creationTime,
      destinations: [
        {
          fileSystemId: d.id,
          region: d.region,
          status: rep.deletion ? "DELETING" : d.status,
          ...(d.lastReplicated ? { lastReplicatedTimestamp: d.lastReplicated } : {}),
        },
      ],
      regions: [...rep.heldIn],
      deleting: rep.deletion !== undefined,
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
