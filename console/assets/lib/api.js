// The API client: JSON in and out, the CSRF header on unsafe methods,
// errors as ApiError.

// ApiError is a non-2xx answer of the API, with the fields of its
// {"error": {code, message, field, value}} body.
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('HTTP ' + status));
    this.name = 'ApiError';
    this.status = status;
    this.code = e.code || '';
    this.field = e.field || '';
    this.value = e.value === undefined ? null : e.value;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// queryString returns "?a=1&b=2" of an object or URLSearchParams,
// leaving out empty values; "" when nothing is left.
export function queryString(query) {
  if (!query) return '';
  const q = new URLSearchParams();
  const entries = query instanceof URLSearchParams ? query.entries() : Object.entries(query);
  for (const [k, v] of entries) {
    if (v === undefined || v === null || v === '') continue;
    q.append(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// Client talks to the API at base ("/api/v1").
export class Client {
  constructor(base, {onUnauthorized} = {}) {
    this.base = base.replace(/\/+$/, '');
    this.csrf = '';
    this.onUnauthorized = onUnauthorized || (() => {});
  }

  // url returns the absolute URL of an API path.
  url(path, query) {
    const p = String(path).replace(/^\/+/, '');
    return new URL(this.base + '/' + p + queryString(query), location.href).href;
  }

  // request sends one request; see ctx.api in app.js. opts.auth false
  // keeps a 401 from sending the user to the sign-in page.
  async request(path, opts = {}) {
    const method = (opts.method || 'GET').toUpperCase();
    const headers = {Accept: 'application/json'};
    let body;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const send = () => {
      if (UNSAFE.has(method) && this.csrf) headers['X-CSRF-Token'] = this.csrf;
      return fetch(this.url(path, opts.query), {
        method, headers, body, credentials: 'same-origin', cache: 'no-store', signal: opts.signal,
      });
    };
    let resp = await send();
    if (resp.status === 403 && UNSAFE.has(method) && opts.retry !== false) {
      // The CSRF token may be stale (a sign-in in another tab): fetch
      // the session's and try once more.
      const before = this.csrf;
      await this.refreshCSRF();
      if (this.csrf && this.csrf !== before) resp = await send();
    }
    const text = await resp.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!resp.ok) {
      const err = new ApiError(resp.status, data);
      if (!data || !data.error) err.message = 'HTTP ' + resp.status + (resp.statusText ? ' ' + resp.statusText : '');
      if (resp.status === 401 && opts.auth !== false) this.onUnauthorized(err);
      throw err;
    }
    return data;
  }

  // refreshCSRF reads the session's CSRF token, if there is a session.
  async refreshCSRF() {
    try {
      const s = await this.request('auth/session', {auth: false});
      this.csrf = (s && s.csrf_token) || '';
    } catch {
      // No session routes, or no session: nothing to send.
    }
    return this.csrf;
  }
}
