// The event list: one per kind, filters kept in the URL (the console's
// query is the API's: GET /api/v1/events takes the same parameters),
// sortable columns, keyset paging through the API's next and previous
// links, and exports of the same filters.

import {ApiError} from '../lib/api.js';
import {fromInputValue, toInputValue, fmtDuration, fmtCount, zoneLabel} from '../lib/format.js';

// The kinds, as the API names them, with their tab labels.
export const KINDS = [
  {kind: '', label: 'All'},
  {kind: 'crud', label: 'Data changes'},
  {kind: 'auth', label: 'Auth'},
  {kind: 'request', label: 'Requests'},
  {kind: 'cors', label: 'CORS'},
  {kind: 'system', label: 'System'},
  {kind: 'export', label: 'Exports'},
  {kind: 'external', label: 'External calls'},
  {kind: 'custom', label: 'Custom'},
];

// The actions of the kinds whose actions are a closed set
// (activitylog.ActionsFor).
const ACTIONS = {
  crud: ['create', 'read', 'update', 'delete'],
  auth: ['login', 'logout', 'login_failed', 'blocked', 'token_refresh', 'password_change'],
  system: ['error', 'warning', 'security', 'performance'],
};
const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const PAGE_SIZES = [25, 50, 100, 200];
const QUICK = [{hours: 1, label: '1 h'}, {hours: 24, label: '24 h'}, {hours: 168, label: '7 d'}];

// The parameters the list keeps in its URL: the API's filter
// parameters (server.FilterParams) but page, which keyset paging
// replaces.
const PARAMS = ['kind', 'action', 'date_from', 'date_to', 'last_hours', 'user_id', 'tenant', 'remote_ip',
  'object_type', 'object_id', 'status_gte', 'status_lte', 'status', 'method', 'origin', 'severity',
  'category', 'tool', 'search', 'ordering', 'cursor', 'page_size'];

// The parameter each filter control sets; an API error naming one of
// these is shown beside the control.
const FIELD_CONTROL = {
  last_hours: 'f-time', date_from: 'f-date_from', date_to: 'f-date_to', user_id: 'f-user_id',
  remote_ip: 'f-remote_ip', method: 'f-method', status: 'f-status', status_gte: 'f-status',
  status_lte: 'f-status', action: 'f-action', object_type: 'f-object_type', object_id: 'f-object_id',
  severity: 'f-severity', tenant: 'f-tenant', search: 'f-search', origin: 'f-origin',
  category: 'f-category', tool: 'f-tool', page_size: 'f-page_size', kind: 'f-kind',
};

const HTTP_KINDS = new Set(['', 'request', 'cors', 'external', 'custom']);

// Sort keys of the API (activitylog.Orderings) and their natural
// first direction.
const DESC_FIRST = new Set(['time', 'status', 'duration']);

function statusBadge(h, s) {
  if (!s) return '';
  const cls = s >= 500 ? 'badge badge-bad' : s >= 400 ? 'badge badge-warn' : 'badge badge-ok';
  return h('span', {class: cls}, String(s));
}

function severityBadge(h, s) {
  if (!s) return '';
  const cls = s === 'error' || s === 'critical' ? 'badge badge-bad' : s === 'warning' ? 'badge badge-warn' : 'badge';
  return h('span', {class: cls}, s);
}

const actorText = (e) => (e.actor && (e.actor.name || e.actor.id || e.actor.email)) || (e.actor && e.actor.type) || '';
const objectText = (e) => {
  const o = e.object || {};
  if (!o.type && !o.id && !o.repr) return '';
  return (o.type ? o.type + ' ' : '') + (o.repr || o.id || '');
};
const reqPath = (e) => (e.request && (e.request.path || e.request.route)) || '';
const extra = (e, k) => (e.extra && e.extra[k] !== undefined && e.extra[k] !== null ? String(e.extra[k]) : '');

