// The databases page (/admin/databases, manage_database_config; issue 8):
// the database configurations that route a tenant's (or a kind's) events
// to a database of its own (GET/POST /api/v1/database-configs,
// GET/PUT/DELETE /api/v1/database-configs/{id}), each one's connection
// test (POST …/{id}/test-connection) and health check (POST
// …/{id}/health-check). docs/database-configs.md says what each field
// does.
//
// A password is write-only: the API answers has_password, never the
// password, and the form never shows one. Editing leaves it as stored
// unless a new one is typed, or "remove" is ticked.
//
// Read-only mode (ctx.readOnly) hides every control that changes
// something, and the connection test, which the server records; the
// health check, a read, stays.

import {ApiError} from '../lib/api.js';
import {confirmDialog, fieldErrors} from '../lib/forms.js';

const ENGINES = ['sqlite', 'postgres', 'mysql', 'clickhouse', 'mongodb'];
const ROUTES = ['all', 'crud', 'auth', 'request', 'cors', 'external', 'system', 'export', 'custom'];

// A checkbox keeps its own size inside .filters.
const CHECKBOX = {width: 'auto', minHeight: '0', verticalAlign: 'middle', margin: '0 .25rem 0 0'};

// The routes' statuses that say the server does not serve them.
const ABSENT = new Set([404, 405, 501]);

const routeLabel = (r) => (r === 'all' ? 'all kinds' : r);

// location is where a config points: the file of a SQLite one, else
// host:port/database (the engine's default port when 0).
function location(c) {
  if (c.engine === 'sqlite') return c.database;
  return `${c.host || ''}${c.port ? ':' + c.port : ''}/${c.database || ''}`;
}

export async function databasesPage(page, ctx, editable) {
  const {h} = ctx;
  const me = ctx.me || {};
  const bound = Boolean(me.tenant); // a principal with a tenant manages its tenant's configurations only
  page.append(h('p', {class: 'lead', id: 'db-intro'},
    'A database configuration sends the events of a tenant, or of one of its kinds, to a database of its own, ' +
    'at once and without a restart; the other events stay in the server\'s own store. While a database is down its ' +
    'events wait in the default store and are replayed to it later. Passwords are encrypted at rest and never shown. ' +
    'Every change is recorded in the trail.'));
  const status = h('p', {class: 'muted', id: 'db-status', role: 'status'});
  const error = h('p', {class: 'form-error', id: 'db-error', role: 'alert', hidden: true});
  const list = h('div', {id: 'db-list'});
  const result = h('div', {id: 'db-result', 'aria-live': 'polite'});
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  const health = new Map(); // config id → 'ok' | 'failing', from this page's checks

  let configs;
  try {
    configs = await readConfigs(ctx);
  } catch (e) {
    if (!(e instanceof ApiError && ABSENT.has(e.status))) throw e;
    page.append(h('section', {class: 'card', id: 'admin-pending'},
      h('h2', null, 'Not available here'),
      h('p', null, 'This server does not route events to other databases (GET /api/v1/database-configs): ' +
        'it runs without database_config_keys. Set them in its configuration to manage database configurations ' +
        '(docs/database-configs.md).')));
    return;
  }

  let form = null;
  if (editable) {
    form = configForm(ctx, bound, async (saved, created) => {
      status.textContent = `Configuration ${saved.name} ${created ? 'made' : 'saved'}.`;
      ctx.announce(`Configuration ${saved.name} ${created ? 'made' : 'saved'}`);
      health.delete(saved.id);
      await load();
    });
  }

  // ----- delete, with a confirmation dialog -----
  const delDialog = confirmDialog(ctx, 'db-delete', 'Delete configuration', (c) => remove(c));
  const remove = async (c) => {
    try {
      await ctx.api('database-configs/' + encodeURIComponent(c.id), {method: 'DELETE'});
      showError('');
      status.textContent = `Configuration ${c.name} deleted.`;
      ctx.announce(`Configuration ${c.name} deleted`);
      health.delete(c.id);
      if (form && form.editing() === c.id) form.startCreate();
      await load();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showError(`Configuration ${c.name} could not be deleted: ${e.message}`);
    }
  };
  const confirmDelete = (c) => delDialog.ask(c, `Delete configuration "${c.name}"?`,
    `The events of ${c.tenant ? 'tenant ' + c.tenant : 'no tenant'} (${routeLabel(c.route_for)}) ` +
    `go to the default store again from now on. The database ${location(c)} and what it holds are not touched; ` +
    'events still waiting to be replayed to it stay in the default store.');

  // ----- connection test and health check -----
  const check = async (c, kind) => {
    showError('');
    status.textContent = `Checking ${c.name}…`;
    let ans;
    try {
      ans = await ctx.api('database-configs/' + encodeURIComponent(c.id) + '/' + kind, {method: 'POST'});
    } catch (e) {
      status.textContent = '';
      if (!(e instanceof ApiError && e.status === 401)) showError(`${c.name} could not be checked: ${e.message}`);
      return;
    }
    health.set(c.id, ans.ok ? 'ok' : 'failing');
    result.replaceChildren(checkView(ctx, c, kind, ans));
    status.textContent = `${c.name}: ${ans.ok ? 'reachable' : 'not reachable'}.`;
    ctx.announce(`${c.name}: ${ans.ok ? 'reachable' : 'not reachable'}`);
    list.replaceChildren(configsTable(ctx, configs, health, actions));
  };

  const actions = {
    edit: editable ? (c) => form.startEdit(c) : null,
    remove: editable ? confirmDelete : null,
    test: editable ? (c) => check(c, 'test-connection') : null,
    health: (c) => check(c, 'health-check'),
  };
  async function load() {
    configs = await readConfigs(ctx);
    list.replaceChildren(configsTable(ctx, configs, health, actions));
  }

  if (form) page.append(form.el, delDialog.el);
  page.append(error, h('section', {class: 'card', id: 'db-configs', 'aria-labelledby': 'db-list-title'},
    h('h2', {id: 'db-list-title'}, 'Database configurations'),
    status, list, result,
    ctx.readOnly ? h('p', {class: 'muted'}, 'This console is read-only: configurations are changed with the API or ' +
      'activitylog database-configs.') : null));
  list.replaceChildren(configsTable(ctx, configs, health, actions));
}

