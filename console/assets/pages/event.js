// The event page: every field, the changes side by side, the request
// and response, geo, the actor's and the object's other events, the
// integrity status with its proof, and the resolution.

import {ApiError} from '../lib/api.js';
import {fmtDuration, fmtBytes} from '../lib/format.js';
import {tokens, diffTokens, show} from '../lib/diff.js';

const INTEGRITY_BADGE = {
  checkpointed: 'badge badge-ok',
  sealed: 'badge badge-ok',
  unchecked: 'badge badge-warn',
  modified: 'badge badge-bad',
  unsealed: 'badge badge-bad',
};

const INTEGRITY_TEXT = {
  checkpointed: 'Its hash recomputes, and a checkpoint signed by a trusted key covers it.',
  sealed: 'Its hash recomputes; no trusted checkpoint covers it yet.',
  unchecked: 'Its chain is keyed with an HMAC key this server does not hold, so its hash could not be recomputed.',
  modified: 'Its stored bytes no longer hash to its seal: the event was changed after it was sealed.',
  unsealed: 'It has no seal.',
};

export async function render(root, ctx) {
  const {h} = ctx;
  const id = ctx.route.id;
  const e = await ctx.api('events/' + encodeURIComponent(id));
  ctx.setTitle(`${e.kind} ${e.action} · event`);

  // kv renders a definition list of the pairs whose value is set.
  const kv = (pairs) => {
    const dl = h('dl', {class: 'kv'});
    for (const [k, v] of pairs) {
      if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) continue;
      dl.append(h('dt', null, k), h('dd', null, v));
    }
    return dl.childElementCount ? dl : h('p', {class: 'muted'}, 'Nothing recorded.');
  };
  const mono = (v) => (v === undefined || v === null || v === '' ? '' : h('span', {class: 'mono'}, String(v)));
  const json = (v) => h('pre', {class: 'body'}, JSON.stringify(v, null, 2));
  const card = (title, id, ...body) => h('section', {class: 'card', 'aria-labelledby': id},
    h('h2', {id}, title), ...body);

  const listURL = (q) => ctx.url('/events', q);
  const actor = e.actor || {};
  const object = e.object || {};
  const req = e.request || {};
  const resp = e.response || {};
  const geo = req.geo || {};

  // ----- header -----
  const head = h('div', {class: 'toolbar'},
    h('a', {class: 'btn', href: listURL(e.kind ? {kind: e.kind} : null), id: 'back-to-list'}, '← ' + e.kind + ' events'),
    actor.id ? h('a', {class: 'btn', href: listURL({user_id: actor.id}), id: 'actor-events'}, 'Other events by this actor') : null,
    object.type && object.id ? h('a', {class: 'btn', href: listURL({object_type: object.type, object_id: object.id}), id: 'object-history'},
      'History of this object') : null);

  const summary = card('Event', 'ev-summary', kv([
    ['ID', mono(e.id)],
    ['Time', h('span', null, h('time', {datetime: e.time}, ctx.fmtTime(e.time, {precise: true})),
      h('span', {class: 'muted'}, ' (' + e.time + ')'))],
    ['Kind', h('span', {class: 'badge'}, e.kind)],
    ['Action', e.action],
    ['Severity', e.severity ? h('span', {class: e.severity === 'error' || e.severity === 'critical' ? 'badge badge-bad' : e.severity === 'warning' ? 'badge badge-warn' : 'badge'}, e.severity) : ''],
    ['Message', e.message],
    ['Tenant', e.tenant ? h('a', {href: listURL({tenant: e.tenant})}, e.tenant) : ''],
    ['Service', e.service],
    ['Tool', e.tool],
    ['Category', e.category],
  ]));

  const actorCard = card('Actor', 'ev-actor', kv([
    ['ID', actor.id ? h('a', {href: listURL({user_id: actor.id}), 'aria-label': 'Events by actor ' + actor.id}, actor.id) : ''],
    ['Name', actor.name],
    ['Email', actor.email],
    ['Type', actor.type],
  ]), actor.extra ? h('details', null, h('summary', null, 'Actor details'), json(actor.extra)) : null);

  const objectCard = card('Object', 'ev-object', kv([
    ['Type', object.type],
    ['ID', object.id ? mono(object.id) : ''],
    ['Shown as', object.repr],
  ]), object.type && object.id ? h('p', null, h('a', {href: listURL({object_type: object.type, object_id: object.id})},
    'Everything that happened to ' + object.type + ' ' + object.id)) : null);

  // ----- changes -----
  let changesCard = null;
  const changes = e.changes || {};
  const fields = Object.keys(changes).sort();
  if (fields.length) {
    const rows = fields.map((f) => {
      const c = changes[f] || {};
      const [oldCell, newCell] = diffCells(h, c.old, c.new);
      return h('tr', {'data-field': f}, h('th', {scope: 'row', class: 'mono'}, f), oldCell, newCell);
    });
    changesCard = card(`Changes (${fields.length})`, 'ev-changes',
      h('p', {class: 'muted'}, 'Old and new values side by side; removed text is struck through in red, added text is in green.'),
      h('div', {class: 'table-scroll'}, h('table', {class: 'diff', id: 'diff'},
        h('caption', {class: 'sr-only'}, 'Fields changed, with old and new values'),
        h('thead', null, h('tr', null, h('th', {scope: 'col', class: 'field-col'}, 'Field'),
          h('th', {scope: 'col'}, 'Old'), h('th', {scope: 'col'}, 'New'))),
        h('tbody', null, rows))));
  }

  // ----- request and response -----
  const headers = (hs, title) => {
    const keys = Object.keys(hs || {}).sort();
    if (!keys.length) return null;
    return h('details', null, h('summary', null, `${title} (${keys.length})`),
      h('table', {class: 'table'}, h('caption', {class: 'sr-only'}, title),
        h('tbody', null, keys.map((k) => h('tr', null, h('th', {scope: 'row', class: 'mono'}, k), h('td', {class: 'mono wrap-anywhere'}, hs[k]))))));
  };
  const body = (b, title, id) => (b ? h('div', null, h('h3', {id}, title), h('pre', {class: 'body', 'aria-labelledby': id, tabindex: '0'}, pretty(b))) : null);
  const hasReq = Object.keys(req).length > 0;
  const hasResp = Object.keys(resp).length > 0;
  const reqCard = hasReq ? card('Request', 'ev-request', kv([
    ['Method', req.method],
    ['Host', req.host],
    ['Path', req.path ? mono(req.path) : ''],
    ['Route', req.route ? mono(req.route) : ''],
    ['Query', req.query ? mono(req.query) : ''],
    ['Client IP', req.remote_ip ? h('a', {href: listURL({remote_ip: req.remote_ip}), class: 'mono'}, req.remote_ip) : ''],
    ['User agent', req.user_agent],
    ['Browser', [req.browser, req.os, req.platform, req.device].filter(Boolean).join(' · ')],
    ['Origin', req.origin],
    ['Referer', req.referer],
    ['Request id', mono(req.request_id)],
    ['Trace id', mono(req.trace_id)],
    ['Span id', mono(req.span_id)],
  ]), headers(req.headers, 'Request headers'), body(req.body, 'Request body', 'ev-req-body')) : null;
  const respCard = hasResp ? card('Response', 'ev-response', kv([
    ['Status', resp.status ? String(resp.status) : ''],
    ['Duration', fmtDuration(resp.duration_ns)],
    ['Request size', resp.request_bytes ? fmtBytes(resp.request_bytes) : ''],
    ['Response size', resp.response_bytes ? fmtBytes(resp.response_bytes) : ''],
  ]), headers(resp.headers, 'Response headers'), body(resp.body, 'Response body', 'ev-resp-body')) : null;
  const geoCard = geo.country || geo.city || geo.lat || geo.lon ? card('Location', 'ev-geo', kv([
    ['Country', [geo.country, geo.country_code ? '(' + geo.country_code + ')' : ''].filter(Boolean).join(' ')],
    ['City', geo.city],
    ['Coordinates', geo.lat || geo.lon ? `${geo.lat}, ${geo.lon}` : ''],
  ])) : null;
  const extraCard = e.extra && Object.keys(e.extra).length ? card('Extra', 'ev-extra', kv(Object.keys(e.extra).sort().map((k) => {
    const v = e.extra[k];
    return [k, typeof v === 'object' && v !== null ? h('pre', {class: 'body'}, JSON.stringify(v, null, 2)) : String(v)];
  }))) : null;

  // ----- integrity -----
  const integrityCard = renderIntegrity(ctx, e);

  // ----- resolution -----
  const resolutionCard = card('Resolution', 'ev-resolution', h('p', {class: 'muted', id: 'resolution-state'}, 'Loading…'));

  const raw = h('details', {class: 'card'}, h('summary', null, 'Raw JSON'), json(e));

  root.append(h('div', {class: 'page event-page', 'data-id': e.id},
    h('h1', null, `${e.kind} · ${e.action}`),
    e.message ? h('p', {class: 'lead'}, e.message) : null,
    head,
    h('div', {class: 'grid-2'}, summary, actorCard, (object.type || object.id || object.repr) ? objectCard : null, integrityCard),
    changesCard,
    h('div', {class: 'grid-2'}, reqCard, respCard, geoCard),
    extraCard,
    resolutionCard,
    raw));

  await loadResolution(ctx, e, resolutionCard);
}

