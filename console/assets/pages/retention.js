// The retention page (/admin/retention, manage_retention; issue 9):
// the retention policies (GET/POST /api/v1/retention-policies,
// GET/PUT/DELETE /api/v1/retention-policies/{id}), what a run would
// delete (POST /api/v1/retention-policies/dry-run, and
// POST …/{id}/run-now?dry_run=true for one policy), and a run now
// (POST …/{id}/run-now), whose report is shown before the table is read
// again. docs/retention.md says what a policy does.
//
// Read-only mode (ctx.readOnly) hides every control that changes
// something; the dry runs, which delete nothing, stay.

import {ApiError} from '../lib/api.js';
import {confirmDialog, fieldErrors} from '../lib/forms.js';

// The kinds a policy may name (retention.Policy.Kind), "all" first.
const KINDS = ['all', 'crud', 'auth', 'request', 'cors', 'external', 'system', 'export', 'custom'];

// A checkbox keeps its own size inside .filters.
const CHECKBOX = {width: 'auto', minHeight: '0', verticalAlign: 'middle', margin: '0 .25rem 0 0'};

// The routes' statuses that say the server does not serve them.
const ABSENT = new Set([404, 405, 501]);

const kindLabel = (k) => (k === 'all' ? 'all kinds' : k);

// byKindText is "crud 3, request 120" of a {kind: count} map, or "none".
function byKindText(m) {
  const parts = Object.entries(m || {}).filter(([, n]) => n).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`);
  return parts.length ? parts.join(', ') : 'none';
}

// tenantsText says whose events a policy (or a rule) covers.
function tenantsText(p) {
  if (p.all_tenants) return 'every tenant';
  return p.tenant ? p.tenant : 'events without a tenant';
}

export async function retentionPage(page, ctx, editable, after) {
  const {h} = ctx;
  const me = ctx.me || {};
  const bound = Boolean(me.tenant); // a principal with a tenant manages its tenant's policies only
  page.append(h('p', {class: 'lead', id: 'ret-intro'},
    'A retention policy deletes the events of a kind (or of all kinds) once they are older than its number of days, ' +
    'daily, on one replica. Every change and every run is itself recorded in the trail, and those records are never deleted.'),
  h('p', {class: 'muted', id: 'ret-rules'},
    'Days are whole days in UTC: a 30-day policy run at any time on 15 June deletes what was recorded before 16 May, 00:00 UTC. ' +
    'For the same tenants, a policy for one kind beats the policy for all kinds. ' +
    'Events no active policy covers are kept for default_retention_days, from the server\'s configuration (0, the default: forever).'));

  const status = h('p', {class: 'muted', id: 'ret-status', role: 'status'});
  const error = h('p', {class: 'form-error', id: 'ret-error', role: 'alert', hidden: true});
  const list = h('div', {id: 'ret-list'});
  const result = h('div', {id: 'ret-result', 'aria-live': 'polite'});
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  let policies;
  try {
    policies = await readPolicies(ctx);
  } catch (e) {
    if (!(e instanceof ApiError && ABSENT.has(e.status))) throw e;
    page.append(h('section', {class: 'card', id: 'admin-pending'},
      h('h2', null, 'Not available here'),
      h('p', null, 'This server does not serve retention policies (GET /api/v1/retention-policies, issue 9): ' +
        'its event store cannot delete events, or it is older than that API. Events are kept until a purge.')));
    if (after) page.append(after);
    return;
  }

  // ----- the form: create, and edit -----
  let form = null;
  if (editable) {
    form = policyForm(ctx, bound, async (saved, created) => {
      status.textContent = `Policy ${saved.name} ${created ? 'made' : 'saved'}.`;
      ctx.announce(`Policy ${saved.name} ${created ? 'made' : 'saved'}`);
      await load();
    });
  }

  // ----- delete, with a confirmation dialog -----
  const delDialog = confirmDialog(ctx, 'ret-delete', 'Delete policy', (p) => remove(p));
  const remove = async (p) => {
    try {
      await ctx.api('retention-policies/' + encodeURIComponent(p.id), {method: 'DELETE'});
      showError('');
      status.textContent = `Policy ${p.name} deleted.`;
      ctx.announce(`Policy ${p.name} deleted`);
      if (form && form.editing() === p.id) form.startCreate();
      await load();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showError(`Policy ${p.name} could not be deleted: ${e.message}`);
    }
  };
  const confirmDelete = (p) => delDialog.ask(p, `Delete policy "${p.name}"?`,
    `The policy (${p.id}) stops deleting ${kindLabel(p.kind)} events of ${tenantsText(p)}. ` +
    'The events it already deleted do not come back; the deletion is recorded in the trail.');

  // ----- run now, after a dry run in a confirmation dialog -----
  const runDialog = confirmDialog(ctx, 'ret-run', 'Run now', (p) => runNow(p));
  const runNow = async (p) => {
    status.textContent = `Running ${p.name}…`;
    try {
      const rep = await ctx.api('retention-policies/' + encodeURIComponent(p.id) + '/run-now', {method: 'POST'});
      showError('');
      result.replaceChildren(reportView(ctx, p, rep));
      status.textContent = `Policy ${p.name} ran: ${rep.deleted} events deleted.`;
      ctx.announce(`Policy ${p.name} ran: ${rep.deleted} events deleted`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      status.textContent = '';
      showError(`Policy ${p.name} failed: ${e.message}` +
        (e.code === 'no_archiver' ? ' Set archive_dir in the configuration, or turn archive off for this policy.' : ''));
    }
    await load(); // last run, records deleted, last error
  };
  const confirmRun = async (p) => {
    showError('');
    let plan;
    try {
      plan = await ctx.api('retention-policies/' + encodeURIComponent(p.id) + '/run-now', {method: 'POST', query: {dry_run: 'true'}});
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showError(`Policy ${p.name} could not be counted: ${e.message}`);
      return;
    }
    runDialog.ask(p, `Run policy "${p.name}" now?`, `It deletes ${plan.count} events now (${byKindText(plan.by_kind)}), ` +
      `those of ${tenantsText(p)} recorded more than ${p.retain_days} whole days ago` +
      (p.archive ? ', after archiving them' : '') + '. It cannot be undone. Sealed events that cannot be cut are kept.');
  };

  // ----- dry runs -----
  const dryRun = async (p) => {
    showError('');
    try {
      const plan = p
        ? await ctx.api('retention-policies/' + encodeURIComponent(p.id) + '/run-now', {method: 'POST', query: {dry_run: 'true'}})
        : await ctx.api('retention-policies/dry-run', {method: 'POST'});
      result.replaceChildren(planView(ctx, p, plan));
      status.textContent = `Dry run: ${plan.count} events would be deleted. Nothing was deleted.`;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showError('The dry run failed: ' + e.message);
    }
  };

  const actions = {
    edit: editable ? (p) => form.startEdit(p) : null,
    remove: editable ? confirmDelete : null,
    run: editable ? confirmRun : null,
    dry: dryRun,
  };
  async function load() {
    let ps = policies;
    policies = null;
    if (!ps) ps = await readPolicies(ctx);
    list.replaceChildren(policiesTable(ctx, ps, actions));
  }

  if (form) page.append(form.el, delDialog.el, runDialog.el);
  page.append(error, h('section', {class: 'card', id: 'ret-policies', 'aria-labelledby': 'ret-list-title'},
    h('div', {class: 'toolbar'},
      h('h2', {id: 'ret-list-title'}, 'Policies'),
      h('button', {type: 'button', class: 'btn', id: 'ret-dry-run', onclick: () => dryRun(null)}, 'Dry run of all active policies')),
    status, list, result,
    ctx.readOnly ? h('p', {class: 'muted'}, 'This console is read-only: policies are changed with the API.') : null));
  if (after) page.append(after);
  await load();
}

async function readPolicies(ctx) {
  const ans = await ctx.api('retention-policies');
  return (ans && ans.results) || [];
}

// policiesTable lists the policies, with their actions.
function policiesTable(ctx, ps, act) {
  const {h} = ctx;
  if (ps.length === 0) {
    return h('p', {class: 'muted', id: 'ret-empty'}, 'No retention policy yet: events are kept for default_retention_days ' +
      '(forever unless the configuration says otherwise).');
  }
  const yes = (b, on = 'yes', off = 'no') => h('span', {class: b ? 'badge badge-ok' : 'badge'}, b ? on : off);
  return h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'ret-table'},
    h('caption', {class: 'sr-only'}, 'Retention policies'),
    h('thead', null, h('tr', null,
      ['Name', 'Kind', 'Tenant', 'Days kept', 'Active', 'Archive', 'Last run', 'Records deleted', 'Last error']
        .map((c) => h('th', {scope: 'col'}, c)),
      h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Actions')))),
    h('tbody', null, ps.map((p) => h('tr', {'data-policy': p.id, 'data-name': p.name, 'data-active': String(p.active)},
      h('th', {scope: 'row'}, p.name, h('div', {class: 'muted mono'}, p.id)),
      h('td', {'data-col': 'kind'}, kindLabel(p.kind)),
      h('td', {'data-col': 'tenant'}, p.all_tenants ? 'every tenant' : (p.tenant || h('span', {class: 'muted'}, 'no tenant'))),
      h('td', {'data-col': 'retain_days'}, String(p.retain_days)),
      h('td', {'data-col': 'active'}, yes(p.active, 'active', 'inactive')),
      h('td', {'data-col': 'archive'}, p.archive ? 'yes' : 'no'),
      h('td', {'data-col': 'last_run', class: 'nowrap'}, p.last_run ? ctx.fmtTime(p.last_run) : h('span', {class: 'muted'}, 'never')),
      h('td', {'data-col': 'records_deleted'}, String(p.records_deleted || 0)),
      h('td', {'data-col': 'last_error', class: 'wrap-anywhere'},
        p.last_error ? h('span', {class: 'field-error'}, p.last_error) : h('span', {class: 'muted'}, 'none')),
      h('td', null, h('div', {class: 'ret-actions'},
        h('button', {type: 'button', class: 'btn btn-small ret-dry', 'aria-label': 'Dry run: ' + p.name,
          onclick: () => act.dry(p)}, 'Dry run'),
        act.run ? h('button', {type: 'button', class: 'btn btn-small ret-run', 'aria-label': 'Run now: ' + p.name,
          onclick: () => act.run(p)}, 'Run now') : null,
        act.edit ? h('button', {type: 'button', class: 'btn btn-small ret-edit', 'aria-label': 'Edit: ' + p.name,
          onclick: () => act.edit(p)}, 'Edit') : null,
        act.remove ? h('button', {type: 'button', class: 'btn btn-danger btn-small ret-delete', 'aria-label': 'Delete: ' + p.name,
          onclick: () => act.remove(p)}, 'Delete') : null)))))));
}

// kindsTable is a table of counts by kind, each row data-kind.
function kindsTable(ctx, id, caption, m, what) {
  const {h} = ctx;
  const rows = Object.entries(m || {}).filter(([, n]) => n).sort(([a], [b]) => a.localeCompare(b));
  if (rows.length === 0) return h('p', {class: 'muted', id}, 'None.');
  return h('table', {class: 'table ret-counts', id},
    h('caption', {class: 'sr-only'}, caption),
    h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Kind'), h('th', {scope: 'col'}, what))),
    h('tbody', null, rows.map(([k, n]) => h('tr', {'data-kind': k}, h('th', {scope: 'row'}, k), h('td', null, String(n))))));
}

// planView shows a dry run: what a run would delete now, per kind and
// per rule. p is the policy of a one-policy dry run, or null.
function planView(ctx, p, plan) {
  const {h} = ctx;
  const rules = plan.rules || [];
  return h('section', {class: 'ret-plan', id: 'ret-plan', 'aria-labelledby': 'ret-plan-title'},
    h('h3', {id: 'ret-plan-title'}, p ? `Dry run of ${p.name}` : 'Dry run of all active policies'),
    h('p', {id: 'ret-plan-total'}, `A run at ${ctx.fmtTime(plan.at)} would delete ${plan.count} events. Nothing was deleted. ` +
      'The records of purges and runs are never counted; sealed events a run must keep are counted here and reported as kept.'),
    kindsTable(ctx, 'ret-plan-kinds', 'Events a run would delete, by kind', plan.by_kind, 'Would delete'),
    rules.length === 0 ? h('p', {class: 'muted'}, 'No rule: no active policy, and no default_retention_days.')
      : h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'ret-plan-rules'},
        h('caption', null, 'The rules of the run, in their order'),
        h('thead', null, h('tr', null, ['Policy', 'Kinds left to it', 'Tenant', 'Days kept', 'Deletes before', 'Count', 'By kind']
          .map((c) => h('th', {scope: 'col'}, c)))),
        h('tbody', null, rules.map((r) => h('tr', {'data-policy': r.policy_id || 'default'},
          h('th', {scope: 'row'}, r.policy_id ? r.name : 'default_retention_days'),
          h('td', null, (r.kinds || []).length ? r.kinds.join(', ') : h('span', {class: 'muted'}, 'none: policies for each kind win')),
          h('td', null, tenantsText(r)),
          h('td', null, String(r.retain_days)),
          h('td', {class: 'nowrap'}, ctx.fmtTime(r.before)),
          h('td', null, String(r.count)),
          h('td', null, byKindText(r.by_kind))))))));
}

// reportView shows what a run of policy p did.
function reportView(ctx, p, rep) {
  const {h} = ctx;
  const rules = rep.rules || [];
  const byKind = {};
  let kept = 0;
  let pruned = 0;
  for (const r of rules) {
    for (const [k, n] of Object.entries(r.by_kind || {})) byKind[k] = (byKind[k] || 0) + n;
    kept += r.kept_sealed || 0;
    pruned += r.pruned || 0;
  }
  const errors = rules.filter((r) => r.error);
  return h('section', {class: 'ret-report', id: 'ret-report', 'aria-labelledby': 'ret-report-title'},
    h('h3', {id: 'ret-report-title'}, `Run of ${p.name}`),
    h('p', {id: 'ret-report-total'}, `Started ${ctx.fmtTime(rep.started_at)}: ${rep.deleted} events deleted` +
      (pruned ? `, ${pruned} of them cut from sealed chains under signed pruning records` : '') + '. ' +
      `Sealed events kept: ${kept}. The run is recorded in the trail.`),
    kindsTable(ctx, 'ret-report-kinds', 'Events deleted, by kind', byKind, 'Deleted'),
    h('dl', {class: 'kv', id: 'ret-report-detail'},
      h('dt', null, 'Kept sealed'), h('dd', {'data-field': 'kept_sealed'}, String(kept)),
      h('dt', null, 'Archived first'), h('dd', null, rules.some((r) => r.archived) ? 'yes' : 'no'),
      h('dt', null, 'Errors'), h('dd', {'data-field': 'errors'}, errors.length ? errors.map((r) => r.error).join('; ') : 'none')));
}

// policyForm is the New policy form, which also edits a policy
// (startEdit). The API checks every field; its error is shown beside
// the field it names (or above the button). onSaved(policy, created).
function policyForm(ctx, bound, onSaved) {
  const {h} = ctx;
  const me = ctx.me || {};
  // An error naming all_tenants shows beside the choice of tenants.
  const {general, errFor, show: showError, setInputs} = fieldErrors(ctx, 'ret', (f) => (f === 'all_tenants' ? 'tenants' : f));
  const title = h('h2', {id: 'ret-form-title'}, 'New policy');
  const name = h('input', {id: 'ret-name', name: 'name', type: 'text', required: true, maxlength: '128', autocomplete: 'off',
    'aria-describedby': 'ret-name-error'});
  const kind = h('select', {id: 'ret-kind', name: 'kind', 'aria-describedby': 'ret-kind-hint ret-kind-error'},
    KINDS.map((k) => h('option', {value: k}, kindLabel(k))));
  const days = h('input', {id: 'ret-days', name: 'retain_days', type: 'number', min: '1', max: '36500', step: '1', required: true,
    inputmode: 'numeric', 'aria-describedby': 'ret-days-hint ret-retain_days-error'});
  const everyTenant = h('input', {type: 'radio', name: 'ret-tenants', id: 'ret-every-tenant', value: 'all', checked: true, style: CHECKBOX});
  const oneTenant = h('input', {type: 'radio', name: 'ret-tenants', id: 'ret-one-tenant', value: 'one', style: CHECKBOX});
  const tenant = h('input', {id: 'ret-tenant', name: 'tenant', type: 'text', autocomplete: 'off', spellcheck: 'false',
    'aria-labelledby': 'ret-one-tenant-label',
    'aria-describedby': 'ret-tenant-hint ret-tenant-error', disabled: true});
  const syncTenant = () => {
    tenant.disabled = !oneTenant.checked;
  };
  everyTenant.addEventListener('change', syncTenant);
  oneTenant.addEventListener('change', syncTenant);
  const tenants = bound
    ? h('div', {class: 'field', id: 'ret-tenants'}, h('span', {class: 'label'}, 'Tenant'),
      h('span', null, me.tenant), h('span', {class: 'muted'}, 'Your policies are your tenant\'s.'), errFor('tenants'), errFor('tenant'))
    : h('fieldset', {class: 'field ret-tenants', id: 'ret-tenants', 'aria-describedby': 'ret-tenants-error'},
      h('legend', {class: 'label'}, 'Tenants'),
      h('label', null, everyTenant, 'Every tenant (and the events without one)'),
      h('label', {id: 'ret-one-tenant-label'}, oneTenant, 'One tenant:'),
      tenant,
      h('span', {class: 'muted', id: 'ret-tenant-hint'}, 'Empty: the events without a tenant.'),
      errFor('tenants'), errFor('tenant'));
  const active = h('input', {type: 'checkbox', id: 'ret-active', name: 'active', checked: true, style: CHECKBOX,
    'aria-describedby': 'ret-active-error'});
  const archive = h('input', {type: 'checkbox', id: 'ret-archive', name: 'archive', style: CHECKBOX,
    'aria-describedby': 'ret-archive-hint ret-archive-error'});
  setInputs({name, kind, retain_days: days, tenants: bound ? null : everyTenant, tenant, active, archive});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'ret-submit'}, 'Create policy');
  const cancel = h('button', {type: 'button', class: 'btn', id: 'ret-cancel-edit', hidden: true, onclick: () => startCreate()},
    'Cancel editing');
  let editing = null; // the policy being edited

  function startCreate() {
    editing = null;
    form.reset(); // back to the defaults, which reset() does not know:
    everyTenant.checked = true;
    active.checked = true;
    syncTenant();
    showError('');
    title.textContent = 'New policy';
    submit.textContent = 'Create policy';
    cancel.hidden = true;
    form.removeAttribute('data-editing');
  }
  function startEdit(p) {
    editing = p;
    showError('');
    name.value = p.name;
    kind.value = p.kind;
    days.value = String(p.retain_days);
    everyTenant.checked = p.all_tenants;
    oneTenant.checked = !p.all_tenants;
    tenant.value = p.all_tenants ? '' : p.tenant;
    syncTenant();
    active.checked = p.active;
    archive.checked = p.archive;
    title.textContent = `Edit policy "${p.name}"`;
    submit.textContent = 'Save changes';
    cancel.hidden = false;
    form.setAttribute('data-editing', p.id);
    form.scrollIntoView({block: 'start'});
    name.focus();
  }

  const form = h('form', {class: 'card', id: 'ret-form', 'aria-labelledby': 'ret-form-title', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {name: name.value.trim(), kind: kind.value, active: active.checked, archive: archive.checked};
      if (!body.name) return showError('Give the policy a name.', 'name');
      const d = days.value.trim();
      if (d === '') return showError('Give the number of whole days to keep the events, 1 to 36500.', 'retain_days');
      body.retain_days = Number(d);
      if (!bound) {
        body.all_tenants = everyTenant.checked;
        body.tenant = everyTenant.checked ? '' : tenant.value.trim();
      }
      const p = editing;
      submit.disabled = true;
      try {
        const saved = p
          ? await ctx.api('retention-policies/' + encodeURIComponent(p.id), {method: 'PUT', body})
          : await ctx.api('retention-policies', {method: 'POST', body});
        startCreate();
        await onSaved(saved, !p);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        if (e instanceof ApiError) showError(e.message, e.field);
        else showError('The policy could not be saved: ' + e.message);
      } finally {
        submit.disabled = false;
      }
    }},
  title,
  h('div', {class: 'filters'},
    h('div', {class: 'field'}, h('label', {for: 'ret-name'}, 'Name'), name, errFor('name')),
    h('div', {class: 'field'}, h('label', {for: 'ret-kind'}, 'Kind'), kind,
      h('span', {class: 'muted', id: 'ret-kind-hint'}, 'A policy for one kind beats the one for all kinds.'), errFor('kind')),
    h('div', {class: 'field'}, h('label', {for: 'ret-days'}, 'Days kept'), days,
      h('span', {class: 'muted', id: 'ret-days-hint'}, 'Whole days in UTC, 1 to 36500.'), errFor('retain_days')),
    h('div', {class: 'field field-wide'}, tenants),
    h('div', {class: 'field'}, h('label', null, active, 'Active'),
      h('span', {class: 'muted'}, 'Only active policies run daily.'), errFor('active')),
    h('div', {class: 'field'}, h('label', null, archive, 'Archive before deleting'),
      h('span', {class: 'muted', id: 'ret-archive-hint'}, 'Needs archive_dir in the configuration.'), errFor('archive'))),
  general,
  h('div', {class: 'form-actions'}, submit, cancel));
  return {el: form, startEdit, startCreate, editing: () => (editing ? editing.id : '')};
}
