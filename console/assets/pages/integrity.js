// The integrity page: run the verifier through
// GET /api/v1/integrity/verify and show its report per chain, with
// every finding; link to the public key that signs the checkpoints;
// download the offline bundle of the same selection
// (GET /api/v1/integrity/bundle) and say how to check it.

import {ApiError} from '../lib/api.js';
import {fmtCount, fromInputValue, toInputValue, zoneLabel} from '../lib/format.js';

const KINDS = [
  ['', 'All kinds'], ['crud', 'Data changes'], ['auth', 'Auth'], ['request', 'Requests'], ['cors', 'CORS'],
  ['system', 'System'], ['export', 'Exports'], ['external', 'External calls'], ['custom', 'Custom'],
];

// A chain id, as integrity.ValidateChainID takes it.
const CHAIN_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// What each finding's reason means (docs/integrity.md, Verification).
const REASONS = {
  modified: 'the event changed after it was sealed',
  missing: 'events are gone from the chain',
  inserted: 'an event that the chain did not seal',
  reordered: 'events are out of their sealed order',
  truncated: 'the newest events of the chain are gone',
  missing_hash: 'an event without a seal',
  bad_signature: 'a checkpoint whose signature does not verify',
  checkpoint_mismatch: 'a checkpoint that does not match the events or the one before it',
};