// diffCells returns the old and new cells of one change, with the
// parts that differ marked.
function diffCells(h, oldV, newV) {
  const absent = (v) => v === null || v === undefined;
  if (absent(oldV) && absent(newV)) {
    return [h('td', {class: 'old'}, h('span', {class: 'absent'}, 'none')), h('td', {class: 'new'}, h('span', {class: 'absent'}, 'none'))];
  }
  if (absent(oldV)) {
    return [h('td', {class: 'same'}, h('span', {class: 'absent'}, 'none')), h('td', {class: 'new'}, h('pre', null, h('ins', null, show(newV))))];
  }
  if (absent(newV)) {
    return [h('td', {class: 'old'}, h('pre', null, h('del', null, show(oldV)))), h('td', {class: 'same'}, h('span', {class: 'absent'}, 'none'))];
  }
  const a = show(oldV);
  const b = show(newV);
  const structured = typeof oldV === 'object' || typeof newV === 'object';
  const ops = diffTokens(tokens(a, structured), tokens(b, structured));
  if (!ops) {
    return [h('td', {class: 'old'}, h('pre', null, h('del', null, a))), h('td', {class: 'new'}, h('pre', null, h('ins', null, b)))];
  }
  const oldPre = h('pre');
  const newPre = h('pre');
  for (const o of ops) {
    if (o.op === 'same') {
      oldPre.append(o.text);
      newPre.append(o.text);
    } else if (o.op === 'del') {
      oldPre.append(h('del', null, o.text));
    } else {
      newPre.append(h('ins', null, o.text));
    }
  }
  if (typeof oldV !== typeof newV) {
    oldPre.append(h('span', {class: 'muted'}, ` (${typeof oldV})`));
    newPre.append(h('span', {class: 'muted'}, ` (${typeof newV})`));
  }
  return [h('td', {class: 'old'}, oldPre), h('td', {class: 'new'}, newPre)];
}

