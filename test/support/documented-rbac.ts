// The ClusterRole that docs/operations.md tells operators to apply, read from the document itself:
// the stand-in clusters enforce it (World turns it on), so a verb drbot needs and the docs do not
// grant fails the tests, and the docs cannot drift from the code.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { type ClusterRoleRules, clusterRoleFrom } from "../../src/sandbox/stand-ins/kube-rbac.ts";

const OPERATIONS_DOC = new URL("../../docs/operations.md", import.meta.url);

export function documentedClusterRole(): ClusterRoleRules {
  const markdown = readFileSync(OPERATIONS_DOC, "utf8");
  const documents = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) =>
    parseAllDocuments(m[1] as string).map((d) => d.toJS() as unknown),
  );
  return { rules: clusterRoleFrom(documents), user: "system:serviceaccount:drbot-access:drbot" };
}
