// Who is in the sandbox's Slack workspace: named people with the roles the sandbox configuration
// gives them, the one channel drbot works in, and the file systems and regions of the two sites.

export interface Person {
  id: string;
  /** Slack handle (`user_name` of a slash command). */
  name: string;
  realName: string;
  /** What the configuration lets this person do, in words for the identity picker. */
  role: string;
}

export const PEOPLE = {
  requester: {
    id: "U0SBXREQ1",
    name: "riya",
    realName: "Riya Patel",
    role: "requests volumes for sales; may ask for a failover",
  },
  approver1: { id: "U0SBXAPR1", name: "ada", realName: "Ada Okafor", role: "failover approver (SRE)" },
  approver2: { id: "U0SBXAPR2", name: "ben", realName: "Ben Müller", role: "failover approver (SRE)" },
  outsider: { id: "U0SBXOUT1", name: "olaf", realName: "Olaf Berg", role: "no drbot rights" },
} as const satisfies Record<string, Person>;

export const PEOPLE_LIST: readonly Person[] = Object.values(PEOPLE);

export function personById(id: string): Person | undefined {
  return PEOPLE_LIST.find((p) => p.id === id);
}

export const CHANNEL = { id: "C0SBXDROPS", name: "dr-ops" } as const;
export const BOT = { userId: "U0SBXDRBOT", botId: "B0SBXDRBOT", appId: "A0SBXDRBOT", name: "drbot" } as const;

export const SITES = {
  primary: { fileSystemId: "fs-0aaa1111", region: "us-east-1", cluster: "rosa-primary" },
  secondary: { fileSystemId: "fs-0bbb2222", region: "us-west-2", cluster: "rosa-secondary" },
} as const;

export type SiteName = keyof typeof SITES;
export const SITE_NAMES = ["primary", "secondary"] as const satisfies readonly SiteName[];

/** The tenant every sandbox volume belongs to. */
export const TENANT = "sales";
export const ROOT_DIRECTORY = "/k8s-static-volumes";
