// Block Kit limits as Slack enforces them, for the blocks drbot sends (sections, headers,
// context, actions with buttons and confirm dialogs, dividers, input blocks, selects, text
// inputs). A message or view that breaks one is refused with `invalid_blocks` (messages) or
// `invalid_arguments` (views), each problem worded as Slack words it, with a JSON pointer:
// `must be less than 3001 characters [json-pointer:/blocks/0/text/text]`.

/** Slack's own numbers (Block Kit reference). */
export const BLOCK_LIMITS = {
  messageBlocks: 50,
  viewBlocks: 100,
  /** chat.postMessage/update: a message's top-level text. */
  messageText: 40_000,
  sectionText: 3_000,
  sectionFields: 10,
  sectionFieldText: 2_000,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2_000,
  actionId: 255,
  blockId: 255,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  inputLabel: 2_000,
  inputHint: 2_000,
  placeholder: 150,
  selectOptions: 100,
  optionText: 75,
  optionValue: 150,
  viewTitle: 24,
  viewButton: 24,
} as const;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

class Problems {
  readonly list: string[] = [];
  add(message: string, pointer: string): void {
    this.list.push(`${message} [json-pointer:${pointer}]`);
  }
  /** A string no longer than `max`, as Slack counts it (UTF-16 code units). */
  length(value: unknown, max: number, pointer: string): void {
    if (typeof value === "string" && value.length > max)
      this.add(`must be less than ${max + 1} characters`, pointer);
  }
  items(value: unknown, max: number, pointer: string): void {
    if (Array.isArray(value) && value.length > max) this.add(`no more than ${max} items allowed`, pointer);
  }
  /** A text object: plain_text or mrkdwn, non-empty text within `max`. */
  text(value: unknown, max: number, pointer: string, plainOnly = false): void {
    if (value === undefined) return;
    if (!isObject(value) || typeof value.text !== "string") {
      this.add("must provide an object", pointer);
      return;
    }
    if (value.type !== "plain_text" && (plainOnly || value.type !== "mrkdwn"))
      this.add(`must be ${plainOnly ? "plain_text" : "one of plain_text, mrkdwn"}`, `${pointer}/type`);
    if (value.text.length === 0) this.add("must be more than 0 characters", `${pointer}/text`);
    this.length(value.text, max, `${pointer}/text`);
  }
}

/** What Slack would refuse in these blocks; empty when it would accept them. */
export function blockKitProblems(blocks: unknown[], surface: "message" | "view"): string[] {
  const p = new Problems();
  p.items(blocks, surface === "message" ? BLOCK_LIMITS.messageBlocks : BLOCK_LIMITS.viewBlocks, "/blocks");
  blocks.forEach((block, i) => {
    const at = `/blocks/${i}`;
    if (!isObject(block) || typeof block.type !== "string") {
      p.add("must provide an object with a type", at);
      return;
    }
    p.length(block.block_id, BLOCK_LIMITS.blockId, `${at}/block_id`);
    switch (block.type) {
      case "section":
        if (block.text === undefined && block.fields === undefined)
          p.add("must contain either text or fields", at);
        p.text(block.text, BLOCK_LIMITS.sectionText, `${at}/text`);
        p.items(block.fields, BLOCK_LIMITS.sectionFields, `${at}/fields`);
        if (Array.isArray(block.fields))
          for (const [j, f] of block.fields.entries())
            p.text(f, BLOCK_LIMITS.sectionFieldText, `${at}/fields/${j}`);
        if (block.accessory !== undefined) element(p, block.accessory, `${at}/accessory`);
        break;
      case "header":
        if (block.text === undefined) p.add("must provide text", at);
        p.text(block.text, BLOCK_LIMITS.headerText, `${at}/text`, true);
        break;
      case "context":
        if (!Array.isArray(block.elements) || block.elements.length === 0) p.add("must provide elements", at);
        p.items(block.elements, BLOCK_LIMITS.contextElements, `${at}/elements`);
        if (Array.isArray(block.elements))
          block.elements.forEach((e, j) => {
            if (isObject(e) && (e.type === "plain_text" || e.type === "mrkdwn"))
              p.text(e, BLOCK_LIMITS.sectionText, `${at}/elements/${j}`);
          });
        break;
      case "actions":
        if (!Array.isArray(block.elements) || block.elements.length === 0) p.add("must provide elements", at);
        p.items(block.elements, BLOCK_LIMITS.actionsElements, `${at}/elements`);
        if (Array.isArray(block.elements))
          for (const [j, e] of block.elements.entries()) element(p, e, `${at}/elements/${j}`);
        break;
      case "input":
        p.text(block.label, BLOCK_LIMITS.inputLabel, `${at}/label`, true);
        p.text(block.hint, BLOCK_LIMITS.inputHint, `${at}/hint`, true);
        if (block.element === undefined) p.add("must provide an element", at);
        else element(p, block.element, `${at}/element`);
        break;
      default:
        // divider, image, rich_text, …: accepted as they are.
        break;
    }
  });
  return p.list;
}

/** Modal views: the blocks, and title/submit/close no longer than Slack allows. */
export function viewProblems(view: Json): string[] {
  const p = new Problems();
  p.text(view.title, BLOCK_LIMITS.viewTitle, "/view/title", true);
  p.text(view.submit, BLOCK_LIMITS.viewButton, "/view/submit", true);
  p.text(view.close, BLOCK_LIMITS.viewButton, "/view/close", true);
  const blocks = Array.isArray(view.blocks) ? view.blocks : [];
  return [
    ...p.list,
    ...blockKitProblems(blocks, "view").map((m) =>
      m.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks"),
    ),
  ];
}

/** Interactive elements: buttons (with confirm dialogs), selects, text inputs. */
function element(p: Problems, value: unknown, at: string): void {
  if (!isObject(value) || typeof value.type !== "string") {
    p.add("must provide an object with a type", at);
    return;
  }
  p.length(value.action_id, BLOCK_LIMITS.actionId, `${at}/action_id`);
  p.text(value.placeholder, BLOCK_LIMITS.placeholder, `${at}/placeholder`, true);
  if (value.type === "button") {
    if (value.text === undefined) p.add("must provide text", at);
    p.text(value.text, BLOCK_LIMITS.buttonText, `${at}/text`, true);
    p.length(value.value, BLOCK_LIMITS.buttonValue, `${at}/value`);
  }
  if (value.type === "static_select") {
    p.items(value.options, BLOCK_LIMITS.selectOptions, `${at}/options`);
    if (Array.isArray(value.options))
      value.options.forEach((o, j) => {
        p.text(isObject(o) ? o.text : undefined, BLOCK_LIMITS.optionText, `${at}/options/${j}/text`);
        p.length(isObject(o) ? o.value : undefined, BLOCK_LIMITS.optionValue, `${at}/options/${j}/value`);
      });
  }
  if (isObject(value.confirm)) {
    const c = value.confirm;
    const cat = `${at}/confirm`;
    p.text(c.title, BLOCK_LIMITS.confirmTitle, `${cat}/title`, true);
    p.text(c.text, BLOCK_LIMITS.confirmText, `${cat}/text`);
    p.text(c.confirm, BLOCK_LIMITS.confirmButton, `${cat}/confirm`, true);
    p.text(c.deny, BLOCK_LIMITS.confirmButton, `${cat}/deny`, true);
  }
}
