// Times on the desk: every instant is shown in the call's zone, +08:00 (Asia/Shanghai, which has
// had no daylight saving time since 1991), with its UTC in the title; every time typed in is read
// in that zone unless it names an offset of its own.
//
// Instants from the API are ISO 8601 with an offset and up to microseconds. They are converted by
// arithmetic on the text (whole-minute offsets leave the fraction of a second unchanged), so no
// digit is lost to JavaScript's milliseconds and the browser's own time zone never matters.

export const ZONE = "+08:00";
export const ZONE_NAME = "Asia/Shanghai";
const ZONE_MINUTES = 480;

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|z|[+-]\d{2}:?\d{2})?$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

const pad = (n, width = 2) => String(n).padStart(width, "0");

function offsetOf(text) {
  if (!text || text === "Z" || text === "z") return 0;
  const match = /^([+-])(\d{2}):?(\d{2})$/.exec(text);
  if (!match || Number(match[2]) > 23 || Number(match[3]) > 59) return null;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === "-" ? -minutes : minutes;
}

/** The wall-clock fields of epoch milliseconds at an offset (minutes east of UTC). */
function wall(ms, minutes) {
  const d = new Date(ms + minutes * 60000);
  return {
    date: `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
    time: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  };
}

/** Parses fields into {ms (whole seconds, epoch), fraction (".123456" or "")}; null if invalid. */
function fromFields(year, month, day, hour, minute, second, fraction, offsetMinutes) {
  const [y, mo, d, hh, mi, ss] = [year, month, day, hour, minute, second].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mi > 59 || ss > 59) return null;
  const local = Date.UTC(y, mo - 1, d, hh, mi, ss);
  const check = new Date(local);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return null;
  return { ms: local - offsetMinutes * 60000, fraction: fraction || "" };
}

/** An ISO instant → {ms, fraction, zone: "+08:00" wall text, utc: UTC text}; null when unreadable. */
export function parseInstant(iso) {
  const match = ISO.exec(String(iso || "").trim());
  if (!match) return null;
  const [, y, mo, d, hh, mi, ss = "00", fraction, offset] = match;
  const minutes = offset === undefined ? ZONE_MINUTES : offsetOf(offset);
  if (minutes === null) return null;
  const parsed = fromFields(y, mo, d, hh, mi, ss, fraction, minutes);
  if (!parsed) return null;
  const local = wall(parsed.ms, ZONE_MINUTES);
  const utc = wall(parsed.ms, 0);
  return {
    ...parsed,
    date: local.date,
    time: local.time,
    // the canonical text at +08:00, as links and the API take it
    iso: `${local.date}T${local.time}${parsed.fraction}${ZONE}`,
    utc: `${utc.date} ${utc.time}${parsed.fraction} UTC`,
  };
}

/** "2017-02-28T08:46:30.123456Z" → {text: "2017-02-28 16:46:30.123", zone: "+08:00", title}. */
export function formatInstant(iso) {
  const parsed = parseInstant(iso);
  if (!parsed) return null;
  const ms = parsed.fraction ? parsed.fraction.slice(0, 4) : "";
  return {
    text: `${parsed.date} ${parsed.time}${ms}`,
    zone: ZONE,
    title: parsed.utc,
    iso: parsed.iso,
  };
}

/**
 * What a person typed as a point → {iso} at +08:00 or {error}. Takes YYYY-MM-DD (the end of that
 * day), YYYY-MM-DDTHH:MM, with seconds and a fraction if wanted, a space for the T, and an offset
 * of its own (Z, +00:00) if given; an empty text is {iso: ""} (no point).
 */
export function readPoint(text) {
  const value = String(text || "").trim()
    // an unencoded "+" in a link's query arrives as a space: "…T09:30:00 08:00"
    .replace(/(\d) (\d{2}:?\d{2})$/, "$1+$2");
  if (!value) return { iso: "" };
  const day = DATE_ONLY.exec(value);
  if (day) {
    const parsed = fromFields(day[1], day[2], day[3], 23, 59, 59, ".999999", ZONE_MINUTES);
    if (!parsed) return { error: `${value} is not a date of the calendar` };
    return { iso: `${value}T23:59:59.999999${ZONE}`, endOfDay: true };
  }
  const parsed = parseInstant(value);
  if (!parsed) {
    return { error: `"${value}" is not a date and time: write YYYY-MM-DD or YYYY-MM-DDTHH:MM (${ZONE})` };
  }
  return { iso: parsed.iso };
}

/** An instant as text to type back in: "YYYY-MM-DDTHH:MM:SS[.ffffff]" at +08:00. */
export function pointText(iso) {
  const parsed = parseInstant(iso);
  if (!parsed) return "";
  return `${parsed.date}T${parsed.time}${parsed.fraction}`;
}

/** Compares two instants (text); negative, zero or positive, to the microsecond. */
export function compareInstants(a, b) {
  const pa = parseInstant(a);
  const pb = parseInstant(b);
  if (!pa || !pb) return 0;
  if (pa.ms !== pb.ms) return pa.ms - pb.ms;
  const fa = Number(`0${pa.fraction || ".0"}`);
  const fb = Number(`0${pb.fraction || ".0"}`);
  return fa - fb;
}
