// The console's shell: routing (History API), the page context (ctx)
// that every page module receives, sign-in and sign-out, the header
// (navigation, theme, time zone). Pages are modules under pages/ that
// export render(root, ctx), which may return a cleanup function.

import {h, clear} from './lib/dom.js';
import {Client, ApiError, queryString} from './lib/api.js';
import {fmtTime, timeZone, setTimeZone, zoneLabel, localZoneName} from './lib/format.js';
import {ADMIN_SECTIONS} from './lib/sections.js';

const meta = (name) => {
  const el = document.querySelector(`meta[name="activitylog-${name}"]`);
  return el ? el.getAttribute('content') : '';
};

const ROOT = meta('root') || '';
const API_BASE = meta('api') || ROOT + '/api/v1';
const READ_ONLY = meta('read-only') === 'true';
const TITLE = meta('title') || 'activitylog';

// The page modules, by route name.
const PAGES = {
  events: './pages/list.js',
  event: './pages/event.js',
  live: './pages/live.js',
  dashboard: './pages/dashboard.js',
  integrity: './pages/integrity.js',
  admin: './pages/admin.js',
};

// The navigation bar: label, path, and who sees it.
const NAV = [
  {name: 'events', label: 'Events', path: '/events', need: 'view_logs'},
  {name: 'live', label: 'Live', path: '/live', need: 'view_logs'},
  {name: 'dashboard', label: 'Dashboard', path: '/dashboard', need: 'view_logs'},
  {name: 'integrity', label: 'Integrity', path: '/integrity', need: 'view_logs'},
  {name: 'admin', label: 'Admin', path: '/admin', need: 'admin'},
];

let me = null; // the principal, once known
let cleanup = null; // the current page's cleanup
let renderSeq = 0; // the navigation a render belongs to
let notice = ''; // a message for the sign-in page

const client = new Client(API_BASE, {onUnauthorized: () => sessionEnded()});

// can reports whether the principal holds perm, as Principal.Has does:
// superuser holds everything, view_all_logs implies view_logs. "admin"
// is any of the admin sections' permissions.
function can(perm) {
  if (!me) return false;
  const ps = me.permissions || [];
  if (perm === 'admin') return ADMIN_SECTIONS.some((s) => can(s.need));
  return ps.includes(perm) || ps.includes('superuser') || (perm === 'view_logs' && ps.includes('view_all_logs'));
}

// parseRoute maps a path to {name, id, sub}.
function parseRoute(pathname) {
  let p = pathname;
  if (ROOT && p.startsWith(ROOT)) p = p.slice(ROOT.length);
  let segs;
  try {
    segs = p.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return {name: 'notfound'};
  }
  const [first = '', second] = segs;
  const n = segs.length;
  switch (first) {
    case '':
      return {name: 'home'};
    case 'login':
      return n === 1 ? {name: 'login'} : {name: 'notfound'};
    case 'events':
      if (n === 1) return {name: 'events'};
      if (n === 2) return {name: 'event', id: second};
      return {name: 'notfound'};
    case 'live':
    case 'dashboard':
    case 'integrity':
      return n === 1 ? {name: first} : {name: 'notfound'};
    case 'admin':
      return n <= 2 ? {name: 'admin', sub: second || ''} : {name: 'notfound'};
  }
  return {name: 'notfound'};
}

// need returns the permission a route needs, or '' for none.
function need(route) {
  switch (route.name) {
    case 'events':
    case 'event':
    case 'live':
    case 'dashboard':
    case 'integrity':
      return 'view_logs';
    case 'admin': {
      const s = ADMIN_SECTIONS.find((x) => x.sub === route.sub);
      return s ? s.need : 'admin';
    }
  }
  return '';
}

// consoleURL returns the absolute URL of a console path ("/events").
function consoleURL(path, query) {
  let p = String(path || '/');
  if (!p.startsWith('/')) p = '/' + p;
  return location.origin + ROOT + p + queryString(query);
}

// navigate goes to a console path without reloading.
function navigate(path, {query, replace = false, keepFocus = false} = {}) {
  const url = consoleURL(path, query);
  const current = location.href;
  if (replace) history.replaceState(null, '', url);
  else if (url !== current) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
  return render({focus: keepFocus ? 'keep' : 'main'});
}

