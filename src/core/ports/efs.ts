// What drbot needs from Amazon EFS, independent of the SDK. Every call names the region it is
// addressed to: during a regional outage only the secondary region may answer.

export type OverwriteProtection = "ENABLED" | "DISABLED" | "REPLICATING";

export interface FileSystemInfo {
  fileSystemId: string;
  region: string;
  /** creating | available | updating | deleting | deleted | error */
  lifeCycleState: string;
  overwriteProtection: OverwriteProtection;
  name?: string;
}

export interface ReplicationDestination {
  fileSystemId: string;
  region: string;
  /** ENABLED | ENABLING | DELETING | ERROR | PAUSED | PAUSING */
  status: string;
  /** Everything written on the source before this instant is on the destination. */
  lastReplicatedTimestamp?: Date;
}

export interface ReplicationInfo {
  sourceFileSystemId: string;
  sourceRegion: string;
  destinations: ReplicationDestination[];
  creationTime?: Date;
}

export interface MountTargetInfo {
  mountTargetId: string;
  availabilityZoneName: string;
  /** creating | available | updating | deleting | deleted | error */
  lifeCycleState: string;
  ipAddress?: string;
}

export type ReplicationDeletionMode = "ALL_CONFIGURATIONS" | "LOCAL_CONFIGURATION_ONLY";

export interface EfsPort {
  /** Throws DrbotError not_found (`efs.file_system_not_found`) when it does not exist. */
  describeFileSystem(region: string, fileSystemId: string): Promise<FileSystemInfo>;
  /** The replication configuration the file system takes part in (as source or destination), or null. */
  describeReplication(region: string, fileSystemId: string): Promise<ReplicationInfo | null>;
  /**
   * Asks for the replication configuration to be deleted, addressed to `region`. Idempotent:
   * "not-found" when there is none left (already deleted counts as success).
   */
  ensureReplicationDeleted(
    region: string,
    sourceFileSystemId: string,
    mode: ReplicationDeletionMode,
  ): Promise<"deleting" | "not-found">;
  /** Number of mount targets, for reachability checks. */
  countMountTargets(region: string, fileSystemId: string): Promise<number>;
  /** Every mount target of the file system, with its Availability Zone and state. */
  describeMountTargets(region: string, fileSystemId: string): Promise<MountTargetInfo[]>;
  /** UpdateFileSystemProtection addressed to `region`; setting the current value succeeds. */
  ensureOverwriteProtection(
    region: string,
    fileSystemId: string,
    protection: "ENABLED" | "DISABLED",
  ): Promise<void>;
  /**
   * CreateReplicationConfiguration addressed to `region` (the source's region), to the EXISTING
   * file system `destination`. "exists" when exactly this replication is already configured.
   */
  ensureReplication(
    region: string,
    sourceFileSystemId: string,
    destination: { region: string; fileSystemId: string },
  ): Promise<"created" | "exists">;
}
