// The live tail: new events as the server commits them, over the API's
// Server-Sent Events stream (GET /api/v1/stream, docs/streams.md).
// Newest on top; pause holds new events back and counts them; the
// filters are the stream's (the list's filters, kept in the URL); a
// rate indicator counts the events of the last 10 seconds.
//
// EventSource reconnects by itself and sends Last-Event-ID, so the
// server replays what the page missed from its backlog; a "gap" event
// says when the backlog no longer reached back that far.

import {ApiError} from '../lib/api.js';
import {fmtCount} from '../lib/format.js';

// MAX_ROWS bounds the rows kept in the page; older ones are dropped.
const MAX_ROWS = 500;
// MAX_HELD bounds the events held back while paused.
const MAX_HELD = 5000;
// RATE_WINDOW is the span of the rate indicator, in milliseconds.
const RATE_WINDOW = 10000;

const KINDS = [
  ['', 'All kinds'], ['crud', 'Data changes'], ['auth', 'Auth'], ['request', 'Requests'], ['cors', 'CORS'],
  ['system', 'System'], ['export', 'Exports'], ['external', 'External calls'], ['custom', 'Custom'],
];
const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'];

// The stream's filter parameters (server.ParseFilter less paging and
// ordering) that this page offers, in the URL's order.
const FILTERS = ['kind', 'action', 'severity', 'user_id', 'tenant', 'remote_ip', 'object_type', 'object_id',
  'status_gte', 'status_lte', 'search'];
const LABELS = {
  kind: 'Kind', action: 'Action', severity: 'Severity', user_id: 'User id', tenant: 'Tenant',
  remote_ip: 'IP address', object_type: 'Object type', object_id: 'Object id',
  status_gte: 'Status from', status_lte: 'Status to', search: 'Search',
};