export async function render(root, ctx) {
  const {h} = ctx;
  ctx.setTitle('Integrity');
  const page = h('div', {class: 'page integrity-page'}, h('h1', null, 'Integrity'));
  root.append(page);

  // Is the trail sealed? The public key answers anyone, and is absent
  // (404) when the server does not seal.
  let keys = null;
  try {
    keys = (await ctx.api('integrity/public-key')).keys || [];
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 501)) {
      page.append(sealingOff(h));
      return;
    }
    throw e;
  }

  const params = ctx.params;
  const controls = {
    chain: h('input', {id: 'int-chain', name: 'chain', type: 'text', value: params.get('chain') || '', autocomplete: 'off',
      spellcheck: 'false', placeholder: 'every chain'}),
    kind: h('select', {id: 'int-kind', name: 'kind'},
      KINDS.map(([v, label]) => h('option', {value: v, selected: (params.get('kind') || '') === v}, label))),
    from: h('input', {id: 'int-from', name: 'from', type: 'datetime-local', step: '1', value: toInputValue(params.get('from'))}),
    to: h('input', {id: 'int-to', name: 'to', type: 'datetime-local', step: '1', value: toInputValue(params.get('to'))}),
  };
  const labels = {chain: 'Chains (ids, comma-separated)', kind: 'Kind', from: 'From (' + zoneLabel() + ')', to: 'To (' + zoneLabel() + ')'};
  const errorBox = h('p', {class: 'form-error', id: 'int-error', role: 'alert', hidden: true});
  const bundleError = h('p', {class: 'form-error', id: 'int-bundle-error', role: 'alert', hidden: true});
  const runBtn = h('button', {type: 'submit', class: 'btn btn-primary', id: 'int-run'}, 'Run verification');
  const result = h('div', {id: 'int-result', 'aria-live': 'polite'});

  const canVerify = ctx.can('superuser') || (ctx.can('view_all_logs') && !ctx.me.tenant);
  const form = h('form', {class: 'card filters', id: 'int-form', 'aria-label': 'Verification',
    onsubmit: (ev) => {
      ev.preventDefault();
      run();
    }},
  Object.keys(controls).map((k) => h('div', {class: 'field'}, h('label', {for: controls[k].id}, labels[k]), controls[k])),
  h('div', {class: 'form-actions field-wide'}, runBtn,
    h('span', {class: 'muted'}, 'Reads every selected event and checkpoint: on a large trail this takes a while.')));

  page.append(
    h('p', {class: 'lead'}, 'The verifier recomputes every seal, hash link, Merkle root and checkpoint signature of the stored trail, ' +
      'and reports each fault: an event changed, deleted, inserted or reordered, a chain cut short, a checkpoint forged.'),
    canVerify ? form : h('p', {class: 'notice', id: 'int-forbidden'},
      'Verification reads the whole trail across tenants: it needs superuser, or view_all_logs without a tenant. ' +
      'Each event page still shows that event\'s own seal status.'),
    errorBox, result,
    keyCard(ctx, keys));

  // showError says what is wrong in box (the verification's, or the
  // bundle's) and marks the field it names.
  const showError = (text, field, box = errorBox) => {
    for (const b of [errorBox, bundleError]) {
      b.textContent = b === box ? text : '';
      b.hidden = b !== box || !text;
    }
    for (const c of Object.values(controls)) {
      c.removeAttribute('aria-invalid');
      c.removeAttribute('aria-describedby');
    }
    if (text && field && controls[field]) {
      controls[field].setAttribute('aria-invalid', 'true');
      controls[field].setAttribute('aria-describedby', box.id);
    }
  };

  // selection reads the form as the API's query, checked as the server
  // checks it (chain ids, dates, from before to): {query}, or {error,
  // field} naming what is wrong.
  const selection = () => {
    const query = {};
    const chain = controls.chain.value.replace(/\s+/g, '');
    if (chain) {
      const bad = chain.split(',').find((id) => !CHAIN_ID.test(id));
      if (bad !== undefined) {
        return {field: 'chain', error: labels.chain + ': "' + bad + '" is not a chain id (1 to 128 ASCII letters, digits, ' +
          '".", "_", ":", "-"; several are separated by commas).'};
      }
      query.chain = chain;
    }
    if (controls.kind.value) query.kind = controls.kind.value;
    for (const k of ['from', 'to']) {
      const v = fromInputValue(controls[k].value);
      if (v === null) return {field: k, error: labels[k] + ': "' + controls[k].value + '" is not a date and time.'};
      if (v) query[k] = v;
    }
    if (query.from && query.to && Date.parse(query.from) >= Date.parse(query.to)) {
      return {field: 'to', error: labels.to + ' must be after ' + labels.from + '.'};
    }
    return {query};
  };

  // The bundle: a plain link (the session cookie goes with it, and the
  // browser streams the file to disk), kept in step with the form. An
  // anchor cannot read an error answer, so the link is checked as
  // verification is before it is followed.
  if (canVerify) {
    const link = h('a', {class: 'btn btn-primary', id: 'int-bundle-link', download: true, 'data-native': '',
      href: ctx.apiURL('integrity/bundle', selection().query || {}),
      onclick: (ev) => {
        const sel = selection();
        if (sel.error) {
          ev.preventDefault();
          showError(sel.error, sel.field, bundleError);
          controls[sel.field].focus();
          return;
        }
        link.href = ctx.apiURL('integrity/bundle', sel.query);
        showError('');
        ctx.announce('Downloading the offline bundle');
      }}, 'Download offline bundle');
    const what = h('span', {class: 'muted', id: 'int-bundle-selection'});
    const sync = () => {
      const sel = selection();
      if (sel.error) {
        what.textContent = 'Fix the selection above first.';
        return;
      }
      link.href = ctx.apiURL('integrity/bundle', sel.query);
      what.textContent = describe(ctx, sel.query);
    };
    form.addEventListener('input', sync);
    form.addEventListener('change', sync);
    sync();
    page.append(bundleCard(ctx, h('div', null, h('div', {class: 'form-actions'}, link, what), bundleError)));
  } else {
    page.append(bundleCard(ctx, h('p', {class: 'notice', id: 'int-bundle-forbidden'},
      'Downloading a bundle needs what verification needs, since it holds every tenant\'s events: superuser, ' +
      'or view_all_logs without a tenant.')));
  }

  let controller = null;
  const run = async () => {
    const sel = selection();
    if (sel.error) return showError(sel.error, sel.field);
    const query = sel.query;
    // Keep the selection in the URL, so the same check can be shared.
    history.replaceState(null, '', ctx.url('/integrity', query));
    showError('');
    if (controller) controller.abort();
    controller = new AbortController();
    runBtn.disabled = true;
    runBtn.textContent = 'Verifying…';
    result.replaceChildren(h('p', {class: 'muted', id: 'int-running'}, 'Verifying the trail…'));
    const started = performance.now();
    try {
      const rep = await ctx.api('integrity/verify', {query, signal: controller.signal});
      result.replaceChildren(report(ctx, rep, (performance.now() - started) / 1000));
      ctx.announce(rep.ok ? 'Verification passed' : 'Verification found ' + fmtCount(rep.findings.length + (rep.findings_omitted || 0)) + ' faults');
    } catch (e) {
      if (e.name === 'AbortError') return;
      result.replaceChildren();
      if (e instanceof ApiError && e.status === 429) {
        showError('Another verification is running, and only one runs at a time. Try again in a moment. (' + e.message + ')');
      } else if (e instanceof ApiError && (e.status === 404 || e.status === 501)) {
        result.replaceChildren(sealingOff(h));
      } else if (e instanceof ApiError && e.field) {
        showError(e.message, e.field);
      } else if (!(e instanceof ApiError && e.status === 401)) {
        showError('Verification failed: ' + e.message);
      }
    } finally {
      runBtn.disabled = false;
      runBtn.textContent = 'Run verification';
    }
  };

  // A shared link (?run=1 or any selection) runs at once.
  if (canVerify && (params.get('run') === '1' || ['chain', 'kind', 'from', 'to'].some((k) => params.get(k)))) run();

  return () => {
    if (controller) controller.abort();
  };
}