// columns returns the columns of a kind's list: label, the API's
// ordering key when sortable, and the cell.
function columns(kind, h) {
  const time = {label: 'Time', sort: 'time', time: true};
  const actor = {label: 'Actor', sort: 'actor_id', cell: actorText};
  const tenant = {label: 'Tenant', sort: 'tenant', cell: (e) => e.tenant || '', cls: 'hide-narrow'};
  const action = {label: 'Action', sort: 'action', cell: (e) => e.action};
  const severity = {label: 'Severity', cell: (e) => severityBadge(h, e.severity)};
  const method = {label: 'Method', cell: (e) => (e.request && e.request.method) || ''};
  const status = {label: 'Status', sort: 'status', cls: 'num', cell: (e) => statusBadge(h, e.response && e.response.status)};
  const duration = {label: 'Duration', sort: 'duration', cls: 'num', cell: (e) => fmtDuration(e.response && e.response.duration_ns)};
  const ip = {label: 'IP', cell: (e) => (e.request && e.request.remote_ip) || extra(e, 'ip'), cls: 'mono hide-narrow'};
  const message = {label: 'Message', cell: (e) => e.message || '', cls: 'cell-clip'};
  switch (kind) {
    case 'crud':
      return [time, action, {label: 'Object type', sort: 'object_type', cell: (e) => (e.object && e.object.type) || ''},
        {label: 'Object', cell: (e) => (e.object && (e.object.repr || e.object.id)) || '', cls: 'cell-clip'},
        {label: 'Changed', cell: (e) => Object.keys(e.changes || {}).join(', '), cls: 'cell-clip'}, actor, tenant];
    case 'auth':
      return [time, action, {label: 'User', sort: 'actor_id', cell: (e) => (e.actor && e.actor.name) || extra(e, 'username') || actorText(e)},
        ip, {label: 'Country', cell: (e) => (e.request && e.request.geo && (e.request.geo.country_code || e.request.geo.country)) || ''},
        {label: 'Reason', cell: (e) => extra(e, 'reason')}, severity, tenant];
    case 'request':
      return [time, method, {label: 'Path', cell: reqPath, cls: 'cell-clip mono'}, status, duration, actor, ip];
    case 'cors':
      return [time, method, {label: 'Origin', cell: (e) => (e.request && e.request.origin) || '', cls: 'cell-clip'},
        {label: 'Path', cell: reqPath, cls: 'cell-clip mono'}, status, actor, ip];
    case 'system':
      return [time, action, severity, {label: 'Category', cell: (e) => e.category || ''},
        {label: 'Service', cell: (e) => e.service || '', cls: 'hide-narrow'}, message];
    case 'export':
      return [time, action, actor, {label: 'Format', cell: (e) => extra(e, 'format')},
        {label: 'Records', cls: 'num', cell: (e) => extra(e, 'records')}, message, tenant];
    case 'external':
      return [time, method, {label: 'Host', cell: (e) => (e.request && e.request.host) || ''},
        {label: 'Path', cell: reqPath, cls: 'cell-clip mono'}, status, duration,
        {label: 'Tool', cell: (e) => e.tool || e.service || ''}];
    case 'custom':
      return [time, action, actor, {label: 'Object', sort: 'object_type', cell: objectText, cls: 'cell-clip'}, message, severity];
  }
  return [time, {label: 'Kind', sort: 'kind', cell: (e) => h('span', {class: 'badge'}, e.kind)}, action, actor,
    {label: 'Summary', cell: (e) => e.message || objectText(e) || [e.request && e.request.method, reqPath(e)].filter(Boolean).join(' '), cls: 'cell-clip'},
    severity, tenant];
}

// statusInput shows status, status_gte and status_lte as one value:
// "404", "4xx", ">=500", "<=399", "400-499".
function statusInput(p) {
  const s = p.get('status');
  const lo = p.get('status_gte');
  const hi = p.get('status_lte');
  if (s) return s;
  if (lo && hi) {
    if (/^[1-5]00$/.test(lo) && Number(hi) === Number(lo) + 99) return lo[0] + 'xx';
    return lo + '-' + hi;
  }
  if (lo) return '>=' + lo;
  if (hi) return '<=' + hi;
  return '';
}

