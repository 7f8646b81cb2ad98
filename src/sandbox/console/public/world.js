// The panel beside the channel: controls, replication and lag, the active site, both EFS trees,
// both clusters' PVs and PVCs with their phase, and the Git log with each commit's diff.

import { clockTime, duration, h, replaceChildren } from "./dom.js";

/**
 * @typedef {{ onControl(action: string): void, onCommit(sha: string, into: HTMLElement): void }} WorldHandlers
 */

const CONTROL_LABELS = {
  "fail-primary": "Make the primary region fail",
  "restore-primary": "Bring the primary region back",
  "fall-behind": "Make replication fall behind",
  "catch-up": "Let replication catch up",
};

/** Commits whose diff is open stay open across pushes. */
const openCommits = new Set();

/**
 * @param {HTMLElement} into
 * @param {any} world
 * @param {WorldHandlers} handlers
 */
export function renderWorld(into, world, handlers) {
  const scroll = into.scrollTop;
  replaceChildren(
    into,
    controls(world, handlers),
    replication(world),
    ...world.sites.map((/** @type {any} */ s) => site(s, world.activeSite)),
    git(world.git.commits, handlers),
  );
  into.scrollTop = scroll;
}

/** Lag shown in words, refreshed every second by the page without a push. */
export function tickLag() {
  for (const el of document.querySelectorAll("[data-replicated-at]")) {
    const at = Number(/** @type {HTMLElement} */ (el).dataset.replicatedAt);
    el.textContent = `${duration(Date.now() - at)} ago`;
  }
}

/** @param {any} world @param {WorldHandlers} handlers */
function controls(world, handlers) {
  const c = world.controls;
  const button = (/** @type {keyof typeof CONTROL_LABELS} */ action, /** @type {boolean} */ enabled) =>
    h(
      "button",
      { type: "button", class: "control", disabled: !enabled, onclick: () => handlers.onControl(action) },
      CONTROL_LABELS[action],
    );
  return h(
    "section",
    { class: "panel controls", "aria-label": "Controls" },
    h("h3", {}, "Controls"),
    h(
      "div",
      { class: "control-row" },
      button("fail-primary", !c.primaryDown),
      button("restore-primary", c.primaryDown),
    ),
    h(
      "div",
      { class: "control-row" },
      button("fall-behind", !c.fallingBehind),
      button("catch-up", c.fallingBehind),
    ),
    h(
      "p",
      { class: "control-state", dataset: { primaryDown: String(c.primaryDown) } },
      c.primaryDown
        ? "The primary region is DOWN: its EFS API answers 503 and its Kubernetes API drops connections."
        : "Both regions answer.",
      c.fallingBehind ? " Replication is falling behind." : "",
    ),
  );
}

/** @param {any} world */
function replication(world) {
  const r = world.replication;
  const lines = [];
  lines.push(
    h(
      "div",
      {},
      "Active site: ",
      h("strong", { class: "active-site" }, String(world.activeSite)),
      world.drLock ? h("span", { class: "badge busy" }, `DR operation ${world.drLock}`) : null,
    ),
  );
  if (!r) {
    lines.push(
      h(
        "div",
        { class: "replication-state", dataset: { status: "none" } },
        "No replication: the active file system is UNPROTECTED.",
      ),
    );
  } else {
    lines.push(
      h(
        "div",
        { class: "replication-state", dataset: { status: r.status } },
        `${r.source} (${r.sourceRegion}) → ${r.destination} (${r.destinationRegion}): `,
        h("span", { class: `badge ${r.status === "ENABLED" ? "ok" : "warn"}` }, r.status),
      ),
    );
    lines.push(
      h(
        "div",
        {},
        "Last replicated: ",
        r.lastReplicatedAt
          ? [
              h(
                "span",
                { class: "lag", dataset: { replicatedAt: String(r.lastReplicatedAt) } },
                `${duration(Date.now() - r.lastReplicatedAt)} ago`,
              ),
              ` (at ${clockTime(r.lastReplicatedAt)})`,
            ]
          : "never",
      ),
    );
  }
  return h(
    "section",
    { class: "panel replication", "aria-label": "Replication" },
    h("h3", {}, "Replication"),
    lines,
  );
}

