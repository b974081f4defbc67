// The administration pages, one per ctx.route.sub:
//   keys       API keys: list, create (the key shown once), revoke
//              (GET/POST /api/v1/api-keys, DELETE /api/v1/api-keys/{id};
//              superuser);
//   users      users: list, create (never a superuser: the command line
//              only), disable and enable (GET/POST /api/v1/users,
//              PATCH /api/v1/users/{username}; superuser);
//   retention  retention policies: list, create, edit, delete, dry run
//              and run now (pages/retention.js; manage_retention), and
//              the purge;
//   databases  database configurations: list, create, edit, delete,
//              test a connection, check health (pages/databases.js;
//              manage_database_config).
// Read-only mode (ctx.readOnly) and the permissions (ctx.can) hide
// every control that changes something.

import {ApiError} from '../lib/api.js';
import {ADMIN_SECTIONS as SECTIONS} from '../lib/sections.js';
import {databasesPage} from './databases.js';
import {retentionPage} from './retention.js';

// The permissions an API key may be given through the API (superuser
// only from the command line), with what each allows
// (docs/authentication.md).
const SCOPES = [
  ['ingest', 'post events into its tenant'],
  ['view_logs', 'read its own events'],
  ['view_all_logs', 'read every event of its tenant'],
  ['resolve_events', 'mark events of its tenant resolved'],
  ['manage_retention', 'retention policies'],
  ['manage_database_config', 'the store\'s configuration'],
];
const PERMISSIONS = [...SCOPES, ['superuser', 'everything, across tenants']];

// A checkbox inside .filters keeps its own size (the inputs there
// stretch to the column and to the text fields' height).
const CHECKBOX = {width: 'auto', minHeight: '0', verticalAlign: 'middle', margin: '0 .25rem 0 0'};

const EXPIRIES = [
  ['', 'Never'], ['24h', '1 day'], ['168h', '7 days'], ['720h', '30 days'], ['2160h', '90 days'], ['8760h', '1 year'],
];

export async function render(root, ctx) {
  const {h} = ctx;
  const sub = ctx.route.sub || 'keys';
  const section = SECTIONS.find((s) => s.sub === sub);
  const page = h('div', {class: 'page admin-page'});
  root.append(page);
  const tabs = h('nav', {'aria-label': 'Administration'}, h('ul', {class: 'kind-tabs'},
    SECTIONS.filter((s) => ctx.can(s.need)).map((s) => h('li', null,
      h('a', {href: ctx.url('/admin/' + s.sub), 'aria-current': s.sub === sub ? 'page' : null}, s.label)))));
  if (!section) {
    ctx.setTitle('Administration');
    page.append(h('h1', null, 'Administration'), tabs, h('p', null, 'There is no administration page "' + sub + '".'));
    return;
  }
  ctx.setTitle(section.label);
  page.append(h('h1', null, section.label), tabs);
  if (!ctx.can(section.need)) {
    page.append(h('p', {class: 'notice', 'data-forbidden': ''}, `This page needs the permission ${section.need}.`));
    return;
  }
  const editable = !ctx.readOnly;
  switch (sub) {
    case 'keys':
      return keysPage(page, ctx, editable && ctx.can('superuser'));
    case 'users':
      return usersPage(page, ctx, editable && ctx.can('superuser'));
    case 'retention':
      return retentionPage(page, ctx, editable, editable ? purgeCard(ctx) : null);
    case 'databases':
      return databasesPage(page, ctx, editable);
  }
}

// ----- API keys -----