async function readConfigs(ctx) {
  const ans = await ctx.api('database-configs');
  return (ans && ans.results) || [];
}

// configsTable lists the configurations, with their actions.
function configsTable(ctx, cs, health, act) {
  const {h} = ctx;
  if (cs.length === 0) {
    return h('p', {class: 'muted', id: 'db-empty'}, 'No database configuration yet: every event goes to the server\'s own store.');
  }
  const yes = (b) => (b ? 'yes' : 'no');
  const state = (id) => {
    const s = health.get(id);
    if (!s) return h('span', {class: 'muted'}, 'not checked');
    return h('span', {class: s === 'ok' ? 'badge badge-ok' : 'badge badge-bad'}, s);
  };
  return h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'db-table'},
    h('caption', {class: 'sr-only'}, 'Database configurations'),
    h('thead', null, h('tr', null,
      ['Name', 'Engine', 'Database', 'Routes', 'Tenant', 'Primary', 'Active', 'Read-only', 'Password', 'Health']
        .map((c) => h('th', {scope: 'col'}, c)),
      h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Actions')))),
    h('tbody', null, cs.map((c) => h('tr', {'data-config': c.id, 'data-name': c.name},
      h('th', {scope: 'row'}, c.name, h('div', {class: 'muted mono'}, c.id)),
      h('td', {'data-col': 'engine'}, c.engine),
      h('td', {'data-col': 'location', class: 'mono wrap-anywhere'}, location(c)),
      h('td', {'data-col': 'route_for'}, routeLabel(c.route_for)),
      h('td', {'data-col': 'tenant'}, c.tenant || h('span', {class: 'muted'}, 'no tenant')),
      h('td', {'data-col': 'primary'}, yes(c.primary)),
      h('td', {'data-col': 'active'}, yes(c.active)),
      h('td', {'data-col': 'read_only'}, yes(c.read_only)),
      h('td', {'data-col': 'password'}, c.has_password ? 'set' : 'none'),
      h('td', {'data-col': 'health'}, state(c.id)),
      h('td', null, h('div', {class: 'ret-actions'},
        act.test ? h('button', {type: 'button', class: 'btn btn-small db-test', 'aria-label': 'Test connection: ' + c.name,
          onclick: () => act.test(c)}, 'Test connection') : null,
        h('button', {type: 'button', class: 'btn btn-small db-health', 'aria-label': 'Health check: ' + c.name,
          onclick: () => act.health(c)}, 'Health check'),
        act.edit ? h('button', {type: 'button', class: 'btn btn-small db-edit', 'aria-label': 'Edit: ' + c.name,
          onclick: () => act.edit(c)}, 'Edit') : null,
        act.remove ? h('button', {type: 'button', class: 'btn btn-danger btn-small db-delete', 'aria-label': 'Delete: ' + c.name,
          onclick: () => act.remove(c)}, 'Delete') : null)))))));
}

