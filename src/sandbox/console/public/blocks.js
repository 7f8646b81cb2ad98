// Block Kit as Slack draws it: header, section (text, fields, a button accessory), context,
// divider, actions (buttons, styled, with confirm dialogs), image (as its alt text: the console
// loads nothing from outside) and, in modals, input blocks with their inline errors.

import { h } from "./dom.js";
import { emojify, renderMrkdwn } from "./mrkdwn.js";

/**
 * @typedef {import("./mrkdwn.js").NameContext} NameContext
 * @typedef {{ type: string, text: string, emoji?: boolean, verbatim?: boolean }} TextObject
 * @typedef {{ onButton(button: Record<string, any>, blockId: string | undefined): void }} Handlers
 */

/**
 * A text object: mrkdwn or plain_text (with :emoji: when asked for).
 * @param {TextObject | undefined} t
 * @param {NameContext} ctx
 */
export function renderText(t, ctx) {
  if (!t || typeof t.text !== "string") return document.createTextNode("");
  if (t.type === "mrkdwn") return renderMrkdwn(t.text, ctx);
  return document.createTextNode(t.emoji === false ? t.text : emojify(t.text));
}

/**
 * @param {unknown[]} blocks
 * @param {NameContext} ctx
 * @param {Handlers} handlers
 */
export function renderBlocks(blocks, ctx, handlers) {
  return h(
    "div",
    { class: "blocks" },
    blocks.map((b) => renderBlock(/** @type {Record<string, any>} */ (b), ctx, handlers)),
  );
}

/** @param {Record<string, any>} block @param {NameContext} ctx @param {Handlers} handlers */
function renderBlock(block, ctx, handlers) {
  switch (block.type) {
    case "header":
      return h("div", { class: "block header" }, renderText(block.text, ctx));
    case "divider":
      return h("hr", { class: "block divider" });
    case "context":
      return h(
        "div",
        { class: "block context" },
        (block.elements ?? []).map((/** @type {any} */ e) =>
          e.type === "image"
            ? h("span", { class: "image-alt" }, `[${e.alt_text ?? "image"}]`)
            : h("span", {}, renderText(e, ctx)),
        ),
      );
    case "section":
      return h(
        "div",
        { class: "block section" },
        h(
          "div",
          { class: "section-body" },
          block.text ? h("div", { class: "section-text mrkdwn" }, renderText(block.text, ctx)) : null,
          block.fields
            ? h(
                "div",
                { class: "section-fields" },
                block.fields.map((/** @type {any} */ f) => h("div", { class: "mrkdwn" }, renderText(f, ctx))),
              )
            : null,
        ),
        block.accessory ? renderElement(block.accessory, block.block_id, ctx, handlers) : null,
      );
    case "actions":
      return h(
        "div",
        { class: "block actions" },
        (block.elements ?? []).map((/** @type {any} */ e) => renderElement(e, block.block_id, ctx, handlers)),
      );
    case "image":
      return h("div", { class: "block image-alt" }, `[image: ${block.alt_text ?? ""}]`);
    default:
      return h("div", { class: "block unsupported" }, `[a ${String(block.type)} block]`);
  }
}

/**
 * @param {Record<string, any>} element
 * @param {string | undefined} blockId
 * @param {NameContext} ctx
 * @param {Handlers} handlers
 */
function renderElement(element, blockId, ctx, handlers) {
  if (element.type === "button") {
    return h(
      "button",
      {
        type: "button",
        class: `slack-button ${element.style === "primary" ? "primary" : element.style === "danger" ? "danger" : ""}`,
        dataset: { actionId: String(element.action_id ?? "") },
        onclick: () => handlers.onButton(element, blockId),
      },
      renderText(element.text, ctx),
    );
  }
  if (element.type === "image") return h("span", { class: "image-alt" }, `[${element.alt_text ?? "image"}]`);
  return h("span", { class: "unsupported" }, `[${String(element.type)}]`);
}

/**
 * An input block of a modal: label, field, hint, and the error drbot answered for it.
 * @param {Record<string, any>} block
 * @param {string | undefined} error
 * @param {NameContext} ctx
 */
export function renderInput(block, error, ctx) {
  const element = block.element ?? {};
  const id = `field-${block.block_id}`;
  /** @type {HTMLElement} */
  let field;
  if (element.type === "static_select") {
    field = h(
      "select",
      { id, name: block.block_id },
      h("option", { value: "" }, element.placeholder?.text ?? "Choose"),
      (element.options ?? []).map((/** @type {any} */ o) =>
        h(
          "option",
          { value: o.value, selected: o.value === element.initial_option?.value },
          o.text?.text ?? o.value,
        ),
      ),
    );
  } else if (element.multiline) {
    field = h("textarea", { id, name: block.block_id, maxlength: element.max_length, rows: 3 });
  } else {
    field = h("input", {
      id,
      name: block.block_id,
      type: "text",
      maxlength: element.max_length,
      placeholder: element.placeholder?.text,
      value: element.initial_value,
      autocomplete: "off",
    });
  }
  return h(
    "div",
    { class: `input-block${error ? " has-error" : ""}`, dataset: { blockId: block.block_id } },
    h(
      "label",
      { for: id },
      renderText(block.label, ctx),
      block.optional ? h("span", { class: "optional" }, " (optional)") : null,
    ),
    field,
    error ? h("div", { class: "input-error", role: "alert" }, error) : null,
    block.hint ? h("div", { class: "input-hint" }, renderText(block.hint, ctx)) : null,
  );
}