async function keysPage(page, ctx, editable) {
  const {h} = ctx;
  const status = h('p', {class: 'form-error', id: 'keys-error', role: 'alert', hidden: true});
  const newKey = h('div', {id: 'new-key-slot'});
  const list = h('div', {id: 'keys-list'});
  page.append(h('p', {class: 'lead muted'}, 'API keys let programs call the API. A key is shown once, when it is made; ' +
    'only its hash is stored. Superuser keys are made with the command line only: activitylog api-keys create --superuser.'));

  const showError = (text) => {
    status.textContent = text;
    status.hidden = !text;
  };

  const load = async () => {
    const ans = await ctx.api('api-keys');
    list.replaceChildren(keysTable(ctx, ans.results || [], editable, confirmRevoke));
  };

  // ----- revoke, with a confirmation dialog -----
  const dialogTitle = h('h2', {id: 'revoke-title'}, 'Revoke key');
  const dialogText = h('p', {id: 'revoke-text'});
  const confirmBtn = h('button', {type: 'submit', class: 'btn btn-danger', id: 'revoke-confirm', value: 'revoke'}, 'Revoke key');
  // The confirmation acts on the submit of its button, which is
  // synchronous: the close event comes later, maybe after the dialog
  // opened again for another key, and would then act on that one.
  const dialog = h('dialog', {id: 'revoke-dialog', class: 'card', 'aria-labelledby': 'revoke-title', 'aria-describedby': 'revoke-text'},
    h('form', {method: 'dialog', onsubmit: (ev) => {
      const k = pending;
      pending = null;
      if (k && ev.submitter && ev.submitter.value === 'revoke') revoke(k);
    }}, dialogTitle, dialogText,
      h('div', {class: 'form-actions'},
        h('button', {type: 'submit', class: 'btn', id: 'revoke-cancel', value: 'cancel', autofocus: true}, 'Cancel'),
        confirmBtn)));
  let pending = null; // set when the dialog opens; taken by its submit
  async function revoke(k) {
    try {
      await ctx.api('api-keys/' + encodeURIComponent(k.id), {method: 'DELETE'});
      showError('');
      ctx.announce('Key ' + k.name + ' revoked');
      await load();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showError('The key could not be revoked: ' + e.message);
    }
  }
  function confirmRevoke(k) {
    pending = k;
    dialogTitle.textContent = 'Revoke key "' + k.name + '"?';
    dialogText.textContent = `Programs that use ${k.id} are refused at once. A revoked key cannot be restored.`;
    dialog.returnValue = '';
    dialog.showModal();
  }

  if (editable) {
    page.append(createForm(ctx, async (created) => {
      newKey.replaceChildren(shownOnce(ctx, created));
      newKey.querySelector('button').focus();
      await load();
    }), newKey, dialog);
  }
  page.append(status, h('h2', null, 'Keys'), list);
  await load();
}

function keysTable(ctx, keys, editable, onRevoke) {
  const {h} = ctx;
  if (keys.length === 0) return h('p', {class: 'muted'}, 'No API key yet.');
  const now = Date.now();
  const state = (k) => {
    if (k.revoked_at) return ['revoked', 'badge badge-bad', 'revoked ' + ctx.fmtTime(k.revoked_at)];
    if (k.expires_at && Date.parse(k.expires_at) <= now) return ['expired', 'badge badge-warn', 'expired ' + ctx.fmtTime(k.expires_at)];
    return ['active', 'badge badge-ok', k.expires_at ? 'expires ' + ctx.fmtTime(k.expires_at) : 'never expires'];
  };
  return h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'keys-table'},
    h('caption', {class: 'sr-only'}, 'API keys'),
    h('thead', null, h('tr', null,
      ['Name', 'Id', 'Scopes', 'Tenant', 'Status', 'Created', 'Last used'].map((c) => h('th', {scope: 'col'}, c)),
      editable ? h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Actions')) : null)),
    h('tbody', null, keys.map((k) => {
      const [st, cls, detail] = state(k);
      return h('tr', {'data-key': k.id, 'data-state': st},
        h('th', {scope: 'row'}, k.name),
        h('td', {class: 'mono nowrap'}, k.id),
        h('td', null, (k.scopes || []).join(', ')),
        h('td', null, k.tenant || h('span', {class: 'muted'}, 'none')),
        h('td', null, h('span', {class: cls}, st), h('div', {class: 'muted'}, detail)),
        h('td', {class: 'nowrap'}, ctx.fmtTime(k.created_at), k.created_by ? h('div', {class: 'muted'}, 'by ' + k.created_by) : null),
        h('td', {class: 'nowrap'}, k.last_used_at ? ctx.fmtTime(k.last_used_at) : h('span', {class: 'muted'}, 'never')),
        editable ? h('td', null, st === 'revoked' ? null : h('button', {type: 'button', class: 'btn btn-danger btn-small revoke',
          'aria-label': 'Revoke key ' + k.name, onclick: () => onRevoke(k)}, 'Revoke')) : null);
    }))));
}