// statusParams parses the status control into the API's parameters;
// what it cannot read goes to status as it is, for the API to refuse
// with its message.
function statusParams(v) {
  const t = v.trim().toLowerCase();
  if (!t) return {};
  let m;
  if ((m = /^([1-5])xx$/.exec(t))) return {status_gte: m[1] + '00', status_lte: m[1] + '99'};
  if ((m = /^>=?\s*(\d+)$/.exec(t))) return {status_gte: m[1]};
  if ((m = /^<=?\s*(\d+)$/.exec(t))) return {status_lte: m[1]};
  if ((m = /^(\d+)\s*-\s*(\d+)$/.exec(t))) return {status_gte: m[1], status_lte: m[2]};
  return {status: v.trim()};
}

export async function render(root, ctx) {
  const {h} = ctx;
  const p = ctx.params;
  const kind = p.get('kind') || '';
  const kindInfo = KINDS.find((k) => k.kind === kind);
  ctx.setTitle('Events' + (kindInfo && kind ? ' · ' + kindInfo.label : ''));

  // The query sent to the API: the URL's known parameters.
  const query = new URLSearchParams();
  for (const name of PARAMS) {
    const v = p.get(name);
    if (v !== null && v !== '') query.set(name, v);
  }
  const ordering = p.get('ordering') || '-time';

  // Navigates to the list with params, without cursor.
  const go = (params, {keepCursor = false} = {}) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    if (!keepCursor) q.delete('cursor');
    return ctx.navigate('/events', {query: q, keepFocus: true});
  };
  const current = () => Object.fromEntries(query.entries());

  // ----- tabs -----
  const tabs = h('ul', {class: 'kind-tabs', 'aria-label': 'Kind of event'},
    KINDS.map((k) => {
      const q = new URLSearchParams();
      if (k.kind) q.set('kind', k.kind);
      for (const keep of ['last_hours', 'date_from', 'date_to', 'user_id', 'tenant', 'remote_ip', 'search', 'page_size']) {
        if (p.get(keep)) q.set(keep, p.get(keep));
      }
      return h('li', null, h('a', {href: ctx.url('/events', q), 'aria-current': k.kind === kind ? 'page' : null,
        'data-kind': k.kind || 'all'}, k.label));
    }));

  // ----- filters -----
  const errors = {}; // control id -> error element
  const field = (id, label, control, {wide = false, hint = ''} = {}) => {
    const err = h('p', {class: 'field-error', id: id + '-error', hidden: true});
    errors[id] = err;
    control.setAttribute('aria-describedby', [hint ? id + '-hint' : '', id + '-error'].filter(Boolean).join(' '));
    return h('div', {class: wide ? 'field field-wide' : 'field'},
      h('label', {for: id}, label), control,
      hint ? h('span', {class: 'muted', id: id + '-hint'}, hint) : null, err);
  };
  const text = (name, attrs = {}) => h('input', {id: 'f-' + name, name, type: 'text', value: p.get(name) || '',
    autocomplete: 'off', spellcheck: 'false', ...attrs});
  const select = (name, options, attrs = {}) => h('select', {id: 'f-' + name, name, ...attrs},
    h('option', {value: ''}, 'Any'),
    options.map((o) => h('option', {value: o, selected: p.get(name) === o}, o)),
    // A value from the URL that is not an option stays shown, so that
    // the API's error about it makes sense.
    p.get(name) && !options.includes(p.get(name)) ? h('option', {value: p.get(name), selected: true}, p.get(name)) : null);

  const lastHours = p.get('last_hours') || '';
  const quick = h('div', {class: 'quick-picks', id: 'f-time', role: 'group', 'aria-label': 'Time range'},
    QUICK.map((q) => h('button', {type: 'button', class: 'btn btn-small', 'aria-pressed': String(lastHours === String(q.hours)),
      'data-hours': String(q.hours),
      onclick: () => go({...current(), last_hours: String(q.hours), date_from: '', date_to: ''})}, 'Last ' + q.label)),
    h('button', {type: 'button', class: 'btn btn-small', 'aria-pressed': String(!lastHours && !p.get('date_from') && !p.get('date_to')),
      onclick: () => go({...current(), last_hours: '', date_from: '', date_to: ''})}, 'All time'),
    lastHours && !QUICK.some((q) => String(q.hours) === lastHours) ? h('span', {class: 'badge'}, 'last ' + lastHours + ' h') : null);
  const timeErr = h('p', {class: 'field-error', id: 'f-time-error', hidden: true});
  errors['f-time'] = timeErr;

  const dateFrom = h('input', {id: 'f-date_from', name: 'date_from', type: 'datetime-local', step: '1',
    value: toInputValue(p.get('date_from'))});
  const dateTo = h('input', {id: 'f-date_to', name: 'date_to', type: 'datetime-local', step: '1',
    value: toInputValue(p.get('date_to'))});
  const statusCtl = h('input', {id: 'f-status', name: 'status', type: 'text', inputmode: 'text', value: statusInput(p),
    autocomplete: 'off', placeholder: '404, 5xx, >=400'});
  const actionCtl = ACTIONS[kind] ? select('action', ACTIONS[kind]) : text('action');
  const methodCtl = text('method', {list: 'f-method-list', placeholder: 'GET'});
  const showHTTP = HTTP_KINDS.has(kind);

  const form = h('form', {class: 'card filters-card', role: 'search', 'aria-label': 'Filter events', novalidate: true,
    onsubmit: (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      const next = {};
      if (kind) next.kind = kind;
      for (const [k, v] of fd.entries()) {
        if (k === 'status' || k === 'date_from' || k === 'date_to') continue;
        if (typeof v === 'string' && v.trim() !== '') next[k] = v.trim();
      }
      Object.assign(next, statusParams(statusCtl.value));
      let bad = false;
      for (const [name, ctl] of [['date_from', dateFrom], ['date_to', dateTo]]) {
        const iso = fromInputValue(ctl.value);
        if (iso === null) {
          showError({field: name, value: ctl.value, message: name + ' ' + JSON.stringify(ctl.value) + ': is not a date and time'});
          bad = true;
        } else if (iso) {
          next[name] = iso;
        }
      }
      if (bad) return;
      if (next.date_from || next.date_to) delete next.last_hours;
      else if (lastHours) next.last_hours = lastHours;
      if (p.get('ordering')) next.ordering = p.get('ordering');
      go(next);
    }},
  h('div', {class: 'filters'},
    h('div', {class: 'field field-wide'}, h('span', {class: 'label', id: 'f-time-label'}, 'Time range (' + zoneLabel() + ')'), quick, timeErr),
    field('f-date_from', 'From', dateFrom),
    field('f-date_to', 'To (exclusive)', dateTo),
    field('f-search', 'Search', text('search', {type: 'search', placeholder: 'message, path, object, actor'})),
    field('f-user_id', 'User (actor id)', text('user_id')),
    field('f-remote_ip', 'IP address', text('remote_ip', {inputmode: 'decimal'})),
    showHTTP ? field('f-method', 'Method', methodCtl) : null,
    showHTTP ? field('f-status', 'Status', statusCtl) : null,
    kind === 'cors' || kind === '' ? field('f-origin', 'Origin', text('origin')) : null,
    field('f-action', 'Action', actionCtl),
    field('f-object_type', 'Object type', text('object_type')),
    field('f-object_id', 'Object id', text('object_id')),
    field('f-severity', 'Severity', select('severity', SEVERITIES)),
    kind === 'system' ? field('f-category', 'Category', text('category')) : null,
    field('f-tenant', 'Tenant', text('tenant')),
    field('f-tool', 'Tool', text('tool')),
    field('f-page_size', 'Rows per page', h('select', {id: 'f-page_size', name: 'page_size'},
      PAGE_SIZES.map((n) => h('option', {value: n === 50 ? '' : String(n), selected: (p.get('page_size') || '50') === String(n)}, String(n)))))),
  h('datalist', {id: 'f-method-list'}, METHODS.map((m) => h('option', {value: m}))),
  h('div', {class: 'form-actions'},
    h('button', {type: 'submit', class: 'btn btn-primary', id: 'apply-filters'}, 'Apply filters'),
    h('a', {class: 'btn', href: ctx.url('/events', kind ? {kind} : null), id: 'clear-filters'}, 'Clear')));

  const general = h('p', {class: 'form-error', id: 'list-error', role: 'alert', hidden: true});

  // showError puts the API's refusal beside the control of its field,
  // or above the list when no control sets it.
  function showError(e) {
    const id = FIELD_CONTROL[e.field];
    const msg = e.message + (e.field && e.value !== null && e.value !== undefined && !e.message.includes(e.value)
      ? ` (${e.field} = ${JSON.stringify(e.value)})` : '');
    const ctl = id && document.getElementById(id);
    if (id && errors[id] && ctl) {
      errors[id].textContent = msg;
      errors[id].hidden = false;
      ctl.setAttribute('aria-invalid', 'true');
      if (id === 'f-time') ctl.setAttribute('aria-describedby', 'f-time-error');
    } else {
      general.textContent = msg;
      general.hidden = false;
    }
  }

  // ----- results -----
  const status = h('p', {class: 'muted', id: 'list-count', 'aria-live': 'polite'}, 'Loading…');
  const exportLinks = h('div', {class: 'toolbar', role: 'group', 'aria-label': 'Export these events'},
    h('span', {class: 'muted'}, 'Export:'),
    ['csv', 'json', 'xlsx'].map((f) => {
      const q = new URLSearchParams(query);
      q.delete('cursor');
      q.delete('page_size');
      q.set('format', f);
      return h('a', {class: 'btn btn-small', href: ctx.apiURL('events/export', q), download: '', 'data-format': f,
        'aria-label': 'Export these events as ' + f.toUpperCase()}, f.toUpperCase());
    }));

  const cols = columns(kind, h);
  const sortField = ordering.replace(/^-/, '');
  const desc = ordering.startsWith('-');
  const thead = h('thead', null, h('tr', null, cols.map((c) => {
    if (!c.sort) return h('th', {scope: 'col', class: c.cls && c.cls.includes('num') ? 'num' : null}, c.label);
    const active = sortField === c.sort;
    const nextOrder = active ? (desc ? c.sort : '-' + c.sort) : (DESC_FIRST.has(c.sort) ? '-' + c.sort : c.sort);
    return h('th', {scope: 'col', 'aria-sort': active ? (desc ? 'descending' : 'ascending') : null,
      class: c.cls && c.cls.includes('num') ? 'num' : null},
    h('button', {type: 'button', class: 'sort-btn', 'data-sort': c.sort,
      'aria-label': `${c.label}: sort ${nextOrder.startsWith('-') ? 'descending' : 'ascending'}`,
      onclick: () => go({...current(), ordering: nextOrder === '-time' ? '' : nextOrder})},
    c.label, h('span', {class: 'arrow', 'aria-hidden': 'true'}, active ? (desc ? '▼' : '▲') : '↕')));
  })));
  const tbody = h('tbody');
  const table = h('table', {class: 'table', id: 'events-table'},
    h('caption', {class: 'sr-only'}, (kindInfo ? kindInfo.label : kind) + ' events, ' + (desc ? 'newest' : 'oldest') + ' first by ' + sortField),
    thead, tbody);
  const pager = h('nav', {class: 'pager', 'aria-label': 'Pages'});

  root.append(h('div', {class: 'page list-page', 'data-kind': kind || 'all'},
    h('h1', null, 'Events', kind && kindInfo ? h('span', {class: 'muted'}, ' · ' + kindInfo.label) : null),
    tabs, form, general,
    h('div', {class: 'toolbar'}, status, h('span', {class: 'spacer'}), exportLinks),
    h('div', {class: 'table-wrap'}, table), pager));

  let answer;
  const started = performance.now();
  try {
    answer = await ctx.api('events', {query});
  } catch (e) {
    if (!(e instanceof ApiError) || e.status === 401) throw e;
    status.textContent = 'No events shown: the API refused the query.';
    showError(e);
    tbody.append(h('tr', null, h('td', {colspan: String(cols.length), class: 'muted'}, 'Fix the filter marked above.')));
    return keys(root);
  }
  const results = answer.results || [];
  const elapsed = Math.round(performance.now() - started);
  root.querySelector('.list-page').setAttribute('data-load-ms', String(elapsed));
  const total = answer.count_exact === false ? 'More than ' + fmtCount(answer.count) : fmtCount(answer.count);
  status.textContent = answer.count === 0 ? 'No events match.' :
    `${total} event${answer.count === 1 ? '' : 's'} match; showing ${results.length}.`;

  for (const e of results) {
    const href = ctx.url('/events/' + encodeURIComponent(e.id));
    tbody.append(h('tr', {'data-id': e.id}, cols.map((c) => {
      if (c.time) {
        return h('td', {class: 'nowrap'}, h('a', {href, class: 'row-link', 'aria-label': `${e.kind} ${e.action} at ${ctx.fmtTime(e.time)}: open`},
          h('time', {datetime: e.time}, ctx.fmtTime(e.time))));
      }
      const v = c.cell(e);
      return h('td', {class: c.cls || null, title: typeof v === 'string' && v.length > 40 ? v : null}, v);
    })));
  }
  if (results.length === 0) {
    tbody.append(h('tr', null, h('td', {colspan: String(cols.length), class: 'muted'},
      'No events match these filters. ', h('a', {href: ctx.url('/events', kind ? {kind} : null)}, 'Clear the filters'))));
  }

  // Keyset paging: the API's links are "?…&cursor=…" with the same
  // parameters; the console's URL takes them as they are.
  const pageLink = (link, label, rel, id) => {
    if (!link) return h('span', {class: 'btn', 'aria-disabled': 'true', id}, label);
    const q = new URLSearchParams(link.replace(/^[^?]*\?/, ''));
    return h('a', {class: 'btn', href: ctx.url('/events', q), rel, id}, label);
  };
  pager.append(
    p.get('cursor') ? h('a', {class: 'btn', href: ctx.url('/events', (() => {
      const q = new URLSearchParams(query);
      q.delete('cursor');
      return q;
    })()), id: 'page-first'}, '« Newest') : null,
    pageLink(answer.previous, '‹ Previous', 'prev', 'page-prev'),
    pageLink(answer.next, 'Next ›', 'next', 'page-next'));

  // For the browser tests' timing (BENCHMARKS.md): from the API request
  // to the rows in the page, server time included; and the same moment
  // from the start of the page's navigation.
  const page = root.querySelector('.list-page');
  page.setAttribute('data-render-ms', String(Math.round(performance.now() - started)));
  page.setAttribute('data-rendered-at-ms', String(Math.round(performance.now())));
  return keys(root);
}