function sealingOff(h) {
  return h('div', {class: 'card', id: 'int-off'},
    h('h2', null, 'This server does not seal its trail'),
    h('p', null, 'Without sealing there are no hash chains, checkpoints or proofs to verify. ' +
      'Start the server with a signing key to seal every new event:'),
    h('pre', {class: 'body'}, 'activitylog keys generate --dir /etc/activitylog\n' +
      'activitylog serve --integrity-signing-key /etc/activitylog/activitylog-signing.key'),
    h('p', {class: 'muted'}, 'See docs/sealing.md for the settings, and "activitylog verify --fix" to seal the events written before.'));
}

function keyCard(ctx, keys) {
  const {h} = ctx;
  return h('section', {class: 'card', 'aria-labelledby': 'int-keys-title', id: 'int-keys'},
    h('h2', {id: 'int-keys-title'}, 'Public key'),
    h('p', null, 'Checkpoints are signed with Ed25519. Compare the key with one you got from somewhere other than this server before trusting a result. ',
      h('a', {href: ctx.apiURL('integrity/public-key'), 'data-native': '', id: 'int-key-link'}, 'The key as JSON')),
    keys.length === 0 ? h('p', {class: 'notice'}, 'The server trusts no key: no checkpoint can verify.')
      : keys.map((k) => h('details', null,
        h('summary', null, 'Key ', h('code', null, k.key_id), ' (' + k.algorithm + ')'),
        h('pre', {class: 'body'}, k.pem))));
}

// describe says in words what a selection holds.
function describe(ctx, q) {
  const parts = [q.chain ? (q.chain.includes(',') ? 'chains ' : 'chain ') + q.chain.split(',').join(', ') : 'every chain',
    q.kind ? 'kind ' + q.kind : 'every kind'];
  if (q.from || q.to) parts.push((q.from ? 'from ' + ctx.fmtTime(q.from) : 'from the start') + (q.to ? ' to ' + ctx.fmtTime(q.to) : ' to now'));
  else parts.push('all time');
  return 'Holds ' + parts.join(', ') + '.';
}

// bundleCard explains the offline bundle around control (the download
// link, or why there is none) and shows how to check one.
function bundleCard(ctx, control) {
  const {h} = ctx;
  return h('section', {class: 'card', 'aria-labelledby': 'int-bundle-title', id: 'int-bundle'},
    h('h2', {id: 'int-bundle-title'}, 'Offline bundle'),
    h('p', null, 'An offline bundle holds the events, their seals, the checkpoints, the proofs and the public keys in one file, ' +
      'which an auditor verifies with no access to this server or its database. A download holds the chains, kind and time range ' +
      'chosen for verification, and is recorded in the trail as an export.'),
    control,
    h('p', null, 'Check it with the command line, with a public key you got from somewhere other than this server:'),
    h('pre', {class: 'body', id: 'int-bundle-verify'}, 'activitylog verify --bundle activitylog-bundle-<time>.ndjson.gz \\\n' +
      '  --public-key activitylog-signing.pub'),
    h('p', {class: 'muted'}, 'The browser cannot show why a download failed. It fails for an unknown chain, ' +
      'and while another bundle is being written (try again in a moment). ' +
      'Fetched with curl, the same address answers the reason (docs/integrity.md, "Downloading one from the server"). ' +
      'Or make the bundle on the server\'s host:'),
    h('pre', {class: 'body'}, 'activitylog export --with-proofs --db ./activitylog.db \\\n' +
      '  --public-key activitylog-signing.pub --out trail.bundle   # --chain, --kind, --from, --to select'),
    h('p', {class: 'muted'}, 'See docs/integrity.md, "Offline bundles".'));
}