function createForm(ctx, onCreated) {
  const {h} = ctx;
  const err = h('p', {class: 'form-error', id: 'key-form-error', role: 'alert', hidden: true});
  const name = h('input', {id: 'key-name', name: 'name', type: 'text', required: true, maxlength: '100', autocomplete: 'off',
    'aria-describedby': 'key-form-error'});
  const tenant = h('input', {id: 'key-tenant', name: 'tenant', type: 'text', autocomplete: 'off', spellcheck: 'false'});
  const expires = h('select', {id: 'key-expires', name: 'expires_in'}, EXPIRIES.map(([v, l]) => h('option', {value: v}, l)));
  const boxes = SCOPES.map(([s, what]) => h('label', {style: {display: 'block'}},
    h('input', {type: 'checkbox', name: 'scopes', value: s, id: 'key-scope-' + s, style: CHECKBOX}), ' ', h('code', null, s), ' ',
    h('span', {class: 'muted'}, what)));
  const scopes = h('fieldset', {id: 'key-scopes', style: {border: '0', padding: '0', margin: '0'}},
    h('legend', {class: 'label'}, 'Scopes'), boxes);
  const fields = {name, tenant, expires_in: expires, scopes};
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'key-create'}, 'Create key');
  const showError = (text, field) => {
    err.textContent = text;
    err.hidden = !text;
    for (const f of Object.values(fields)) f.removeAttribute('aria-invalid');
    if (field && fields[field]) {
      fields[field].setAttribute('aria-invalid', 'true');
      (field === 'scopes' ? scopes.querySelector('input') : fields[field]).focus();
    }
  };
  const form = h('form', {class: 'card', id: 'key-form', 'aria-labelledby': 'key-form-title', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {
        name: name.value.trim(),
        scopes: [...scopes.querySelectorAll('input:checked')].map((c) => c.value),
        tenant: tenant.value.trim(),
      };
      if (expires.value) body.expires_in = expires.value;
      if (!body.name) return showError('Give the key a name.', 'name');
      if (body.scopes.length === 0) return showError('Choose at least one scope.', 'scopes');
      submit.disabled = true;
      try {
        const created = await ctx.api('api-keys', {method: 'POST', body});
        showError('');
        form.reset();
        await onCreated(created);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        const field = e instanceof ApiError ? e.field : '';
        showError((e instanceof ApiError ? '' : 'The key could not be made: ') + e.message, field);
      } finally {
        submit.disabled = false;
      }
    }},
  h('h2', {id: 'key-form-title'}, 'New key'),
  h('div', {class: 'filters'},
    h('div', {class: 'field'}, h('label', {for: 'key-name'}, 'Name'), name),
    h('div', {class: 'field'}, h('label', {for: 'key-tenant'}, 'Tenant (empty: events without a tenant)'), tenant),
    h('div', {class: 'field'}, h('label', {for: 'key-expires'}, 'Expires'), expires),
    h('div', {class: 'field field-wide'}, scopes)),
  err,
  h('div', {class: 'form-actions'}, submit));
  return form;
}

