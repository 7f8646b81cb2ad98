// The console page: pick who you are, type /volume and /dr commands, click buttons, fill in
// modals; the channel and the world beside it arrive as Server-Sent Events and are redrawn in
// place (a status card keeps its element while its steps run). Every refusal is shown.

import { renderBlocks, renderInput, renderText } from "./blocks.js";
import { clockTime, h, replaceChildren } from "./dom.js";
import { renderMrkdwn } from "./mrkdwn.js";
import { renderWorld, tickLag } from "./world.js";

/** @typedef {{ id: string, name: string, realName: string, role: string }} Person */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

const state = {
  /** @type {Person[]} */ people: [],
  /** @type {Person | null} */ me: null,
  /** @type {any} */ channel: null,
  /** @type {EventSource | null} */ events: null,
  /** @type {string | null} */ thread: null,
  /** @type {Set<string>} */ dismissed: new Set(),
  /** @type {Map<string, { el: HTMLElement, key: string }>} */ rendered: new Map(),
};

/** Names for mrkdwn mentions, from the people list. */
const names = {
  user: (/** @type {string} */ id) =>
    state.people.find((p) => p.id === id)?.realName ?? (id === state.channel?.bot.id ? "drbot" : undefined),
  channel: (/** @type {string} */ id) =>
    id === state.channel?.channel.id ? state.channel.channel.name : undefined,
};

async function main() {
  const res = await fetch("/api/people");
  state.people = (await res.json()).people;
  const saved = localStorage.getItem("drbot-sandbox-me");
  renderPeople();
  pickPerson(state.people.find((p) => p.id === saved) ?? /** @type {Person} */ (state.people[0]));
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void send();
  });
  for (const chip of document.querySelectorAll("[data-insert]"))
    chip.addEventListener("click", () => {
      const box = /** @type {HTMLInputElement} */ ($("message-box"));
      box.value = /** @type {HTMLElement} */ (chip).dataset.insert ?? "";
      box.focus();
    });
  $("notice-close").addEventListener("click", () => {
    $("notice").hidden = true;
  });
  $("messages").addEventListener("click", openCommitLinks);
  $("thread").addEventListener("click", openCommitLinks);
  setInterval(tickLag, 1000);
}

// ---- who am I ------------------------------------------------------------------------------

function renderPeople() {
  replaceChildren(
    $("people"),
    state.people.map((p) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "person",
            dataset: { person: p.id },
            "aria-pressed": String(state.me?.id === p.id),
            onclick: () => pickPerson(p),
          },
          h("span", { class: "avatar small" }, p.realName.slice(0, 1)),
          h("span", { class: "person-name" }, p.realName),
          h("span", { class: "person-role" }, p.role),
        ),
      ),
    ),
  );
}

/** @param {Person} person */
function pickPerson(person) {
  state.me = person;
  localStorage.setItem("drbot-sandbox-me", person.id);
  renderPeople();
  $("me").textContent = person.realName;
  state.rendered.clear();
  state.dismissed.clear();
  $("messages").replaceChildren();
  $("modal-root").replaceChildren();
  state.events?.close();
  connect(person);
}

/** @param {Person} person */
function connect(person) {
  const connection = $("connection");
  connection.textContent = "connecting…";
  connection.className = "connection";
  const events = new EventSource(`/api/events?as=${encodeURIComponent(person.id)}`);
  state.events = events;
  events.addEventListener("open", () => {
    connection.textContent = "live";
    connection.className = "connection live";
  });
  events.addEventListener("error", () => {
    connection.textContent = "disconnected — reconnecting…";
    connection.className = "connection down";
  });
  events.addEventListener("channel", (ev) => {
    if (state.events !== events) return;
    state.channel = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    renderChannel();
  });
  events.addEventListener("problem", (ev) => {
    showNotice(new Error(JSON.parse(/** @type {MessageEvent} */ (ev).data).message));
  });
  events.addEventListener("world", (ev) => {
    renderWorld($("world"), JSON.parse(/** @type {MessageEvent} */ (ev).data), {
      onControl: (action) => void control(action),
      onCommit: (sha, into) => void showCommit(sha, into),
    });
  });
}

// ---- the channel ---------------------------------------------------------------------------

