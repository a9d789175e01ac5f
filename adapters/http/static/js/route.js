// The timeline's address: "#/app/CALL/REF?as_of=…&known_at=…&version=…" names one application
// at one point of its history, so that the address bar is always a link to what is on screen.
// CALL and REF are percent-encoded path segments (a ref may hold "/"); the point's times are ISO
// 8601 at +08:00 (a time without an offset is read at +08:00, a date alone as the end of it).
// Other hashes ("#panel-audit", the panels' anchors) are not routes.

import { readPoint } from "./time.js";

const PREFIX = "#/app/";

/** Whether a hash is one of the timeline's routes (well-formed or not). */
export function isRoute(hash) {
  return typeof hash === "string" && (hash === "#/app" || hash.startsWith(PREFIX));
}

/**
 * A hash → null (not a route), or {callId, ref, point: {as_of, known_at, version}, errors}:
 * errors lists what the link got wrong, in words; {error} alone when it names no application.
 */
export function parseRoute(hash) {
  if (!isRoute(hash)) return null;
  const rest = hash.slice(PREFIX.length);
  const cut = rest.indexOf("?");
  const pathPart = cut < 0 ? rest : rest.slice(0, cut);
  const query = cut < 0 ? "" : rest.slice(cut + 1);
  let segments;
  try {
    segments = pathPart.split("/").map((s) => decodeURIComponent(s));
  } catch {
    return { error: "This link's address is not valid percent-encoded text." };
  }
  const [callId, ...refParts] = segments;
  const ref = refParts.join("/");
  if (!callId || !ref) {
    return { error: "This link does not name an application: it should read #/app/CALL/REF, e.g. #/app/GD-ITOWN-2017-B2/GZ-2017-001." };
  }
  const params = new URLSearchParams(query);
  const point = { as_of: "", known_at: "", version: "" };
  const errors = [];
  for (const [name, label] of [["as_of", "as_of (business time)"], ["known_at", "known_at (record time)"]]) {
    if (!params.has(name)) continue;
    const read = readPoint(params.get(name));
    if (read.error) errors.push(`${label}: ${read.error}`);
    else point[name] = read.iso;
  }
  if (params.has("version")) {
    const text = params.get("version").trim();
    if (/^[1-9]\d{0,8}$/.test(text)) point.version = text;
    else errors.push(`version: "${text}" is not a whole number from 1`);
  }
  const unknown = [...new Set([...params.keys()].filter((k) => !["as_of", "known_at", "version"].includes(k)))];
  if (unknown.length) errors.push(`${unknown.join(", ")}: not a part of a point (as_of, known_at, version)`);
  return { callId, ref, point, errors };
}

// ":" and "@" are left readable; "+" must be encoded (a query reads it as a space).
const encodeValue = (value) => encodeURIComponent(value).replace(/%3A/gi, ":");

/** The hash of an application at a point (only the parts of the point that are set). */
export function routeHash(callId, ref, point = {}) {
  const parts = [];
  for (const name of ["as_of", "known_at", "version"]) {
    if (point[name]) parts.push(`${name}=${encodeValue(String(point[name]))}`);
  }
  const path = `${PREFIX}${encodeURIComponent(callId)}/${encodeURIComponent(ref)}`;
  return parts.length ? `${path}?${parts.join("&")}` : path;
}

/** The page's address with that hash: the link to share. */
export function routeLink(hash) {
  return `${window.location.origin}${window.location.pathname}${window.location.search}${hash}`;
}

/** Puts a hash in the address bar without a hashchange: push for another application (so Back
 * returns to the one before), replace for another point of the same one. */
export function showRoute(hash, push = false) {
  if (window.location.hash === hash) return;
  const url = `${window.location.pathname}${window.location.search}${hash}`;
  if (push) window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
}

/** Takes a route off the address bar (the application is closed). */
export function clearRoute() {
  if (!isRoute(window.location.hash)) return;
  window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}`);
}