// localNext returns path if it is a console path on this site (for
// ?next= after sign-in), else "/events".
function localNext(next) {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/events';
  if (/[\u0000-\u001f\u007f]/.test(next)) return '/events';
  if (next.startsWith('/login')) return '/events';
  return next;
}

function currentPath() {
  let p = location.pathname;
  if (ROOT && p.startsWith(ROOT)) p = p.slice(ROOT.length);
  return (p || '/') + location.search;
}

// sessionEnded is called on any 401: back to the sign-in page, which
// returns here afterwards.
function sessionEnded() {
  const route = parseRoute(location.pathname);
  if (route.name === 'login') return;
  const hadSession = me !== null;
  me = null;
  client.csrf = '';
  notice = hadSession ? 'Your session has ended. Sign in again.' : '';
  navigate('/login', {query: {next: currentPath()}, replace: true});
}

function announce(text) {
  const s = document.getElementById('status');
  if (!s) return;
  s.textContent = '';
  setTimeout(() => {
    s.textContent = text;
  }, 30);
}

function setTitle(text) {
  document.title = text ? text + ' · ' + TITLE : TITLE;
}

// freshMain replaces <main> with an empty one, so that a page still
// rendering for an earlier navigation writes into a detached element.
function freshMain() {
  const old = document.getElementById('main');
  const main = h('main', {id: 'main', tabindex: '-1'});
  if (old) old.replaceWith(main);
  else document.body.appendChild(main);
  return main;
}

// loadMe reads the principal, and the CSRF token of a session.
async function loadMe() {
  me = await client.request('me');
  if (me && me.method === 'session') await client.refreshCSRF();
  return me;
}

function makeCtx(route, main) {
  return {
    api: (path, opts = {}) => client.request(path, opts),
    apiURL: (path, query) => client.url(path, query),
    url: consoleURL,
    navigate: (path, opts) => navigate(path, opts),
    params: new URLSearchParams(location.search),
    route,
    me,
    can,
    readOnly: READ_ONLY,
    fmtTime: (iso, opts) => fmtTime(iso, opts),
    timeZone: timeZone(),
    h,
    setTitle,
    announce,
    root: main,
  };
}

// message renders a page that only says something.
function message(main, title, text, extra) {
  setTitle(title);
  main.append(h('div', {class: 'page'}, h('h1', null, title), h('p', null, text), extra || null));
}

async function render({focus = 'none'} = {}) {
  const seq = ++renderSeq;
  const focusedID = focus === 'keep' && document.activeElement ? document.activeElement.id : '';
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.error('page cleanup', e);
    }
    cleanup = null;
  }
  const route = parseRoute(location.pathname);
  if (route.name === 'home') {
    history.replaceState(null, '', consoleURL('/events', location.search ? new URLSearchParams(location.search) : null));
    return render({focus});
  }
  const main = freshMain();
  if (route.name === 'login') {
    updateHeader(route);
    renderLogin(main);
    return;
  }
  if (!me) {
    try {
      await loadMe();
    } catch (e) {
      if (seq !== renderSeq) return;
      if (e instanceof ApiError && e.status === 401) return; // sessionEnded navigated
      updateHeader(route);
      message(main, 'Cannot reach the API', 'The console could not read who you are: ' + e.message, retryButton());
      return;
    }
    if (seq !== renderSeq) return;
  }
  updateHeader(route);
  if (route.name === 'notfound') {
    message(main, 'Page not found', 'There is no console page at this address.',
      h('p', null, h('a', {href: consoleURL('/events')}, 'Go to the events')));
    return;
  }
  const perm = need(route);
  if (perm && !can(perm)) {
    message(main, 'Not allowed', `You (${me.name || me.id}) do not have the permission this page needs` +
      (perm === 'admin' ? '.' : ` (${perm}).`));
    main.querySelector('.page').setAttribute('data-forbidden', '');
    return;
  }
  if (route.name === 'admin' && !route.sub) {
    const first = ADMIN_SECTIONS.find((s) => can(s.need));
    history.replaceState(null, '', consoleURL('/admin/' + first.sub));
    return render({focus});
  }
  let mod;
  try {
    mod = await import(PAGES[route.name]);
  } catch (e) {
    if (seq !== renderSeq) return;
    console.error('load page', e);
    message(main, 'Page unavailable', 'This page could not be loaded: ' + e.message, retryButton());
    return;
  }
  if (seq !== renderSeq) return;
  const ctx = makeCtx(route, main);
  let done;
  try {
    done = await mod.render(main, ctx);
  } catch (e) {
    if (seq !== renderSeq) return;
    if (e instanceof ApiError && e.status === 401) return;
    console.error('render page', e);
    clear(main);
    if (e instanceof ApiError && e.status === 403) {
      message(main, 'Not allowed', e.message);
    } else if (e instanceof ApiError && e.status === 404) {
      message(main, 'Not found', e.message);
    } else {
      message(main, 'Something went wrong', e.message, retryButton());
    }
    return;
  }
  if (seq !== renderSeq) {
    if (typeof done === 'function') done();
    return;
  }
  cleanup = typeof done === 'function' ? done : null;
  if (focus === 'keep' && focusedID && document.getElementById(focusedID)) {
    document.getElementById(focusedID).focus();
  } else if (focus !== 'none') {
    main.focus({preventScroll: false});
  }
  const h1 = main.querySelector('h1');
  if (focus !== 'none' && h1) announce(h1.textContent);
}