function renderChannel() {
  const ch = state.channel;
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  /** @type {Array<{ at: number, key: string, make: () => HTMLElement }>} */
  const items = ch.messages.map((/** @type {any} */ m) => ({
    at: tsMillis(m.ts),
    key: `m:${m.ts}`,
    sig: JSON.stringify([m.version, m.text, m.blocks, m.replies.length]),
    make: () => messageElement(m, true),
  }));
  for (const e of ch.ephemerals) {
    if (e.threadTs || state.dismissed.has(e.id)) continue;
    items.push({ at: e.at, key: `e:${e.id}`, sig: "", make: () => ephemeralElement(e) });
  }
  items.sort((a, b) => a.at - b.at);
  const els = items.map((/** @type {any} */ item) => {
    const known = state.rendered.get(item.key);
    if (known && known.key === item.sig) return known.el;
    const fresh = item.make();
    if (known) {
      // The same message, updated: its element stays, its content is redrawn.
      known.el.replaceChildren(...fresh.childNodes);
      for (const [k, v] of Object.entries(fresh.dataset)) known.el.dataset[k] = v;
      known.key = item.sig;
      return known.el;
    }
    state.rendered.set(item.key, { el: fresh, key: item.sig });
    return fresh;
  });
  list.replaceChildren(...els);
  if (ch.messages.length === 0 && els.length === 0)
    list.append(
      h(
        "div",
        { class: "empty" },
        "Nothing here yet. Try ",
        h("code", {}, "/volume create"),
        " (a form) or ",
        h("code", {}, "/dr status"),
        ".",
      ),
    );
  if (atBottom) list.scrollTop = list.scrollHeight;
  renderThread();
  renderModal();
}

/** @param {any} m @param {boolean} inChannel */
function messageElement(m, inChannel) {
  const isBot = m.user === state.channel.bot.id;
  const author = isBot ? "drbot" : (names.user(m.user) ?? m.user);
  return h(
    "div",
    { class: "message", dataset: { ts: m.ts, version: String(m.version), user: m.user } },
    h("div", { class: `avatar${isBot ? " bot" : ""}` }, isBot ? "🤖" : author.slice(0, 1)),
    h(
      "div",
      { class: "content" },
      h(
        "div",
        { class: "meta" },
        h("span", { class: "author" }, author),
        isBot ? h("span", { class: "app-badge" }, "APP") : null,
        h("time", {}, clockTime(tsMillis(m.ts))),
      ),
      body(m),
      inChannel && m.replies.length > 0
        ? h(
            "button",
            { type: "button", class: "replies", onclick: () => openThread(m.ts) },
            `${m.replies.length} repl${m.replies.length === 1 ? "y" : "ies"}`,
          )
        : null,
    ),
  );
}

/** @param {any} e */
function ephemeralElement(e) {
  const fromSlack = e.from === "slackbot";
  return h(
    "div",
    { class: "message ephemeral", dataset: { ephemeral: e.id } },
    h("div", { class: `avatar${fromSlack ? " slackbot" : " bot"}` }, fromSlack ? "💬" : "🤖"),
    h(
      "div",
      { class: "content" },
      h(
        "div",
        { class: "meta" },
        h("span", { class: "author" }, fromSlack ? "Slackbot" : "drbot"),
        fromSlack ? null : h("span", { class: "app-badge" }, "APP"),
        h("time", {}, clockTime(e.at)),
      ),
      body(e),
      h(
        "div",
        { class: "only-you" },
        "👁 Only visible to you · ",
        h(
          "button",
          {
            type: "button",
            class: "link",
            onclick: () => {
              state.dismissed.add(e.id);
              renderChannel();
            },
          },
          "Dismiss",
        ),
      ),
    ),
  );
}

/** Blocks when there are any (Slack then shows them, not the text), else the text as mrkdwn. */
function body(/** @type {any} */ m) {
  if (Array.isArray(m.blocks) && m.blocks.length > 0)
    return renderBlocks(m.blocks, names, { onButton: (button, blockId) => onButton(m, button, blockId) });
  return h("div", { class: "mrkdwn" }, renderMrkdwn(m.text ?? "", names));
}

/** @param {string} ts */
function openThread(ts) {
  state.thread = ts;
  renderThread();
}