// report renders the verifier's answer.
function report(ctx, rep, seconds) {
  const {h} = ctx;
  const nFindings = rep.findings.length + (rep.findings_omitted || 0);
  const out = h('div', {class: 'int-report'});
  out.append(h('div', {class: 'card', id: 'int-summary'},
    h('h2', null, 'Result ',
      rep.ok ? h('span', {class: 'badge badge-ok', id: 'int-verdict'}, 'verified')
        : h('span', {class: 'badge badge-bad', id: 'int-verdict'}, fmtCount(nFindings) + (nFindings === 1 ? ' finding' : ' findings'))),
    h('p', null, rep.ok
      ? `Every one of the ${fmtCount(rep.total)} events read verified, with no finding.`
      : 'The trail does not verify: see each finding below.'),
    h('dl', {class: 'kv'},
      h('dt', null, 'Events read'), h('dd', {id: 'int-total'}, fmtCount(rep.total)),
      h('dt', null, 'Verified'), h('dd', {id: 'int-verified'}, fmtCount(rep.verified)),
      h('dt', null, 'Without a seal'), h('dd', null, fmtCount(rep.unsealed)),
      h('dt', null, 'Checkpoints'), h('dd', null, `${fmtCount(rep.checkpoints_verified)} verified of ${fmtCount(rep.checkpoints)}` +
        (rep.checkpoints_pruned ? `, ${fmtCount(rep.checkpoints_pruned)} over pruned events` : '')),
      Object.keys(rep.counts || {}).length
        ? [h('dt', null, 'Findings by reason'), h('dd', null, Object.entries(rep.counts).map(([r, n]) => `${r} ${fmtCount(n)}`).join(', '))]
        : null,
      h('dt', null, 'Took'), h('dd', null, seconds.toFixed(1) + ' s'))));

  const chains = rep.chains || [];
  out.append(h('section', {class: 'card', 'aria-labelledby': 'int-chains-title'},
    h('h2', {id: 'int-chains-title'}, 'Chains'),
    chains.length === 0 ? h('p', {class: 'muted'}, 'No chain: nothing was sealed yet.')
      : h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'int-chains'},
        h('caption', {class: 'sr-only'}, 'Each chain verified'),
        h('thead', null, h('tr', null,
          ['Chain', 'Status', 'Events', 'Verified', 'Length', 'Checkpoints', 'Anchored to'].map((c, i) =>
            h('th', {scope: 'col', class: i >= 2 ? 'num' : null}, c)))),
        h('tbody', null, chains.map((c) => {
          const n = rep.findings.filter((f) => f.chain === c.id).length;
          const bad = n > 0 || c.entries !== c.verified;
          return h('tr', {'data-chain': c.id},
            h('th', {scope: 'row', class: 'mono wrap-anywhere'}, c.id, c.key_id ? h('div', {class: 'muted'}, 'HMAC key ' + c.key_id) : null),
            h('td', null, bad ? h('span', {class: 'badge badge-bad'}, n ? fmtCount(n) + (n === 1 ? ' finding' : ' findings') : 'not verified')
              : h('span', {class: 'badge badge-ok'}, 'verified')),
            h('td', {class: 'num'}, fmtCount(c.entries)),
            h('td', {class: 'num'}, fmtCount(c.verified)),
            h('td', {class: 'num'}, fmtCount(c.length)),
            h('td', {class: 'num'}, `${fmtCount(c.checkpoints_verified)} / ${fmtCount(c.checkpoints)}`),
            h('td', {class: 'num'}, 'seq ' + fmtCount(c.anchored) + (c.pruned_to ? ` (pruned to ${fmtCount(c.pruned_to)})` : '')));
        }))))));

  if (rep.findings.length) {
    out.append(h('section', {class: 'card', 'aria-labelledby': 'int-findings-title'},
      h('h2', {id: 'int-findings-title'}, 'Findings'),
      h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'int-findings'},
        h('caption', {class: 'sr-only'}, 'Each fault found, by chain and seq'),
        h('thead', null, h('tr', null, ['Reason', 'Chain', 'Seq', 'Event', 'Detail'].map((c) => h('th', {scope: 'col'}, c)))),
        h('tbody', null, rep.findings.map((f) => h('tr', {'data-reason': f.reason},
          h('td', null, h('span', {class: 'badge badge-bad', title: REASONS[f.reason] || ''}, f.reason)),
          h('td', {class: 'mono wrap-anywhere'}, f.chain || '—'),
          h('td', {class: 'num nowrap'}, f.seq ? String(f.seq) + (f.end_seq ? '…' + f.end_seq : '') : '—'),
          h('td', {class: 'mono'}, f.event_id ? h('a', {href: ctx.url('/events/' + encodeURIComponent(f.event_id))}, f.event_id) : '—'),
          h('td', {class: 'wrap-anywhere'}, f.detail)))))),
      rep.findings_omitted ? h('p', {class: 'notice'}, `${fmtCount(rep.findings_omitted)} more findings are not listed. ` +
        'Narrow the check to one chain, or run "activitylog verify" on the server, which lists them all.') : null));
  }
  return out;
}
