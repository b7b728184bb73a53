/**
 * RFC 5322 dates (`Tue, 4 Mar 2025 10:15:00 +0100`), with the obsolete forms of section 4.3:
 * two- and three-digit years, named zones (UT, GMT, EST…), military zones (read as -0000),
 * comments, missing seconds. Falls back to ISO 8601. Returns null when nothing makes sense.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const ZONES: Record<string, number> = {
  ut: 0,
  utc: 0,
  gmt: 0,
  z: 0,
  edt: -4 * 60,
  est: -5 * 60,
  cdt: -5 * 60,
  cst: -6 * 60,
  mdt: -6 * 60,
  mst: -7 * 60,
  pdt: -7 * 60,
  pst: -8 * 60,
  // Common in the wild though not in RFC 5322.
  cet: 60,
  cest: 2 * 60,
};

const RFC5322 =
  /^\s*(?:[a-z]+\s*,?\s*)?(\d{1,2})[\s-]*([a-z]+)[\s-]*(\d{2,4})\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?\s*([+-]\d{4}|[a-z]+)?/i;

function zoneMinutes(zone: string | undefined): number {
  if (!zone) return 0;
  if (/^[+-]\d{4}$/.test(zone)) {
    const sign = zone[0] === '-' ? -1 : 1;
    const hh = Number(zone.slice(1, 3));
    const mm = Number(zone.slice(3, 5));
    return hh < 24 && mm < 60 ? sign * (hh * 60 + mm) : 0;
  }
  return ZONES[zone.toLowerCase()] ?? 0;
}

/** The instant a Date header names, or null. */
export function parseMailDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const text = value.replace(/\([^()]*\)/g, ' ');
  const m = RFC5322.exec(text);
  if (m) {
    const day = Number(m[1]);
    const month = MONTHS.indexOf(m[2]!.slice(0, 3).toLowerCase());
    let year = Number(m[3]);
    if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900;
    else if (m[3]!.length === 3) year += 1900;
    const hour = Number(m[4]);
    const minute = Number(m[5]);
    const second = m[6] === undefined ? 0 : Number(m[6]);
    if (month >= 0 && day >= 1 && day <= 31 && hour < 24 && minute < 60 && second <= 60) {
      const utc = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
      if (new Date(utc).getUTCDate() !== day) return null; // 31 Feb and the like
      const date = new Date(utc - zoneMinutes(m[7]) * 60_000);
      if (!Number.isNaN(date.getTime())) return date;
    }
  }
  if (/^\s*\d{4}-\d{2}-\d{2}/.test(text)) {
    const iso = new Date(text.trim());
    if (!Number.isNaN(iso.getTime())) return iso;
  }
  return null;
}