// shownOnce shows a new key's secret, with a copy button.
function shownOnce(ctx, k) {
  const {h} = ctx;
  const out = h('output', {id: 'new-key-value', class: 'mono wrap-anywhere', style: {display: 'block', padding: '.5rem',
    background: 'var(--surface-2)', borderRadius: 'var(--radius)'}}, k.key);
  const copied = h('span', {role: 'status', class: 'muted', id: 'new-key-copied'});
  const copy = h('button', {type: 'button', class: 'btn', id: 'new-key-copy', onclick: async () => {
    try {
      await navigator.clipboard.writeText(k.key);
      copied.textContent = 'Copied.';
    } catch {
      // No clipboard (insecure context, or refused): select the text
      // for a manual copy.
      const r = document.createRange();
      r.selectNodeContents(out);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  }}, 'Copy key');
  return h('section', {class: 'card notice', id: 'new-key', 'aria-labelledby': 'new-key-title'},
    h('h2', {id: 'new-key-title'}, 'Key "' + k.name + '" made'),
    h('p', null, 'This is the only time the key is shown. Copy it now and keep it somewhere safe.'),
    out,
    h('div', {class: 'form-actions', style: {marginTop: '.5rem'}}, copy, copied,
      h('button', {type: 'button', class: 'btn', onclick: (ev) => ev.currentTarget.closest('section').remove()}, 'Done')));
}

// ----- users -----

// MIN_PASSWORD is the shortest password the API takes
// (access.MinPasswordLen); the API checks it, the form only says it.
const MIN_PASSWORD = 8;

// The fields of POST /api/v1/users that the form shows; an API error
// naming one of them is shown beside it.
const USER_FIELDS = ['username', 'password', 'tenant', 'permissions'];

async function usersPage(page, ctx, editable) {
  const {h} = ctx;
  const me = ctx.me || {};
  const status = h('p', {class: 'form-error', id: 'users-error', role: 'alert', hidden: true});
  const done = h('p', {class: 'muted', id: 'users-status', role: 'status'});
  const list = h('div', {id: 'users-list', style: {marginBottom: '1rem'}});
  page.append(h('p', {class: 'lead muted'}, 'Users sign in to this console with a password. ' +
    (editable ? 'Make one for each person, with only the permissions they need; disable a user to end their sessions at once. ' : '') +
    'Every change is recorded in the trail.'));

  const showError = (text) => {
    status.textContent = text;
    status.hidden = !text;
  };

  const load = async () => {
    const ans = await ctx.api('users');
    list.replaceChildren(usersTable(ctx, ans.results || [], editable, me, confirmToggle, editPermissions));
  };

  // ----- disable and enable, with a confirmation dialog -----
  const dialogTitle = h('h2', {id: 'user-dialog-title'}, 'Disable user');
  const dialogText = h('p', {id: 'user-dialog-text'});
  const confirmBtn = h('button', {type: 'submit', class: 'btn btn-danger', id: 'user-confirm', value: 'confirm'}, 'Disable user');
  const dialog = h('dialog', {id: 'user-dialog', class: 'card', 'aria-labelledby': 'user-dialog-title',
    'aria-describedby': 'user-dialog-text'},
  h('form', {method: 'dialog', onsubmit: (ev) => {
    // On submit, not on close: see the revoke dialog.
    const p = pending;
    pending = null;
    if (p && ev.submitter && ev.submitter.value === 'confirm') setDisabled(p);
  }}, dialogTitle, dialogText,
    h('div', {class: 'form-actions'},
      h('button', {type: 'submit', class: 'btn', id: 'user-cancel', value: 'cancel', autofocus: true}, 'Cancel'),
      confirmBtn)));
  let pending = null; // {user, disable}; set when the dialog opens, taken by its submit
  async function setDisabled(p) {
    const verb = p.disable ? 'disabled' : 'enabled';
    try {
      await ctx.api('users/' + encodeURIComponent(p.user.username), {method: 'PATCH', body: {disabled: p.disable}});
      showError('');
      done.textContent = `User ${p.user.username} ${verb}.`;
      ctx.announce(`User ${p.user.username} ${verb}`);
      await load();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        showError(`User ${p.user.username} could not be ${verb}: ${e.message}`);
      }
    }
  }
  // ----- permissions, in a dialog of checkboxes -----
  const permTitle = h('h2', {id: 'perm-dialog-title'}, 'Permissions');
  const permError = h('p', {class: 'field-error', id: 'perm-dialog-error', role: 'alert', hidden: true});
  const permBoxes = SCOPES.map(([p, what]) => h('label', {style: {display: 'block'}},
    h('input', {type: 'checkbox', value: p, id: 'perm-edit-' + p, style: CHECKBOX}), ' ', h('code', null, p), ' ', h('span', {class: 'muted'}, what)));
  let editing = null;
  const permDialog = h('dialog', {id: 'perm-dialog', class: 'card', 'aria-labelledby': 'perm-dialog-title'},
    h('form', {method: 'dialog', onsubmit: async (ev) => {
      if (ev.submitter && ev.submitter.value !== 'save') return;
      ev.preventDefault();
      const u = editing;
      const perms = permBoxes.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      try {
        await ctx.api('users/' + encodeURIComponent(u.username), {method: 'PATCH', body: {permissions: perms}});
        permDialog.close();
        done.textContent = `Permissions of ${u.username} set to ${perms.length ? perms.join(', ') : 'none'}. They apply from their next request.`;
        ctx.announce(`Permissions of ${u.username} changed`);
        await load();
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        permError.textContent = e.message;
        permError.hidden = false;
      }
    }}, permTitle,
    h('fieldset', null, h('legend', null, 'Permissions (superuser only from the command line)'), permBoxes),
    permError,
    h('div', {class: 'form-actions'},
      h('button', {type: 'submit', class: 'btn', id: 'perm-cancel', value: 'cancel'}, 'Cancel'),
      h('button', {type: 'submit', class: 'btn btn-primary', id: 'perm-save', value: 'save'}, 'Save permissions'))));
  function editPermissions(u) {
    editing = u;
    permTitle.textContent = `Permissions of "${u.username}"`;
    permError.hidden = true;
    for (const l of permBoxes) {
      const i = l.querySelector('input');
      i.checked = (u.permissions || []).includes(i.value);
    }
    permDialog.showModal();
  }

  function confirmToggle(u, disable) {
    pending = {user: u, disable};
    if (disable) {
      dialogTitle.textContent = `Disable user "${u.username}"?`;
      dialogText.textContent = `${u.username} (${u.id}) is signed out at once, everywhere, and cannot sign in until the user is ` +
        'enabled again. Their events stay in the trail.';
      confirmBtn.textContent = 'Disable user';
      confirmBtn.className = 'btn btn-danger';
    } else {
      dialogTitle.textContent = `Enable user "${u.username}"?`;
      dialogText.textContent = `${u.username} (${u.id}) can sign in again with their password, with the permissions listed.`;
      confirmBtn.textContent = 'Enable user';
      confirmBtn.className = 'btn btn-primary';
    }
    dialog.returnValue = '';
    dialog.showModal();
  }

  if (editable) {
    page.append(userForm(ctx, async (created) => {
      done.textContent = `User ${created.username} made (${created.id}). They can sign in now.`;
      ctx.announce(`User ${created.username} made`);
      await load();
    }), dialog, permDialog);
  }
  page.append(status, h('h2', null, 'Users'), done, list);
  await load();

  page.append(
    h('section', {class: 'card', 'aria-labelledby': 'users-me-title'},
      h('h2', {id: 'users-me-title'}, 'You'),
      h('dl', {class: 'kv', id: 'users-me'},
        h('dt', null, 'Id'), h('dd', {class: 'mono'}, me.id || ''),
        h('dt', null, 'Name'), h('dd', null, me.name || ''),
        h('dt', null, 'Tenant'), h('dd', null, me.tenant || h('span', {class: 'muted'}, 'none')),
        h('dt', null, 'Signed in with'), h('dd', null, me.method || ''),
        h('dt', null, 'Permissions'), h('dd', null, (me.permissions || []).join(', ')))),
    h('section', {class: 'card', id: 'users-cli', 'aria-labelledby': 'users-cli-title'},
      h('h2', {id: 'users-cli-title'}, 'On the server\'s host'),
      h('p', null, 'A superuser is made with the command line only: the API, and so this page, never grants superuser. ',
        h('code', null, 'activitylog users'), ' also manages every user from a script:'),
      h('pre', {class: 'body'}, [
        "printf '%s\\n' \"$PASSWORD\" | activitylog users create --username root --superuser --password-stdin",
        "printf '%s\\n' \"$PASSWORD\" | activitylog users create --username ann --tenant acme \\",
        '    --permissions view_all_logs,resolve_events --password-stdin',
        'activitylog users list            # --json for JSON',
        'activitylog users disable ann     # ends its sessions at once',
        'activitylog users enable ann',
      ].join('\n')),
      h('p', {class: 'muted'}, 'A user\'s password cannot be changed yet: make a new user and disable the old one. ' +
        'See docs/authentication.md.')),
    h('section', {class: 'card', 'aria-labelledby': 'users-perms-title'},
      h('h2', {id: 'users-perms-title'}, 'Permissions'),
      h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'perm-table'},
        h('caption', {class: 'sr-only'}, 'What each permission allows'),
        h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Permission'), h('th', {scope: 'col'}, 'Allows'))),
        h('tbody', null, PERMISSIONS.map(([p, what]) => h('tr', null, h('th', {scope: 'row'}, h('code', null, p)), h('td', null, what))))))));
}