/** @param {any} s @param {string} active */
function site(s, active) {
  const fs = s.fileSystem;
  return h(
    "section",
    {
      class: `panel site${s.regionDown ? " down" : ""}`,
      "aria-label": `${s.site} site`,
      dataset: { site: s.site },
    },
    h(
      "h3",
      {},
      `${s.site === "primary" ? "Primary" : "Secondary"} — ${s.region}`,
      s.site === active ? h("span", { class: "badge ok" }, "active") : null,
      s.regionDown ? h("span", { class: "badge bad" }, "region down") : null,
    ),
    h(
      "div",
      { class: "efs" },
      h("h4", {}, "EFS ", fs ? h("code", {}, fs.id) : "missing"),
      fs
        ? h(
            "div",
            { class: "muted" },
            `${fs.lifeCycleState}, overwrite protection ${fs.overwriteProtection}, ${fs.writable ? "writable" : "read-only (replica)"}`,
          )
        : null,
      tree(s.tree),
    ),
    h(
      "div",
      { class: "cluster" },
      h(
        "h4",
        {},
        "Cluster ",
        h("code", {}, s.cluster.name),
        s.cluster.answering ? null : h("span", { class: "badge bad" }, "not answering"),
      ),
      objects(s.cluster),
    ),
  );
}

/** @param {{ entries: { path: string, kind: string, size: number }[], more: number }} t */
function tree(t) {
  if (t.entries.length === 0) return h("div", { class: "tree muted" }, "(empty)");
  return h(
    "ul",
    { class: "tree" },
    t.entries.map((e) => {
      const depth = e.path.split("/").length - 1;
      const name = e.path.split("/").pop();
      return h(
        "li",
        { style: { paddingLeft: `${depth * 12}px` }, class: e.kind, dataset: { path: e.path } },
        e.kind === "directory" ? `${name}/` : name,
        e.kind === "file" ? h("span", { class: "muted" }, ` ${e.size} B`) : null,
      );
    }),
    t.more > 0 ? h("li", { class: "muted" }, `…and at least ${t.more} more`) : null,
  );
}

/** @param {any} cluster */
function objects(cluster) {
  if (cluster.pvs.length === 0 && cluster.pvcs.length === 0)
    return h("div", { class: "muted" }, "No PVs or PVCs.");
  const phase = (/** @type {string} */ p) =>
    h(
      "span",
      { class: `phase ${p === "Bound" ? "ok" : p === "Pending" || p === "Available" ? "warn" : "bad"}` },
      p || "—",
    );
  return h(
    "table",
    { class: "objects" },
    h(
      "thead",
      {},
      h("tr", {}, h("th", {}, "kind"), h("th", {}, "name"), h("th", {}, "phase"), h("th", {}, "bound to")),
    ),
    h(
      "tbody",
      {},
      cluster.pvs.map((/** @type {any} */ pv) =>
        h(
          "tr",
          { dataset: { kind: "PersistentVolume", name: pv.name } },
          h("td", {}, "PV"),
          h("td", { title: `${pv.capacity} on ${pv.server}` }, pv.name),
          h("td", {}, phase(pv.phase)),
          h("td", {}, pv.claim),
        ),
      ),
      cluster.pvcs.map((/** @type {any} */ pvc) =>
        h(
          "tr",
          { dataset: { kind: "PersistentVolumeClaim", name: `${pvc.namespace}/${pvc.name}` } },
          h("td", {}, "PVC"),
          h("td", { title: pvc.capacity }, `${pvc.namespace}/${pvc.name}`),
          h("td", {}, phase(pvc.phase)),
          h("td", {}, pvc.volume),
        ),
      ),
    ),
  );
}

/** @param {any[]} commits @param {WorldHandlers} handlers */
function git(commits, handlers) {
  return h(
    "section",
    { class: "panel git", "aria-label": "Git log" },
    h("h3", {}, "Git ", h("code", {}, "acme/dr-volumes"), " main"),
    h(
      "ol",
      { class: "commits" },
      commits.map((c) => {
        const diff = h("pre", { class: "diff", hidden: !openCommits.has(c.sha) });
        if (openCommits.has(c.sha)) handlers.onCommit(c.sha, diff);
        return h(
          "li",
          { dataset: { sha: c.sha } },
          h(
            "button",
            {
              type: "button",
              class: "commit",
              "aria-expanded": String(openCommits.has(c.sha)),
              onclick: (/** @type {Event} */ ev) => {
                const open = !openCommits.has(c.sha);
                if (open) openCommits.add(c.sha);
                else openCommits.delete(c.sha);
                /** @type {HTMLElement} */ (ev.currentTarget).setAttribute("aria-expanded", String(open));
                diff.hidden = !open;
                if (open) handlers.onCommit(c.sha, diff);
              },
            },
            h("code", {}, c.sha.slice(0, 7)),
            " ",
            c.subject,
          ),
          h("div", { class: "muted" }, `${c.author}, ${clockTime(c.at)}`),
          diff,
        );
      }),
    ),
  );
}