// keys binds j/k (next, previous row), / (search) while the list is
// shown; it returns the cleanup that unbinds them.
function keys(root) {
  const onKey = (ev) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName))) return;
    const links = [...root.querySelectorAll('#events-table a.row-link')];
    if (ev.key === '/') {
      const s = root.querySelector('#f-search');
      if (s) {
        ev.preventDefault();
        s.focus();
      }
      return;
    }
    if (ev.key !== 'j' && ev.key !== 'k') return;
    if (links.length === 0) return;
    ev.preventDefault();
    const i = links.indexOf(document.activeElement);
    let n = ev.key === 'j' ? i + 1 : i - 1;
    if (i < 0) n = ev.key === 'j' ? 0 : links.length - 1;
    n = Math.max(0, Math.min(links.length - 1, n));
    links[n].focus();
  };
  const onFocus = (ev) => {
    for (const tr of root.querySelectorAll('#events-table tr.row-current')) tr.classList.remove('row-current');
    const tr = ev.target instanceof Element ? ev.target.closest('#events-table tbody tr') : null;
    if (tr) tr.classList.add('row-current');
  };
  document.addEventListener('keydown', onKey);
  root.addEventListener('focusin', onFocus);
  return () => {
    document.removeEventListener('keydown', onKey);
    root.removeEventListener('focusin', onFocus);
  };
}