function renderThread() {
  const pane = $("thread");
  const parent =
    state.thread && state.channel?.messages.find((/** @type {any} */ m) => m.ts === state.thread);
  if (!parent) {
    pane.hidden = true;
    return;
  }
  pane.hidden = false;
  const ephemerals = state.channel.ephemerals.filter(
    (/** @type {any} */ e) => e.threadTs === parent.ts && !state.dismissed.has(e.id),
  );
  replaceChildren(
    pane,
    h(
      "header",
      { class: "thread-header" },
      h("h2", {}, "Thread"),
      h(
        "button",
        {
          type: "button",
          class: "close",
          "aria-label": "Close thread",
          onclick: () => {
            state.thread = null;
            renderThread();
          },
        },
        "×",
      ),
    ),
    h(
      "div",
      { class: "thread-body" },
      messageElement(parent, false),
      h(
        "div",
        { class: "reply-count" },
        `${parent.replies.length} repl${parent.replies.length === 1 ? "y" : "ies"}`,
      ),
      parent.replies.map((/** @type {any} */ r) => messageElement(r, false)),
      ephemerals.map(ephemeralElement),
    ),
  );
}

/** @param {any} message @param {Record<string, any>} button @param {string | undefined} _blockId */
function onButton(message, button, _blockId) {
  const click = () =>
    api("/api/click", {
      ts: message.ts,
      actionId: button.action_id,
      ...(button.value === undefined ? {} : { value: button.value }),
    }).catch(showNotice);
  if (button.confirm) confirmDialog(button.confirm, click);
  else void click();
}

/** Slack's confirm dialog: title, text, confirm and deny buttons. @param {any} confirm @param {() => unknown} proceed */
function confirmDialog(confirm, proceed) {
  const close = () => dialog.remove();
  const dialog = h(
    "div",
    {
      class: "overlay",
      role: "dialog",
      "aria-modal": "true",
      "aria-label": confirm.title?.text ?? "Are you sure?",
    },
    h(
      "div",
      { class: "dialog confirm" },
      h("h2", {}, renderText(confirm.title ?? { type: "plain_text", text: "Are you sure?" }, names)),
      h("div", { class: "mrkdwn" }, renderText(confirm.text, names)),
      h(
        "div",
        { class: "dialog-buttons" },
        h(
          "button",
          { type: "button", class: "slack-button", onclick: close },
          confirm.deny?.text ?? "Cancel",
        ),
        h(
          "button",
          {
            type: "button",
            class: `slack-button ${confirm.style === "danger" ? "danger" : "primary"}`,
            onclick: () => {
              close();
              proceed();
            },
          },
          confirm.confirm?.text ?? "Yes",
        ),
      ),
    ),
  );
  document.body.append(dialog);
  /** @type {HTMLElement | null} */ (
    dialog.querySelector(".dialog-buttons .primary, .dialog-buttons .danger")
  )?.focus();
}

// ---- modals --------------------------------------------------------------------------------

function renderModal() {
  const root = $("modal-root");
  const modal = state.channel.modals.at(-1);
  const shown = /** @type {HTMLElement | null} */ (root.firstElementChild);
  if (!modal) {
    root.replaceChildren();
    return;
  }
  if (shown && shown.dataset.view === modal.id) {
    // Keep what the person typed; show the new errors beside the fields.
    for (const block of shown.querySelectorAll("[data-block-id]")) {
      const el = /** @type {HTMLElement} */ (block);
      const error = modal.errors[el.dataset.blockId ?? ""];
      el.classList.toggle("has-error", Boolean(error));
      el.querySelector(".input-error")?.remove();
      if (error)
        el.querySelector("input, select, textarea")?.after(
          h("div", { class: "input-error", role: "alert" }, error),
        );
    }
    const problem = shown.querySelector(".modal-problem");
    if (problem) {
      problem.textContent = modal.problem ?? "";
      /** @type {HTMLElement} */ (problem).hidden = !modal.problem;
    }
    return;
  }
  const view = modal.view;
  const form = h(
    "form",
    {
      class: "dialog modal",
      novalidate: true,
      onsubmit: (/** @type {Event} */ ev) => {
        ev.preventDefault();
        void submitModal(modal.id, /** @type {HTMLFormElement} */ (ev.currentTarget));
      },
    },
    h(
      "header",
      {},
      h("h2", {}, renderText(view.title, names)),
      h(
        "button",
        { type: "button", class: "close", "aria-label": "Close", onclick: () => void closeModal(modal.id) },
        "×",
      ),
    ),
    h("div", { class: "modal-problem", role: "alert", hidden: !modal.problem }, modal.problem ?? ""),
    h(
      "div",
      { class: "modal-body" },
      (view.blocks ?? []).map((/** @type {any} */ b) =>
        b.type === "input"
          ? renderInput(b, modal.errors[b.block_id], names)
          : renderBlocks([b], names, { onButton: () => {} }),
      ),
    ),
    h(
      "footer",
      {},
      h(
        "button",
        { type: "button", class: "slack-button", onclick: () => void closeModal(modal.id) },
        view.close?.text ?? "Cancel",
      ),
      h("button", { type: "submit", class: "slack-button primary" }, view.submit?.text ?? "Submit"),
    ),
  );
  root.replaceChildren(
    h("div", { class: "overlay", role: "dialog", "aria-modal": "true", dataset: { view: modal.id } }, form),
  );
  /** @type {HTMLElement | null} */ (form.querySelector("input, select"))?.focus();
}