// usersTable lists the users; editable adds Disable or Enable to every
// row but the signed-in user's own (the API refuses that anyway).
function usersTable(ctx, users, editable, me, onToggle, onEdit) {
  const {h} = ctx;
  if (users.length === 0) return h('p', {class: 'muted'}, 'No user yet.');
  return h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'users-table'},
    h('caption', {class: 'sr-only'}, 'Users'),
    h('thead', null, h('tr', null,
      ['Username', 'Id', 'Tenant', 'Permissions', 'Created', 'Status'].map((c) => h('th', {scope: 'col'}, c)),
      editable ? h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Actions')) : null)),
    h('tbody', null, users.map((u) => {
      const self = Boolean(me.id) && me.id === u.id;
      const st = u.disabled ? 'disabled' : 'active';
      let action = null;
      if (editable) {
        const superuser = (u.permissions || []).includes('superuser');
        action = self ? h('span', {class: 'muted', title: 'You cannot disable your own user or change its permissions'}, 'you')
          : [superuser ? null : h('button', {type: 'button', class: 'btn btn-small user-perms',
            'aria-label': 'Change the permissions of ' + u.username, onclick: () => onEdit(u)}, 'Permissions…'), ' ',
          h('button', {type: 'button', class: u.disabled ? 'btn btn-small user-toggle' : 'btn btn-danger btn-small user-toggle',
            'data-action': u.disabled ? 'enable' : 'disable',
            'aria-label': (u.disabled ? 'Enable user ' : 'Disable user ') + u.username,
            onclick: () => onToggle(u, !u.disabled)}, u.disabled ? 'Enable' : 'Disable')];
      }
      return h('tr', {'data-user': u.username, 'data-state': st, 'data-self': self ? 'true' : null},
        h('th', {scope: 'row'}, u.username, self ? h('span', {class: 'muted'}, ' (you)') : null),
        h('td', {class: 'mono nowrap'}, u.id),
        h('td', null, u.tenant || h('span', {class: 'muted'}, 'none')),
        h('td', null, (u.permissions || []).length ? u.permissions.join(', ') : h('span', {class: 'muted'}, 'none')),
        h('td', {class: 'nowrap'}, u.created_at ? ctx.fmtTime(u.created_at) : '—'),
        h('td', null, h('span', {class: u.disabled ? 'badge badge-bad' : 'badge badge-ok'}, st)),
        editable ? h('td', null, action) : null);
    }))));
}

