// The operators' charts: GET /api/v1/ops/charts (the last hour, a bucket a minute): application
// events recorded (ingest), dead-letterings (refusals) and each read model's lag as sampled.
// Plain SVG drawn here; no library.

import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { Panel } from "./panel.js";
import { formatInstant } from "./time.js";

// SVG's namespace, as the HTML parser gives it to an <svg> element.
const SVG = (() => {
  const template = document.createElement("template");
  template.innerHTML = "<svg></svg>";
  return template.content.firstChild.namespaceURI;
})();
const WIDTH = 360;
const HEIGHT = 110;
const PAD = { left: 34, right: 6, top: 8, bottom: 18 };
const LINE_COLOURS = ["#1f5fa8", "#b42318", "#1e7a46", "#8a5a00", "#6b3fa0", "#2d4f7c"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

function hhmm(iso) {
  const shown = formatInstant(iso);
  return shown ? shown.text.slice(11, 16) : "";
}

/** A chart's frame: axes, the max on the left, the first and last minute below. */
function frame(minutes, max, label) {
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": label });
  const bottom = HEIGHT - PAD.bottom;
  svg.append(
    s("line", { x1: PAD.left, y1: bottom, x2: WIDTH - PAD.right, y2: bottom, class: "axis" }),
    s("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom, class: "axis" }),
    s("text", { x: PAD.left - 4, y: PAD.top + 8, class: "tick", "text-anchor": "end" }, String(max)),
    s("text", { x: PAD.left - 4, y: bottom, class: "tick", "text-anchor": "end" }, "0"),
    s("text", { x: PAD.left, y: HEIGHT - 4, class: "tick" }, hhmm(minutes[0])),
    s("text", { x: WIDTH - PAD.right, y: HEIGHT - 4, class: "tick", "text-anchor": "end" }, `${hhmm(minutes[minutes.length - 1])} +08:00`),
  );
  return svg;
}

function x(i, n) {
  return PAD.left + ((WIDTH - PAD.left - PAD.right) * i) / Math.max(1, n);
}

function y(value, max) {
  const bottom = HEIGHT - PAD.bottom;
  return bottom - ((bottom - PAD.top) * value) / Math.max(1, max);
}

export function barChart(minutes, values, label, tone) {
  const max = Math.max(1, ...values);
  const svg = frame(minutes, max, label);
  const width = Math.max(1, (WIDTH - PAD.left - PAD.right) / values.length - 1);
  values.forEach((value, i) => {
    if (!value) return;
    const top = y(value, max);
    svg.append(s("rect", { x: x(i, values.length), y: top, width, height: HEIGHT - PAD.bottom - top, class: `bar bar--${tone}`, "data-value": value },
      s("title", {}, `${hhmm(minutes[i])} +08:00: ${value}`)));
  });
  return svg;
}

export function lineChart(minutes, series, label) {
  const all = Object.values(series).flat().filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...all);
  const svg = frame(minutes, max, label);
  Object.entries(series).forEach(([name, values], k) => {
    const colour = LINE_COLOURS[k % LINE_COLOURS.length];
    let path = "";
    values.forEach((value, i) => {
      if (value === null || value === undefined) return;
      const cmd = path && values[i - 1] !== null && values[i - 1] !== undefined ? "L" : "M";
      path += `${cmd}${(x(i, values.length) + 2).toFixed(1)},${y(value, max).toFixed(1)} `;
    });
    if (path) svg.append(s("path", { d: path.trim(), class: "line", stroke: colour, "data-name": name }));
    values.forEach((value, i) => {
      if (value === null || value === undefined) return;
      svg.append(s("circle", { cx: x(i, values.length) + 2, cy: y(value, max), r: 1.8, fill: colour },
        s("title", {}, `${name} ${hhmm(minutes[i])} +08:00: lag ${value}`)));
    });
  });
  return svg;
}

export function createCharts() {
  const panel = new Panel("panel-charts");
  const body = document.getElementById("charts-body");

  async function load({ quiet = false } = {}) {
    const current = panel.begin(quiet);
    try {
      const data = await api("/api/v1/ops/charts?minutes=60");
      if (!current()) return;
      render(data);
      panel.ready();
    } catch (error) {
      if (current() && !panel.failOrStale(error, quiet)) clear(body);
    }
  }

  function render(data) {
    const total = (values) => values.reduce((a, b) => a + b, 0);
    const lagNames = Object.keys(data.lag);
    const latest = lagNames.map((name) => {
      const values = data.lag[name].filter((v) => v !== null);
      return [name, values.length ? values[values.length - 1] : null];
    });
    const legend = h("ul", { class: "legend" }, latest.map(([name, value], k) =>
      h("li", {}, h("span", { class: `swatch swatch--${k % LINE_COLOURS.length}` }), `${name}: ${value ?? "—"}`)));
    clear(body).append(h("div", { class: "charts" },
      h("figure", { class: "chart-box", "data-test": "chart-ingest", dataset: { total: String(total(data.ingest)) } },
        h("figcaption", {}, "Ingest: application events recorded per minute ", h("strong", {}, `(${total(data.ingest)} in the hour)`)),
        barChart(data.minutes, data.ingest, "application events recorded per minute", "accent")),
      h("figure", { class: "chart-box", "data-test": "chart-refusals", dataset: { total: String(total(data.refusals)) } },
        h("figcaption", {}, "Refusals: dead-letterings per minute ", h("strong", {}, `(${total(data.refusals)} in the hour)`)),
        barChart(data.minutes, data.refusals, "dead-letterings per minute", "bad")),
      h("figure", { class: "chart-box", "data-test": "chart-lag", dataset: { series: String(lagNames.length) } },
        h("figcaption", {}, "Read models' lag (events behind), sampled each minute"),
        lineChart(data.minutes, data.lag, "read models' lag per minute"), legend),
    ));
  }

  document.getElementById("charts-refresh").addEventListener("click", () => load());
  return { load, refresh: () => load({ quiet: true }), reset: () => { panel.reset(); clear(body); } };
}