// checkView shows a connection test's or a health check's answer.
function checkView(ctx, c, kind, ans) {
  const {h} = ctx;
  const r = ans.route;
  const yes = (b) => (b ? 'yes' : 'no');
  return h('section', {class: 'ret-report', id: 'db-check', 'aria-labelledby': 'db-check-title'},
    h('h3', {id: 'db-check-title'}, `${kind === 'health-check' ? 'Health check' : 'Connection test'} of ${c.name}`),
    h('dl', {class: 'kv'},
      h('dt', null, 'Reachable'), h('dd', {'data-field': 'ok'}, yes(ans.ok)),
      h('dt', null, 'Latency'), h('dd', {'data-field': 'latency_ms'}, `${Number(ans.latency_ms || 0).toFixed(1)} ms`),
      h('dt', null, 'Error'), h('dd', {'data-field': 'error', class: 'wrap-anywhere'}, ans.error || 'none'),
      h('dt', null, 'Checked'), h('dd', null, ans.checked_at ? ctx.fmtTime(ans.checked_at) : '—'),
      r ? [
        h('dt', null, 'Routed to'), h('dd', {'data-field': 'routed'}, yes(r.routed)),
        h('dt', null, 'Open'), h('dd', {'data-field': 'open'}, yes(r.open)),
        h('dt', null, 'Falling back'), h('dd', {'data-field': 'down'}, yes(r.down)),
        h('dt', null, 'Events written'), h('dd', {'data-field': 'written'}, String(r.written || 0)),
        r.error ? [h('dt', null, 'Why not open'), h('dd', {'data-field': 'route_error', class: 'wrap-anywhere'}, r.error)] : null,
      ] : null));
}

// parseOptions reads "name=value" lines; blank lines are skipped. A line
// without "=" is an error naming it.
function parseOptions(text) {
  const out = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.indexOf('=');
    if (i <= 0) return {error: `"${line}" is not name=value`};
    out[line.slice(0, i).trim()] = raw.slice(raw.indexOf('=') + 1); // the value as typed
  }
  return {options: out};
}