// userForm is the New user form. The API checks every field; its error
// is shown beside the field it names (or above the button).
function userForm(ctx, onCreated) {
  const {h} = ctx;
  const errs = {};
  const errFor = (f) => (errs[f] = h('p', {class: 'field-error', id: 'user-' + f + '-error', hidden: true}));
  const general = h('p', {class: 'form-error', id: 'user-form-error', role: 'alert', hidden: true});
  const username = h('input', {id: 'user-username', name: 'username', type: 'text', required: true, maxlength: '64',
    autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', 'aria-describedby': 'user-username-hint user-username-error'});
  const password = h('input', {id: 'user-password', name: 'password', type: 'password', required: true,
    minlength: String(MIN_PASSWORD), autocomplete: 'new-password', 'aria-describedby': 'user-password-hint user-password-error'});
  const toggle = h('button', {type: 'button', class: 'btn btn-small', id: 'user-password-toggle', 'aria-controls': 'user-password',
    'aria-pressed': 'false', onclick: () => {
      const show = password.type === 'password';
      password.type = show ? 'text' : 'password';
      toggle.setAttribute('aria-pressed', String(show));
      toggle.textContent = show ? 'Hide password' : 'Show password';
    }}, 'Show password');
  const tenant = h('input', {id: 'user-tenant', name: 'tenant', type: 'text', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'user-tenant-hint user-tenant-error'});
  const boxes = SCOPES.map(([s, what]) => h('label', {style: {display: 'block'}},
    h('input', {type: 'checkbox', name: 'permissions', value: s, id: 'user-perm-' + s, style: CHECKBOX}), ' ',
    h('code', null, s), ' ',
    h('span', {class: 'muted'}, what)));
  const perms = h('fieldset', {id: 'user-perms', 'aria-describedby': 'user-permissions-hint user-permissions-error',
    style: {border: '0', padding: '0', margin: '0'}},
  h('legend', {class: 'label'}, 'Permissions'), boxes,
  h('p', {class: 'muted', id: 'user-permissions-hint', style: {margin: '.25rem 0 0'}},
    'Superuser is not offered: it is granted on the server\'s host only, with activitylog users create --superuser.'),
  errFor('permissions'));
  const inputs = {username, password, tenant, permissions: perms};
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'user-create'}, 'Create user');

  const showError = (text, field) => {
    general.textContent = '';
    general.hidden = true;
    for (const f of USER_FIELDS) {
      errs[f].textContent = '';
      errs[f].hidden = true;
      inputs[f].removeAttribute('aria-invalid');
    }
    if (!text) return;
    if (field && inputs[field]) {
      errs[field].textContent = text;
      errs[field].hidden = false;
      inputs[field].setAttribute('aria-invalid', 'true');
      (field === 'permissions' ? perms.querySelector('input') : inputs[field]).focus();
    } else {
      general.textContent = text;
      general.hidden = false;
    }
  };

  const form = h('form', {class: 'card', id: 'user-form', 'aria-labelledby': 'user-form-title', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {
        username: username.value.trim(),
        password: password.value,
        tenant: tenant.value.trim(),
        permissions: [...perms.querySelectorAll('input:checked')].map((c) => c.value),
      };
      if (!body.username) return showError('Give the user a username.', 'username');
      submit.disabled = true;
      try {
        const created = await ctx.api('users', {method: 'POST', body});
        showError('');
        form.reset();
        password.type = 'password';
        toggle.setAttribute('aria-pressed', 'false');
        toggle.textContent = 'Show password';
        await onCreated(created);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        if (e instanceof ApiError) showError(e.message, e.field);
        else showError('The user could not be made: ' + e.message);
      } finally {
        submit.disabled = false;
      }
    }},
  h('h2', {id: 'user-form-title'}, 'New user'),
  h('div', {class: 'filters'},
    h('div', {class: 'field'}, h('label', {for: 'user-username'}, 'Username'), username,
      h('span', {class: 'muted', id: 'user-username-hint'}, 'Letters, digits and . _ @ + -'), errFor('username')),
    h('div', {class: 'field'}, h('label', {for: 'user-password'}, 'Password'),
      h('div', {class: 'form-actions'}, password, toggle),
      h('span', {class: 'muted', id: 'user-password-hint'}, `At least ${MIN_PASSWORD} characters. Give it to the user yourself; ` +
        'it is never shown again.'), errFor('password')),
    h('div', {class: 'field'}, h('label', {for: 'user-tenant'}, 'Tenant'), tenant,
      h('span', {class: 'muted', id: 'user-tenant-hint'}, 'Empty: not bound to a tenant'), errFor('tenant')),
    h('div', {class: 'field field-wide'}, perms)),
  general,
  h('div', {class: 'form-actions'}, submit));
  return form;
}