/** @param {string} viewId @param {HTMLFormElement} form */
async function submitModal(viewId, form) {
  /** @type {Record<string, string>} */
  const values = {};
  for (const field of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    const f = /** @type {HTMLInputElement} */ (field);
    values[f.name] = f.value;
  }
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  button.disabled = true;
  try {
    await api("/api/view/submit", { viewId, values });
  } catch (err) {
    showNotice(err);
  } finally {
    button.disabled = false;
  }
}

/** @param {string} viewId */
async function closeModal(viewId) {
  await api("/api/view/close", { viewId }).catch(showNotice);
}

// ---- sending -------------------------------------------------------------------------------

async function send() {
  const box = /** @type {HTMLInputElement} */ ($("message-box"));
  const text = box.value;
  if (!text.trim()) return;
  box.disabled = true;
  try {
    await api("/api/command", { text });
    box.value = "";
    $("notice").hidden = true;
  } catch (err) {
    showNotice(err);
  } finally {
    box.disabled = false;
    box.focus();
  }
}

/** @param {string} action */
async function control(action) {
  await api("/api/controls", { action }).catch(showNotice);
}

/** Commits never change: each diff is fetched once, and redrawn panels show it at once. */
const diffs = new Map();

/** @param {string} sha @param {HTMLElement} into */
async function showCommit(sha, into) {
  const known = diffs.get(sha);
  if (known !== undefined) {
    into.textContent = known;
    return;
  }
  into.textContent = "loading…";
  const res = await fetch(`/api/git/commit?sha=${encodeURIComponent(sha)}`);
  const text = await res.text();
  if (res.ok) diffs.set(sha, text);
  // The panel may have been redrawn meanwhile: fill the diff that is on the page now.
  const current = document.querySelector(`.commits li[data-sha="${sha}"] pre.diff`) ?? into;
  current.textContent = res.ok ? text : `The commit could not be shown: ${text}`;
}

/** A commit link on a card (the GitHub stand-in's address) opens the commit in the Git panel. */
function openCommitLinks(/** @type {Event} */ ev) {
  const link = /** @type {HTMLElement} */ (ev.target).closest("a");
  const sha = link && /\/commit\/([0-9a-f]{40})$/.exec(link.getAttribute("href") ?? "")?.[1];
  if (!sha) return;
  ev.preventDefault();
  const item = document.querySelector(`.commits li[data-sha="${sha}"] button.commit`);
  if (!item) return showNotice(new Error("That commit is not among the newest ones in the Git panel."));
  if (item.getAttribute("aria-expanded") !== "true") /** @type {HTMLElement} */ (item).click();
  item.scrollIntoView({ block: "start" });
}

/** @param {string} path @param {Record<string, unknown>} body */
async function api(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ as: state.me?.id, ...body }),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error ?? `The console answered HTTP ${res.status}.`);
  return data;
}

/** @param {unknown} err */
function showNotice(err) {
  $("notice-text").textContent = err instanceof Error ? err.message : String(err);
  $("notice").hidden = false;
}

/** @param {string} ts */
function tsMillis(ts) {
  const [s = "0", us = "0"] = ts.split(".");
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

main().catch((err) => {
  showNotice(new Error(`The console could not start: ${err instanceof Error ? err.message : String(err)}`));
});
