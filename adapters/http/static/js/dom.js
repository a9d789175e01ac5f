// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML.

import { formatInstant } from "./time.js";

/** h("td", {class: "num", dataset: {test: "x"}}, child, "text", …) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** An instant as the desk shows every time: at +08:00 (Asia/Shanghai), to the millisecond, with
 * its UTC in the title and the API's text in datetime ("2017-02-28T08:46:30.123456Z" →
 * "2017-02-28 16:46:30.123 +08:00", title "2017-02-28 08:46:30.123456 UTC"). */
export function instant(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const shown = formatInstant(iso);
  if (!shown) return h("time", { datetime: iso, title: iso }, iso);
  return h("time", { datetime: iso, title: shown.title }, shown.text, h("span", { class: "offset" }, ` ${shown.zone}`));
}

export function shortHash(hash, length = 12) {
  if (!hash) return h("span", { class: "muted" }, "—");
  return h("code", { class: "hash", title: hash }, hash.slice(0, length));
}

const STATUS_TONE = {
  submitted: "info", returned: "warn", city_verified: "info", recommended: "info",
  evaluated: "info", approved: "good", rejected: "bad", withdrawn: "muted", lapsed: "bad",
  on_time: "good", pending: "info", lapsed_outcome: "bad", reinstated: "warn", not_applicable: "muted",
};

/** A coloured label for a status or a deadline outcome. */
export function badge(value, kind = "status") {
  if (value === undefined || value === null || value === "") return h("span", { class: "muted" }, "—");
  const key = kind === "outcome" && value === "lapsed" ? "lapsed_outcome" : value;
  const tone = STATUS_TONE[key] || "info";
  return h("span", { class: `badge badge--${tone}`, dataset: { value } }, String(value).replace(/_/g, " "));
}

export function number(value, digits = null) {
  if (value === undefined || value === null) return h("span", { class: "muted" }, "—");
  return digits === null ? String(value) : Number(value).toFixed(digits);
}

/** One term of a <dl class="facts">. */
export function fact(label, value, test) {
  return h("div", { "data-test": test }, h("dt", {}, label), h("dd", {}, value));
}

/** A jurisdiction's English name from its code (the code itself when unknown). */
export function cityName(settings, code) {
  const jurisdiction = settings.jurisdictions.find((j) => j.code === code);
  return jurisdiction ? jurisdiction.name : code;
}