// pretty indents a body that is JSON, and leaves others as they are.
function pretty(b) {
  const t = b.trim();
  if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
    try {
      return JSON.stringify(JSON.parse(t), null, 2);
    } catch {
      return b;
    }
  }
  return b;
}

function renderIntegrity(ctx, e) {
  const {h} = ctx;
  const st = e.integrity;
  const section = h('section', {class: 'card', 'aria-labelledby': 'ev-integrity', id: 'integrity'}, h('h2', {id: 'ev-integrity'}, 'Integrity'));
  if (!st) {
    section.append(h('p', {class: 'muted', id: 'integrity-status'}, 'This server does not seal events (integrity is off), so there is no seal to check.'));
    return section;
  }
  const dl = h('dl', {class: 'kv'},
    h('dt', null, 'Status'), h('dd', null, h('span', {class: INTEGRITY_BADGE[st.status] || 'badge', id: 'integrity-status'}, st.status)),
    st.chain ? [h('dt', null, 'Chain'), h('dd', {class: 'mono'}, st.chain)] : null,
    st.seq !== undefined ? [h('dt', null, 'Sequence'), h('dd', null, String(st.seq))] : null,
    st.hash ? [h('dt', null, 'Hash'), h('dd', {class: 'mono wrap-anywhere'}, st.hash)] : null,
    st.checkpoint !== undefined ? [h('dt', null, 'Checkpoint'), h('dd', null, 'covers up to ' + st.checkpoint)] : null);
  const out = h('div', {id: 'proof-out', 'aria-live': 'polite'});
  const btn = h('button', {type: 'button', class: 'btn', id: 'fetch-proof', onclick: async () => {
    btn.disabled = true;
    out.replaceChildren(h('p', {class: 'muted'}, 'Fetching the proof…'));
    try {
      const pr = await ctx.api('events/' + encodeURIComponent(e.id) + '/proof');
      out.replaceChildren(proofView(ctx, e, pr));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw err;
      out.replaceChildren(h('p', {class: 'form-error', role: 'alert'}, 'No proof: ' + err.message));
    } finally {
      btn.disabled = false;
    }
  }}, 'Show inclusion proof');
  section.append(h('p', null, INTEGRITY_TEXT[st.status] || ''), dl,
    st.status === 'sealed' || st.status === 'checkpointed' ? h('div', {class: 'form-actions'}, btn) : null, out);
  return section;
}