export async function render(root, ctx) {
  const {h} = ctx;
  ctx.setTitle('Live tail');

  // The filters of the URL.
  const filters = {};
  for (const k of FILTERS) {
    const v = ctx.params.get(k);
    if (v) filters[k] = v;
  }

  let es = null; // the EventSource
  let paused = false;
  let held = []; // events received while paused, oldest first
  let heldDropped = 0; // events beyond MAX_HELD, not kept
  let received = 0;
  let arrivals = []; // arrival times (ms) within RATE_WINDOW
  let retryTimer = null;
  let retries = 0;
  let closed = false;
  let lastID = ''; // the stream's last sequence number, to resume after a new connection

  // ----- controls -----
  const stateBadge = h('span', {class: 'badge', id: 'live-state'}, 'connecting');
  const rateText = h('span', {id: 'live-rate', class: 'nowrap'}, '0 events/s');
  const receivedText = h('span', {id: 'live-received', class: 'muted nowrap'}, '0 received');
  const heldText = h('span', {id: 'live-held', class: 'badge badge-warn', hidden: true});
  const pauseBtn = h('button', {type: 'button', class: 'btn', id: 'live-pause', 'aria-pressed': 'false',
    onclick: () => (paused ? resume() : pause())}, 'Pause');
  const clearBtn = h('button', {type: 'button', class: 'btn', id: 'live-clear', onclick: () => {
    tbody.replaceChildren();
    showEmpty();
  }}, 'Clear');
  const notice = h('p', {class: 'notice', id: 'live-notice', role: 'status', hidden: true});
  const errorBox = h('p', {class: 'form-error', id: 'live-error', role: 'alert', hidden: true});

  const controls = {};
  const field = (name) => {
    const id = 'live-f-' + name;
    let input;
    if (name === 'kind') {
      input = h('select', {id, name}, KINDS.map(([v, label]) => h('option', {value: v, selected: (filters.kind || '') === v}, label)));
    } else if (name === 'severity') {
      input = h('select', {id, name}, h('option', {value: ''}, 'Any severity'),
        SEVERITIES.map((s) => h('option', {value: s, selected: filters.severity === s}, s)));
    } else if (name === 'status_gte' || name === 'status_lte') {
      input = h('input', {id, name, type: 'number', min: '100', max: '599', inputmode: 'numeric', value: filters[name] || ''});
    } else {
      input = h('input', {id, name, type: name === 'search' ? 'search' : 'text', value: filters[name] || '',
        autocomplete: 'off', spellcheck: 'false'});
    }
    controls[name] = input;
    return h('div', {class: ['field', name === 'search' ? 'field-wide' : '']}, h('label', {for: id}, LABELS[name]), input);
  };
  const form = h('form', {class: 'card filters', id: 'live-filters', 'aria-label': 'Stream filters',
    onsubmit: (ev) => {
      ev.preventDefault();
      const q = {};
      for (const k of FILTERS) {
        const v = controls[k].value.trim();
        if (v) q[k] = v;
      }
      ctx.navigate('/live', {query: q, replace: true, keepFocus: true});
    }},
  FILTERS.map(field),
  h('div', {class: 'form-actions field-wide'},
    h('button', {type: 'submit', class: 'btn btn-primary', id: 'live-apply'}, 'Apply filters'),
    h('a', {href: ctx.url('/live'), class: 'btn'}, 'Reset'),
    h('a', {href: ctx.url('/events', filters), class: 'btn', id: 'live-to-list'}, 'Same filters in the list')));

  const tbody = h('tbody', {id: 'live-rows'});
  const emptyRow = () => h('tr', {class: 'live-empty'}, h('td', {colspan: '7', class: 'muted'},
    'Waiting for events… New events appear here as they are recorded.'));
  const showEmpty = () => {
    if (!tbody.firstChild) tbody.append(emptyRow());
  };
  const table = h('div', {class: 'table-wrap'},
    h('table', {class: 'table', id: 'live-table'},
      h('caption', {class: 'sr-only'}, 'Live events, newest first; at most ' + MAX_ROWS + ' are kept'),
      h('thead', null, h('tr', null,
        h('th', {scope: 'col'}, 'Time'), h('th', {scope: 'col'}, 'Kind'), h('th', {scope: 'col'}, 'Action'),
        h('th', {scope: 'col'}, 'Severity'), h('th', {scope: 'col'}, 'Actor'), h('th', {scope: 'col'}, 'Object or request'),
        h('th', {scope: 'col'}, 'Status'))),
      tbody));
  showEmpty();

  root.append(h('div', {class: 'page live-page'},
    h('h1', null, 'Live tail'),
    h('p', {class: 'lead muted'}, 'Events appear as the server records them, newest first. The newest ' + MAX_ROWS +
      ' stay on the page; the list keeps them all.'),
    form,
    h('div', {class: 'toolbar', role: 'group', 'aria-label': 'Stream'},
      h('span', null, 'Stream: ', stateBadge), rateText, receivedText, heldText,
      h('span', {class: 'spacer'}), pauseBtn, clearBtn),
    notice, errorBox, table));

  // ----- state -----
  const setState = (text, cls) => {
    stateBadge.textContent = text;
    stateBadge.setAttribute('class', 'badge ' + (cls || ''));
    stateBadge.setAttribute('data-state', text);
  };
  const showError = (text) => {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  };
  const updateHeld = () => {
    const n = held.length + heldDropped;
    heldText.hidden = !paused;
    heldText.textContent = paused ? fmtCount(n) + (n === 1 ? ' new event waiting' : ' new events waiting') : '';
    heldText.setAttribute('data-count', String(n));
  };
  const updateRate = () => {
    const now = Date.now();
    while (arrivals.length && now - arrivals[0] > RATE_WINDOW) arrivals.shift();
    const rate = arrivals.length / (RATE_WINDOW / 1000);
    rateText.textContent = (rate < 10 ? rate.toFixed(1) : Math.round(rate)) + ' events/s';
    rateText.setAttribute('title', fmtCount(arrivals.length) + ' events in the last 10 seconds');
    receivedText.textContent = fmtCount(received) + ' received';
  };
  const rateTimer = setInterval(updateRate, 1000);

  // ----- rows -----
  const row = (e) => {
    const href = ctx.url('/events/' + encodeURIComponent(e.id));
    const actor = e.actor || {};
    const obj = e.object || {};
    const req = e.request || {};
    const resp = e.response || {};
    let what = '';
    if (obj.type || obj.id || obj.repr) {
      what = (obj.type || '') + (obj.id ? ' ' + obj.id : '') + (obj.repr ? ' · ' + obj.repr : '');
    } else if (req.method || req.path) {
      what = [req.method, req.route || req.path].filter(Boolean).join(' ');
    } else if (e.message) {
      what = e.message;
    }
    const st = resp.status || 0;
    const sev = e.severity || '';
    const sevCls = sev === 'critical' || sev === 'error' ? 'badge badge-bad' : sev === 'warning' ? 'badge badge-warn' : 'badge';
    return h('tr', {'data-id': e.id, 'data-kind': e.kind},
      h('td', {class: 'nowrap'}, h('a', {href, 'aria-label': 'Event ' + e.kind + ' ' + e.action + ' at ' + ctx.fmtTime(e.time)},
        h('time', {datetime: e.time}, ctx.fmtTime(e.time)))),
      h('td', null, e.kind),
      h('td', null, e.action),
      h('td', null, sev ? h('span', {class: sevCls}, sev) : ''),
      h('td', {class: 'cell-clip'}, actor.name || actor.id || h('span', {class: 'muted'}, actor.type || '—')),
      h('td', {class: 'cell-clip wrap-anywhere'}, what),
      h('td', {class: 'num'}, st ? h('span', {class: st >= 500 ? 'badge badge-bad' : st >= 400 ? 'badge badge-warn' : 'badge badge-ok'}, String(st)) : ''));
  };
  const prepend = (events) => {
    // events: oldest first; each goes on top.
    const empty = tbody.querySelector('.live-empty');
    if (empty) empty.remove();
    const frag = document.createDocumentFragment();
    for (let i = events.length - 1; i >= 0; i--) frag.append(row(events[i]));
    tbody.insertBefore(frag, tbody.firstChild);
    while (tbody.childElementCount > MAX_ROWS) tbody.lastElementChild.remove();
  };

  const pause = () => {
    paused = true;
    pauseBtn.textContent = 'Resume';
    pauseBtn.setAttribute('aria-pressed', 'true');
    updateHeld();
    ctx.announce('Paused: new events are held back');
  };
  const resume = () => {
    paused = false;
    pauseBtn.textContent = 'Pause';
    pauseBtn.setAttribute('aria-pressed', 'false');
    const n = held.length + heldDropped;
    if (heldDropped > 0) {
      showNotice(fmtCount(heldDropped) + ' events that arrived while paused were not kept; the list has them.');
    }
    prepend(held.slice(-MAX_ROWS));
    held = [];
    heldDropped = 0;
    updateHeld();
    ctx.announce('Resumed; ' + fmtCount(n) + (n === 1 ? ' event' : ' events') + ' added');
  };
  const showNotice = (text) => {
    notice.replaceChildren(text, ' ', h('a', {href: ctx.url('/events', filters)}, 'Open the list'));
    notice.hidden = false;
  };

  const onEvent = (m) => {
    let e;
    try {
      e = JSON.parse(m.data);
    } catch {
      return; // not an event of this API
    }
    if (m.lastEventId) lastID = m.lastEventId;
    received += 1;
    arrivals.push(Date.now());
    if (paused) {
      if (held.length < MAX_HELD) held.push(e);
      else heldDropped += 1;
      updateHeld();
    } else {
      prepend([e]);
    }
  };

  // ----- connection -----
  // check asks the list API with the same filters: it answers a refused
  // filter with a 400 naming the parameter (EventSource cannot read the
  // stream's error body), and a 401 sends app.js to the sign-in page.
  const check = async () => {
    try {
      await ctx.api('events', {query: {...filters, page_size: 1}});
      return true;
    } catch (e) {
      if (closed) return false;
      if (e instanceof ApiError && e.status === 401) return false;
      if (e instanceof ApiError && e.field && controls[e.field]) {
        controls[e.field].setAttribute('aria-invalid', 'true');
        controls[e.field].setAttribute('aria-describedby', 'live-error');
        showError(LABELS[e.field] + ': ' + e.message);
      } else {
        showError('The stream cannot start: ' + e.message);
      }
      setState('stopped', 'badge-bad');
      return false;
    }
  };

  const connect = () => {
    if (closed) return;
    setState(retries ? 'reconnecting' : 'connecting', 'badge-warn');
    // A new EventSource does not send Last-Event-ID; the query does.
    const q = lastID ? {...filters, last_event_id: lastID} : filters;
    es = new EventSource(ctx.apiURL('stream', q), {withCredentials: true});
    es.addEventListener('open', () => {
      retries = 0;
      showError('');
      setState('live', 'badge-ok');
    });
    es.addEventListener('event', onEvent);
    es.addEventListener('gap', (m) => {
      let missed = -1;
      try {
        missed = JSON.parse(m.data).missed;
      } catch {
        // keep -1: unknown
      }
      showNotice(missed < 0
        ? 'The server restarted while the stream was away: events may be missing here.'
        : fmtCount(missed) + (missed === 1 ? ' event' : ' events') + ' could not be replayed after the reconnection.');
    });
    es.addEventListener('error', async () => {
      if (closed) return;
      if (es.readyState === EventSource.CONNECTING) {
        // The browser retries by itself, with Last-Event-ID.
        setState('reconnecting', 'badge-warn');
        return;
      }
      // Closed for good (an error status, or the server went away
      // before answering): find out why, then retry with a backoff.
      es.close();
      es = null;
      setState('disconnected', 'badge-bad');
      if (!(await check()) || closed) return;
      retries += 1;
      const wait = Math.min(30, 2 ** Math.min(retries, 5));
      setState('disconnected', 'badge-bad');
      showError('The stream was interrupted; retrying in ' + wait + ' s.');
      retryTimer = setTimeout(connect, wait * 1000);
    });
  };

  if (await check()) connect();

  return () => {
    closed = true;
    if (es) es.close();
    clearInterval(rateTimer);
    clearTimeout(retryTimer);
  };
}