// configForm is the New configuration form, which also edits one
// (startEdit). The API checks every field; its error is shown beside
// the field it names (or above the button). onSaved(config, created).
function configForm(ctx, bound, onSaved) {
  const {h} = ctx;
  const me = ctx.me || {};
  // An error naming options.NAME shows beside the options.
  const {general, errFor, show: showError, setInputs} = fieldErrors(ctx, 'db', (f) => (f.startsWith('options.') ? 'options' : f));
  const title = h('h2', {id: 'db-form-title'}, 'New database configuration');
  const text = (id, f, attrs = {}) => h('input', Object.assign({id, name: f, type: 'text', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'db-' + f + '-error'}, attrs));
  const name = text('db-name', 'name', {required: true, maxlength: '128'});
  const engine = h('select', {id: 'db-engine', name: 'engine', 'aria-describedby': 'db-engine-error'},
    ENGINES.map((e) => h('option', {value: e}, e)));
  const host = text('db-host', 'host');
  const port = h('input', {id: 'db-port', name: 'port', type: 'number', min: '0', max: '65535', step: '1', inputmode: 'numeric',
    'aria-describedby': 'db-port-hint db-port-error'});
  const database = text('db-database', 'database', {'aria-describedby': 'db-database-hint db-database-error'});
  const user = text('db-user', 'user');
  const password = h('input', {id: 'db-password', name: 'password', type: 'password', autocomplete: 'new-password',
    'aria-describedby': 'db-password-hint db-password-error'});
  const passwordHint = h('span', {class: 'muted', id: 'db-password-hint'}, 'Encrypted at rest, never shown again.');
  const clearPassword = h('input', {type: 'checkbox', id: 'db-password-clear', style: CHECKBOX});
  const clearLabel = h('label', {id: 'db-password-clear-label', hidden: true}, clearPassword, 'Remove the stored password');
  const options = h('textarea', {id: 'db-options', name: 'options', rows: '3', spellcheck: 'false',
    'aria-describedby': 'db-options-hint db-options-error'});
  const routeFor = h('select', {id: 'db-route-for', name: 'route_for', 'aria-describedby': 'db-route-for-hint db-route_for-error'},
    ROUTES.map((r) => h('option', {value: r}, routeLabel(r))));
  const tenant = bound ? null : text('db-tenant', 'tenant', {'aria-describedby': 'db-tenant-hint db-tenant-error'});
  const check = (id, f, on) => h('input', {type: 'checkbox', id, name: f, checked: on, style: CHECKBOX,
    'aria-describedby': 'db-' + f + '-error'});
  const primary = check('db-primary', 'primary', true);
  const active = check('db-active', 'active', true);
  const readOnly = check('db-read-only', 'read_only', false);
  setInputs({name, engine, host, port, database, user, password, options, route_for: routeFor, tenant, primary, active,
    read_only: readOnly});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'db-submit'}, 'Create configuration');
  const cancel = h('button', {type: 'button', class: 'btn', id: 'db-cancel-edit', hidden: true, onclick: () => startCreate()},
    'Cancel editing');
  let editing = null; // the configuration being edited

  function startCreate() {
    editing = null;
    form.reset(); // back to the defaults, which reset() does not know:
    primary.checked = true;
    active.checked = true;
    readOnly.checked = false;
    clearLabel.hidden = true;
    passwordHint.textContent = 'Encrypted at rest, never shown again.';
    showError('');
    title.textContent = 'New database configuration';
    submit.textContent = 'Create configuration';
    cancel.hidden = true;
    form.removeAttribute('data-editing');
  }
  function startEdit(c) {
    editing = c;
    showError('');
    name.value = c.name;
    engine.value = c.engine;
    host.value = c.host || '';
    port.value = c.port ? String(c.port) : '';
    database.value = c.database || '';
    user.value = c.user || '';
    password.value = '';
    clearPassword.checked = false;
    clearLabel.hidden = !c.has_password;
    passwordHint.textContent = c.has_password
      ? 'A password is stored: leave this empty to keep it. A new host, port, user, database or engine needs it again.'
      : 'None is stored.';
    options.value = Object.entries(c.options || {}).map(([k, v]) => `${k}=${v}`).join('\n');
    routeFor.value = c.route_for || 'all';
    if (tenant) tenant.value = c.tenant || '';
    primary.checked = c.primary;
    active.checked = c.active;
    readOnly.checked = c.read_only;
    title.textContent = `Edit configuration "${c.name}"`;
    submit.textContent = 'Save changes';
    cancel.hidden = false;
    form.setAttribute('data-editing', c.id);
    form.scrollIntoView({block: 'start'});
    name.focus();
  }

  const form = h('form', {class: 'card', id: 'db-form', 'aria-labelledby': 'db-form-title', novalidate: true, autocomplete: 'off',
    onsubmit: async (ev) => {
      ev.preventDefault();
      // database and user as typed: the API takes spaces in them, and a
      // trimmed copy of a stored value would be a move (which needs the
      // password) or another database.
      const body = {name: name.value.trim(), engine: engine.value, host: host.value.trim(), database: database.value,
        user: user.value, route_for: routeFor.value, primary: primary.checked, active: active.checked,
        read_only: readOnly.checked};
      if (!body.name) return showError('Give the configuration a name.', 'name');
      const p = port.value.trim();
      body.port = p === '' ? 0 : Number(p);
      const opts = parseOptions(options.value);
      if (opts.error) return showError(opts.error + ': give one name=value per line.', 'options');
      body.options = opts.options;
      if (tenant) body.tenant = tenant.value.trim();
      const c = editing;
      if (password.value !== '') body.password = password.value;
      else if (c && clearPassword.checked) body.password = '';
      else if (!c) body.password = '';
      submit.disabled = true;
      try {
        const saved = c
          ? await ctx.api('database-configs/' + encodeURIComponent(c.id), {method: 'PUT', body})
          : await ctx.api('database-configs', {method: 'POST', body});
        startCreate();
        await onSaved(saved, !c);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        if (e instanceof ApiError) showError(e.message, e.field);
        else showError('The configuration could not be saved: ' + e.message);
      } finally {
        password.value = ''; // never kept in the page longer than a request
        submit.disabled = false;
      }
    }},
  title,
  h('div', {class: 'filters'},
    h('div', {class: 'field'}, h('label', {for: 'db-name'}, 'Name'), name, errFor('name')),
    h('div', {class: 'field'}, h('label', {for: 'db-engine'}, 'Engine'), engine, errFor('engine')),
    h('div', {class: 'field'}, h('label', {for: 'db-host'}, 'Host'), host, errFor('host')),
    h('div', {class: 'field'}, h('label', {for: 'db-port'}, 'Port'), port,
      h('span', {class: 'muted', id: 'db-port-hint'}, 'Empty: the engine\'s default.'), errFor('port')),
    h('div', {class: 'field'}, h('label', {for: 'db-database'}, 'Database'), database,
      h('span', {class: 'muted', id: 'db-database-hint'}, 'For SQLite, the file\'s path on the server.'), errFor('database')),
    h('div', {class: 'field'}, h('label', {for: 'db-user'}, 'User'), user, errFor('user')),
    h('div', {class: 'field'}, h('label', {for: 'db-password'}, 'Password'), password, passwordHint, clearLabel, errFor('password')),
    h('div', {class: 'field field-wide'}, h('label', {for: 'db-options'}, 'Driver options'), options,
      h('span', {class: 'muted', id: 'db-options-hint'}, 'One name=value per line, e.g. sslmode=require; only the names ' +
        'docs/database-configs.md lists.'), errFor('options')),
    h('div', {class: 'field'}, h('label', {for: 'db-route-for'}, 'Routes'), routeFor,
      h('span', {class: 'muted', id: 'db-route-for-hint'}, 'The kind of events it takes, or all.'), errFor('route_for')),
    tenant
      ? h('div', {class: 'field'}, h('label', {for: 'db-tenant'}, 'Tenant'), tenant,
        h('span', {class: 'muted', id: 'db-tenant-hint'}, 'Empty: the events without a tenant.'), errFor('tenant'))
      : h('div', {class: 'field', id: 'db-tenant-bound'}, h('span', {class: 'label'}, 'Tenant'), h('span', null, me.tenant),
        h('span', {class: 'muted'}, 'Your configurations are your tenant\'s.'), errFor('tenant')),
    h('div', {class: 'field'}, h('label', null, primary, 'Primary'),
      h('span', {class: 'muted'}, 'The one the events are written to.'), errFor('primary')),
    h('div', {class: 'field'}, h('label', null, active, 'Active'), errFor('active')),
    h('div', {class: 'field'}, h('label', null, readOnly, 'Read-only'), errFor('read_only'))),
  general,
  h('div', {class: 'form-actions'}, submit, cancel));
  return {el: form, startEdit, startCreate, editing: () => (editing ? editing.id : '')};
}