function proofView(ctx, e, pr) {
  const {h} = ctx;
  const cp = pr.checkpoint || {};
  return h('div', {class: 'proof', id: 'proof'},
    h('h3', null, 'Inclusion proof (RFC 6962)'),
    h('dl', {class: 'kv'},
      h('dt', null, 'Leaf index'), h('dd', null, String(pr.leaf_index)),
      h('dt', null, 'Tree size'), h('dd', null, String(pr.tree_size)),
      h('dt', null, 'Leaf hash'), h('dd', {class: 'mono wrap-anywhere'}, String(pr.leaf_hash)),
      h('dt', null, 'Signed by key'), h('dd', {class: 'mono'}, pr.key_id || ''),
      cp.to_seq !== undefined ? [h('dt', null, 'Checkpoint'), h('dd', null, 'up to seq ' + cp.to_seq)] : null,
      h('dt', null, 'Path'), h('dd', null, (pr.proof || []).length + ' hashes')),
    h('ol', {class: 'mono wrap-anywhere'}, (pr.proof || []).map((x) => h('li', null, String(x)))),
    pr.checkpoint_body ? h('details', null, h('summary', null, 'Signed checkpoint'), h('pre', {class: 'body'}, pr.checkpoint_body)) : null,
    h('p', null, h('a', {href: ctx.apiURL('events/' + encodeURIComponent(e.id) + '/proof'), download: 'proof-' + e.id + '.json', class: 'btn btn-small'},
      'Download the proof (JSON)'), ' ',
    h('span', {class: 'muted'}, 'Check it offline with activitylog verify.')));
}

async function loadResolution(ctx, e, section) {
  const {h} = ctx;
  const state = section.querySelector('#resolution-state');
  let res = null;
  try {
    res = await ctx.api('events/' + encodeURIComponent(e.id) + '/resolution');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    if (err instanceof ApiError && err.status === 501) {
      section.remove(); // the store keeps no resolutions
      return;
    }
    if (!(err instanceof ApiError && err.code === 'not_resolved')) {
      state.textContent = 'Cannot read the resolution: ' + err.message;
      return;
    }
  }
  const show = (r) => {
    state.replaceChildren(r
      ? h('span', null, h('span', {class: 'badge badge-ok'}, 'resolved'), ` by ${r.resolved_by} at ${ctx.fmtTime(r.resolved_at)}`,
        r.note ? h('span', null, ': ', r.note) : null)
      : h('span', null, h('span', {class: 'badge'}, 'open'), ' Not resolved.'));
    state.classList.remove('muted');
  };
  show(res);
  if (ctx.readOnly || !ctx.can('resolve_events')) return;
  const note = h('textarea', {id: 'resolve-note', name: 'note', rows: '2', maxlength: '65536'});
  const err = h('p', {class: 'form-error', role: 'alert', hidden: true, id: 'resolve-error'});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'resolve-submit'}, res ? 'Resolve again' : 'Mark resolved');
  const form = h('form', {class: 'resolve-form', 'aria-label': 'Resolve this event', onsubmit: async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    err.hidden = true;
    try {
      const r = await ctx.api('events/' + encodeURIComponent(e.id) + '/resolve', {method: 'POST', body: {note: note.value}});
      show(r);
      note.value = '';
      submit.textContent = 'Resolve again';
      ctx.announce && ctx.announce('Event resolved');
    } catch (x) {
      if (x instanceof ApiError && x.status === 401) throw x;
      err.textContent = x.message;
      err.hidden = false;
    } finally {
      submit.disabled = false;
    }
  }},
  h('div', {class: 'field'}, h('label', {for: 'resolve-note'}, 'Note (optional)'), note),
  err, h('div', {class: 'form-actions'}, submit));
  section.append(form);
}