function retryButton() {
  return h('p', null, h('button', {type: 'button', class: 'btn', onclick: () => render({focus: 'main'})}, 'Try again'));
}

// ----- sign-in -----

function renderLogin(main) {
  setTitle('Sign in');
  const params = new URLSearchParams(location.search);
  const next = localNext(params.get('next'));
  const err = h('p', {class: 'form-error', id: 'login-error', role: 'alert', hidden: true});
  const user = h('input', {id: 'login-username', name: 'username', type: 'text', autocomplete: 'username',
    required: true, autocapitalize: 'none', spellcheck: 'false', 'aria-describedby': 'login-error'});
  const pass = h('input', {id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password',
    required: true, 'aria-describedby': 'login-error'});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'login-submit'}, 'Sign in');
  const showError = (text, field) => {
    err.textContent = text;
    err.hidden = false;
    user.removeAttribute('aria-invalid');
    pass.removeAttribute('aria-invalid');
    const target = field === 'password' ? pass : field === 'username' ? user : null;
    if (target) {
      target.setAttribute('aria-invalid', 'true');
      target.focus();
    }
  };
  const form = h('form', {class: 'card login-card', 'aria-labelledby': 'login-title', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (!user.value) return showError('Enter your username.', 'username');
      if (!pass.value) return showError('Enter your password.', 'password');
      submit.disabled = true;
      submit.textContent = 'Signing in…';
      try {
        const s = await client.request('auth/login', {method: 'POST', body: {username: user.value, password: pass.value}, auth: false, retry: false});
        me = s.principal;
        client.csrf = s.csrf_token || '';
        notice = '';
        pass.value = '';
        await navigate(next, {replace: true});
      } catch (e) {
        submit.disabled = false;
        submit.textContent = 'Sign in';
        if (e instanceof ApiError) {
          showError(e.message, e.field);
        } else {
          showError('Cannot reach the server: ' + e.message);
        }
        if (!(e instanceof ApiError && e.field)) pass.select();
      }
    }},
  h('h1', {id: 'login-title'}, 'Sign in to ' + TITLE),
  notice ? h('p', {class: 'notice', role: 'status'}, notice) : null,
  h('div', {class: 'field'}, h('label', {for: 'login-username'}, 'Username'), user),
  h('div', {class: 'field'}, h('label', {for: 'login-password'}, 'Password'), pass),
  err,
  h('div', {class: 'form-actions'}, submit));
  main.append(h('div', {class: 'login-wrap'}, form));
  user.focus();
}

async function signOut() {
  try {
    await client.request('auth/logout', {method: 'POST', auth: false});
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) {
      announce('Sign-out failed: ' + e.message);
      return;
    }
  }
  me = null;
  client.csrf = '';
  notice = 'You are signed out.';
  navigate('/login', {replace: false});
}

// ----- header -----

const THEME_KEY = 'activitylog.theme';

function storedTheme() {
  try {
    const t = localStorage.getItem(THEME_KEY);
    return t === 'light' || t === 'dark' ? t : 'system';
  } catch {
    return 'system';
  }
}

function applyTheme(t) {
  const root = document.documentElement;
  if (t === 'light' || t === 'dark') root.setAttribute('data-theme', t);
  else root.removeAttribute('data-theme');
}