// ----- Purge -----

// The kinds a purge may take (server/kinds.go), "all" first.
const PURGE_KINDS = ['all', 'crud', 'auth', 'request', 'cors', 'system', 'export', 'external', 'custom'];

// purgeCard deletes every event of a kind (or all) recorded before now,
// through POST /api/v1/events/purge, once the user has typed what the
// API asks for ("purge all", "purge crud"); the button stays disabled
// until then. The API records the purge (before and after) and keeps
// the records of purges; sealed events leave only under signed pruning
// records, and the answer says how many were kept.
function purgeCard(ctx) {
  const {h} = ctx;
  const kind = h('select', {id: 'purge-kind', 'aria-describedby': 'purge-help'},
    PURGE_KINDS.map((k) => h('option', {value: k}, k === 'all' ? 'every kind' : k)));
  const typed = h('input', {id: 'purge-confirm', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'purge-expected'});
  const expected = h('code', {id: 'purge-expected-text'}, 'purge all');
  const button = h('button', {id: 'purge-submit', type: 'submit', class: 'btn btn-danger', disabled: true}, 'Purge');
  const error = h('p', {id: 'purge-error', class: 'field-error', role: 'alert', hidden: true});
  const result = h('div', {id: 'purge-result', 'aria-live': 'polite'});
  const want = () => 'purge ' + kind.value;
  const sync = () => {
    expected.textContent = want();
    button.disabled = typed.value !== want();
  };
  kind.addEventListener('change', () => {
    typed.value = '';
    sync();
  });
  typed.addEventListener('input', sync);
  const form = h('form', {id: 'purge-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    if (typed.value !== want()) return;
    error.hidden = true;
    result.textContent = '';
    button.disabled = true;
    const body = {confirm: typed.value};
    if (kind.value !== 'all') body.kinds = [kind.value];
    try {
      const ans = await ctx.api('events/purge', {method: 'POST', body});
      const byKind = Object.entries(ans.by_kind || {}).map(([k, n]) => `${k} ${n}`).join(', ');
      result.append(h('p', {class: 'notice'},
        `Purged ${ans.deleted + (ans.pruned || 0)} events recorded before ${ctx.fmtTime(ans.before)}` +
        (byKind ? ` (${byKind}${ans.pruned ? `; ${ans.pruned} sealed, under signed pruning records` : ''})` : '') + '. ' +
        (ans.kept_sealed ? `${ans.kept_sealed} sealed events were kept: a chain keeps its last event and those after its newest checkpoint signed before the purge, and sealed events of one kind cannot leave their chain. ` : '') +
        'The purge is recorded in the trail.'));
      ctx.announce('Purge done');
      typed.value = '';
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      error.textContent = e.message;
      error.hidden = false;
    }
    sync();
  }},
  h('div', {class: 'field'}, h('label', {for: 'purge-kind'}, 'Events to purge'), kind),
  h('div', {class: 'field'}, h('label', {for: 'purge-confirm'}, 'Type ', expected, ' to confirm'), typed,
    h('p', {id: 'purge-expected', class: 'muted'}, 'The button stays disabled until the text matches exactly.')),
  error, h('div', {class: 'toolbar'}, button));
  return h('section', {class: 'card', id: 'purge', 'aria-labelledby': 'purge-title'},
    h('h2', {id: 'purge-title'}, 'Purge'),
    h('p', {id: 'purge-help'}, 'Deletes every event of the kind chosen (or every event) recorded before now' +
      (ctx.me && ctx.me.tenant ? `, in your tenant ${ctx.me.tenant}` : ', in every tenant') +
      '. It cannot be undone. The purge itself is recorded, before and after, and those records are never purged.'),
    form, result);
}
