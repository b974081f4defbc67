// Formatting of times, durations and sizes, in the time zone the user
// chose (UTC or the browser's).

const TZ_KEY = 'activitylog.tz';

// timeZone returns "utc" or "local", as stored (default "utc": audit
// trails are compared across places).
export function timeZone() {
  try {
    return localStorage.getItem(TZ_KEY) === 'local' ? 'local' : 'utc';
  } catch {
    return 'utc';
  }
}

export function setTimeZone(tz) {
  try {
    localStorage.setItem(TZ_KEY, tz === 'local' ? 'local' : 'utc');
  } catch {
    // Storage refused (private mode): the choice lasts this page.
  }
}

// localZoneName is the browser's IANA zone, e.g. "Europe/Paris".
export function localZoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
  } catch {
    return 'local';
  }
}

// zoneLabel is what the header shows: "UTC" or the local zone.
export function zoneLabel(tz = timeZone()) {
  return tz === 'local' ? localZoneName() : 'UTC';
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// parts returns the fields of d in the zone tz.
function parts(d, tz) {
  if (tz === 'local') {
    return [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  }
  return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()];
}

// fmtTime formats an RFC 3339 time as "2025-01-02 15:04:05" in the
// chosen zone; {precise: true} adds the fraction the API gave (up to
// nanoseconds) and the zone.
export function fmtTime(iso, {precise = false, tz = timeZone()} = {}) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d.getTime())) return String(iso);
  const [y, mo, da, hh, mi, ss] = parts(d, tz);
  let s = `${y}-${pad(mo)}-${pad(da)} ${pad(hh)}:${pad(mi)}:${pad(ss)}`;
  if (precise) {
    const m = /\.(\d+)/.exec(String(iso));
    if (m) s += '.' + m[1];
    s += ' ' + zoneLabel(tz);
  }
  return s;
}

// toInputValue turns an RFC 3339 time into the value of a
// datetime-local input in the chosen zone ("" for none).
export function toInputValue(iso, tz = timeZone()) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d.getTime())) return '';
  const [y, mo, da, hh, mi, ss] = parts(d, tz);
  return `${y}-${pad(mo)}-${pad(da)}T${pad(hh)}:${pad(mi)}` + (ss ? ':' + pad(ss) : '');
}

// fromInputValue turns a datetime-local value, read in the chosen
// zone, into RFC 3339 UTC ("" for none; null when it cannot be read).
export function fromInputValue(v, tz = timeZone()) {
  if (!v) return '';
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(v);
  if (!m) return null;
  const [y, mo, da, hh, mi, ss] = m.slice(1).map((x) => Number(x || 0));
  const d = tz === 'local' ? new Date(y, mo - 1, da, hh, mi, ss) : new Date(Date.UTC(y, mo - 1, da, hh, mi, ss));
  if (isNaN(d.getTime())) return null;
  return d.toISOString().replace('.000Z', 'Z');
}

// fmtDuration formats nanoseconds: "850 µs", "12.3 ms", "4.20 s".
export function fmtDuration(ns) {
  if (ns === undefined || ns === null || ns === '') return '';
  const n = Number(ns);
  if (!isFinite(n)) return '';
  if (n < 1e3) return n + ' ns';
  if (n < 1e6) return (n / 1e3).toFixed(0) + ' µs';
  if (n < 1e9) return (n / 1e6).toFixed(n < 1e7 ? 2 : 1) + ' ms';
  return (n / 1e9).toFixed(2) + ' s';
}

// fmtBytes formats a byte count: "512 B", "1.5 KiB".
export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
}

// fmtCount formats an integer with thousands separators.
export function fmtCount(n) {
  return Number(n).toLocaleString('en-US');
}