function setTheme(t) {
  try {
    if (t === 'system') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, t);
  } catch {
    // Not stored: lasts this page.
  }
  applyTheme(t);
}

let menuOpen = false;

function updateHeader(route) {
  const nav = document.getElementById('nav');
  const tools = document.getElementById('tools');
  const brand = document.getElementById('brand');
  if (brand) brand.setAttribute('href', consoleURL('/events'));
  clear(nav);
  clear(tools);
  const signedIn = me && route.name !== 'login';
  const header = document.getElementById('topbar');
  header.classList.toggle('menu-open', menuOpen);
  if (signedIn) {
    const items = NAV.filter((n) => can(n.need));
    const ul = h('ul', {class: 'nav-list', id: 'nav-list'});
    for (const n of items) {
      const active = route.name === n.name || (n.name === 'events' && route.name === 'event');
      ul.append(h('li', null, h('a', {href: consoleURL(n.path), class: 'nav-link', 'aria-current': active ? 'page' : null,
        onclick: () => {
          menuOpen = false;
        }}, n.label)));
    }
    nav.append(h('button', {type: 'button', class: 'btn menu-toggle', 'aria-controls': 'nav-list', 'aria-expanded': menuOpen ? 'true' : 'false',
      onclick: (ev) => {
        menuOpen = !menuOpen;
        header.classList.toggle('menu-open', menuOpen);
        ev.currentTarget.setAttribute('aria-expanded', menuOpen ? 'true' : 'false');
      }}, 'Menu'), ul);
  }
  const theme = h('select', {id: 'theme-select', class: 'compact', 'aria-label': 'Colour theme',
    onchange: (ev) => setTheme(ev.target.value)},
  ['system', 'light', 'dark'].map((t) => h('option', {value: t, selected: storedTheme() === t},
    t === 'system' ? 'Theme: system' : t === 'light' ? 'Theme: light' : 'Theme: dark')));
  const tz = h('select', {id: 'tz-select', class: 'compact', 'aria-label': 'Time zone of the times shown',
    onchange: (ev) => {
      setTimeZone(ev.target.value);
      announce('Times are now shown in ' + zoneLabel());
      render({focus: 'keep'});
    }},
  h('option', {value: 'utc', selected: timeZone() === 'utc'}, 'Times: UTC'),
  h('option', {value: 'local', selected: timeZone() === 'local'}, 'Times: ' + localZoneName()));
  tools.append(h('span', {class: 'tz-label', id: 'tz-label', title: 'Times are shown in this zone'}, zoneLabel()), tz, theme);
  if (READ_ONLY) tools.append(h('span', {class: 'badge', title: 'This console hides every control that changes something'}, 'read-only'));
  if (signedIn) {
    tools.append(
      h('span', {class: 'whoami', id: 'whoami', title: (me.permissions || []).join(', ')},
        me.name || me.id, me.tenant ? h('span', {class: 'muted'}, ' · ' + me.tenant) : null),
      me.method === 'session'
        ? h('button', {type: 'button', class: 'btn', id: 'sign-out', onclick: signOut}, 'Sign out')
        : null);
  }
}

// ----- links and keys -----

document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target instanceof Element ? ev.target.closest('a[href]') : null;
  if (!a) return;
  const raw = a.getAttribute('href');
  if (raw.startsWith('#')) {
    // In-page links (the skip link): with <base>, the browser would
    // resolve them against the console's root; focus the target.
    ev.preventDefault();
    const t = document.getElementById(raw.slice(1));
    if (t) {
      if (!t.hasAttribute('tabindex')) t.setAttribute('tabindex', '-1');
      t.focus();
    }
    return;
  }
  if ((a.target && a.target !== '_self') || a.hasAttribute('download') || a.hasAttribute('data-native')) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin) return;
  const apiPath = new URL(API_BASE, location.href).pathname;
  if (u.pathname.startsWith(apiPath) || u.pathname.startsWith(ROOT + '/assets/')) return;
  if (u.pathname !== ROOT && !u.pathname.startsWith(ROOT + '/')) return;
  ev.preventDefault();
  const rel = u.pathname.slice(ROOT.length) || '/';
  navigate(rel + u.search);
});

window.addEventListener('popstate', () => render({focus: 'main'}));

applyTheme(storedTheme());
render({focus: 'none'});
