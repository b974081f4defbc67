// The dashboard: the counts of GET /api/v1/dashboard and
// GET /api/v1/request-events/error-rates over a window of the last 1 h,
// 24 h, 7 d or 30 d (kept in the URL as ?window=), drawn with uPlot
// (vendor/uPlot.esm.js). The server aggregates; the page never pages
// through events.
//
// Each chart is a <figure> with a caption, a canvas labelled for screen
// readers with a summary, and a data table with the same numbers. The
// series per bucket (requests, 4xx, 5xx, failed logins, p95 latency)
// and the countries come from the dashboard too; a bucket without
// requests has no error rate and no latency, and is drawn as a gap.

import uPlot from '../vendor/uPlot.esm.js';
import {ApiError} from '../lib/api.js';
import {fmtCount, fmtDuration, zoneLabel} from '../lib/format.js';

const WINDOWS = [
  {key: '1h', hours: 1, label: '1 h'},
  {key: '24h', hours: 24, label: '24 h'},
  {key: '7d', hours: 168, label: '7 d'},
  {key: '30d', hours: 720, label: '30 d'},
];
const DEFAULT_WINDOW = '24h';
const TOP = 10;

const KIND_LABELS = {
  crud: 'Data changes', auth: 'Auth', request: 'Requests', cors: 'CORS', system: 'System',
  export: 'Exports', external: 'External calls', custom: 'Custom',
};
// Colours told apart by most colour-blind readers, readable on the
// light and the dark theme; every other series is also dashed.
const PALETTE = ['#2f7ed8', '#e8890c', '#1a9e6e', '#d6336c', '#7e57c2', '#0fa3b1', '#b8860b', '#8a8f98'];

// loadStyles adds uPlot's stylesheet once.
function loadStyles() {
  if (document.getElementById('uplot-css')) return;
  const link = document.createElement('link');
  link.id = 'uplot-css';
  link.rel = 'stylesheet';
  link.href = new URL('../vendor/uPlot.min.css', import.meta.url).href;
  document.head.append(link);
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function pct(x) {
  if (!isFinite(x)) return '0 %';
  const p = x * 100;
  return (p === 0 ? '0' : p < 0.1 ? p.toFixed(2) : p < 10 ? p.toFixed(1) : p.toFixed(0)) + ' %';
}

// bucketName says what one bucket of bucket_ns is: "hour", "6 hours", "day".
function bucketName(ns) {
  const hours = ns / 3.6e12;
  if (hours === 1) return 'hour';
  if (hours === 24) return 'day';
  if (Number.isInteger(hours)) return hours + ' hours';
  return fmtDuration(ns);
}

export async function render(root, ctx) {
  const {h} = ctx;
  ctx.setTitle('Dashboard');
  loadStyles();

  let win = WINDOWS.find((w) => w.key === ctx.params.get('window'));
  const badWindow = ctx.params.get('window') && !win;
  if (!win) win = WINDOWS.find((w) => w.key === DEFAULT_WINDOW);
  const utc = ctx.timeZone !== 'local';
  const zone = zoneLabel(ctx.timeZone);

  const plots = []; // {u, el, make}: live uPlot instances, to size and free
  const picks = h('div', {class: 'quick-picks', role: 'group', 'aria-label': 'Window'},
    h('span', {class: 'muted'}, 'Window: last'),
    WINDOWS.map((w) => h('button', {type: 'button', class: 'btn btn-small', 'data-window': w.key,
      'aria-pressed': w === win ? 'true' : 'false',
      onclick: () => ctx.navigate('/dashboard', {query: {window: w.key}, keepFocus: true})}, w.label)),
    h('button', {type: 'button', class: 'btn btn-small', id: 'dash-refresh',
      onclick: () => ctx.navigate('/dashboard', {query: {window: win.key}, replace: true, keepFocus: true})}, 'Refresh'));
  const page = h('div', {class: 'page dashboard-page'},
    h('h1', null, 'Dashboard'),
    h('div', {class: 'toolbar'}, picks),
    badWindow ? h('p', {class: 'form-error', role: 'alert'},
      'Unknown window "' + ctx.params.get('window') + '": use 1h, 24h, 7d or 30d. Showing the last 24 hours.') : null);
  root.append(page);
  const loading = h('p', {class: 'muted', id: 'dash-loading'}, 'Loading…');
  page.append(loading);

  const [dash, rates] = await Promise.all([
    ctx.api('dashboard', {query: {hours: win.hours, top: TOP}}),
    ctx.api('request-events/error-rates', {query: {hours: win.hours, limit: TOP}}).catch((e) => {
      if (e instanceof ApiError && e.status === 401) throw e;
      return {error: e};
    }),
  ]);
  loading.remove();

  const from = ctx.fmtTime(dash.from);
  const to = ctx.fmtTime(dash.to);
  page.append(h('p', {class: 'lead muted', id: 'dash-window'},
    `From ${from} to ${to} (${zone}), in whole hours. Counts come from the server.`));

  // ----- tiles -----
  const tile = (id, label, value, detail) => h('div', {class: 'card', id, role: 'group', 'aria-label': label,
    style: {margin: '0', flex: '1 1 10rem', minWidth: '10rem'}},
  h('div', {class: 'muted'}, label),
  h('div', {class: 'tile-value', style: {fontSize: '1.6rem', fontWeight: '700', fontVariantNumeric: 'tabular-nums'}}, value),
  detail ? h('div', {class: 'muted', style: {fontSize: '.85rem'}}, detail) : null);
  const errors = dash.errors_4xx + dash.errors_5xx;
  page.append(h('section', {'aria-label': 'Totals', style: {display: 'flex', flexWrap: 'wrap', gap: '1rem', margin: '0 0 1rem'}},
    tile('tile-total', 'Events', fmtCount(dash.total), fmtCount(dash.unique_ips) + ' client addresses'),
    tile('tile-requests', 'Requests', fmtCount(dash.requests)),
    tile('tile-error-rate', 'Error rate', pct(dash.error_rate),
      `${fmtCount(errors)} errors: ${fmtCount(dash.errors_4xx)} 4xx, ${fmtCount(dash.errors_5xx)} 5xx`),
    tile('tile-latency', 'Latency p95', dash.requests ? fmtDuration(dash.latency_p95_ns) : '—',
      dash.requests ? 'median ' + fmtDuration(dash.latency_p50_ns) : 'no request with a duration'),
    tile('tile-failed-logins', 'Failed logins', fmtCount(dash.failed_logins),
      h('a', {href: ctx.url('/events', {kind: 'auth', action: 'login_failed', last_hours: win.hours})}, 'See them'))));

  // ----- events over time by kind -----
  const starts = (dash.series.start || []).map((s) => Date.parse(s) / 1000);
  const per = bucketName(dash.bucket_ns);
  const kinds = Object.keys(dash.series.counts || {}).filter((k) => (dash.kinds[k] || 0) > 0).sort();
  const byKindFig = chartFigure(ctx, {
    id: 'chart-kinds',
    title: 'Events over time, by kind',
    unit: 'events per ' + per,
    starts,
    series: kinds.map((k) => ({label: KIND_LABELS[k] || k, key: k, values: dash.series.counts[k]})),
    zone, utc, plots, empty: 'No events in this window.',
  });
  const ser = dash.series;
  const zeros = starts.map(() => 0);
  const reqs = ser.requests || zeros;
  const e4 = ser.errors_4xx || zeros;
  const e5 = ser.errors_5xx || zeros;
  const requestsFig = chartFigure(ctx, {
    id: 'chart-requests',
    title: 'Requests and errors over time',
    unit: 'requests per ' + per,
    per,
    starts,
    series: [{label: 'Requests', values: reqs}, {label: '4xx errors', values: e4}, {label: '5xx errors', values: e5}],
    zone, utc, plots, empty: 'No request events in this window.',
    note: `Error rate over the window: ${pct(dash.error_rate)} (${fmtCount(dash.errors_4xx)} 4xx and ${fmtCount(dash.errors_5xx)} 5xx of ${fmtCount(dash.requests)} requests).`,
  });
  // The error rate per bucket, in percent; none without requests.
  const rates4 = reqs.map((n, i) => (n ? (100 * e4[i]) / n : null));
  const rates5 = reqs.map((n, i) => (n ? (100 * e5[i]) / n : null));
  const ratesAll = reqs.map((n, i) => (n ? (100 * (e4[i] + e5[i])) / n : null));
  const fmtPct = (v) => (v == null ? '—' : pct(v / 100));
  const rateFig = chartFigure(ctx, {
    id: 'chart-error-rate',
    title: 'Error rate over time',
    unit: '% of the requests in each ' + per,
    axisLabel: 'Error rate (%)',
    per,
    starts,
    additive: false,
    fmt: fmtPct,
    axis: (v) => pct(v / 100),
    series: [{label: 'Error rate (4xx and 5xx)', values: ratesAll}, {label: '4xx', values: rates4}, {label: '5xx', values: rates5}],
    zone, utc, plots, empty: 'No request events in this window.',
    note: `${pct(dash.error_rate)} over the window. Where there were no requests there is no rate: the chart leaves a gap, the table shows —.`,
  });
  // The p95 latency per bucket, in milliseconds; none without a
  // request that has a duration (0 in the API).
  const p95 = (ser.latency_p95_ns || zeros).map((ns) => (ns > 0 ? ns / 1e6 : null));
  const fmtMs = (v) => (v == null ? '—' : fmtDuration(Math.round(v * 1e6)));
  const latencyFig = chartFigure(ctx, {
    id: 'chart-latency',
    title: 'Request latency (p95) over time',
    unit: 'milliseconds, 95th percentile of the requests in each ' + per,
    axisLabel: 'p95 latency (ms)',
    per,
    starts,
    additive: false,
    fmt: fmtMs,
    axis: (v) => (v >= 100 ? v.toFixed(0) : (v >= 10 ? v.toFixed(1) : v.toFixed(2)).replace(/\.?0+$/, '')) + ' ms',
    series: [{label: 'p95 latency', values: p95}],
    zone, utc, plots, empty: 'No request with a duration in this window.',
    note: dash.requests ? `Over the window: p95 ${fmtDuration(dash.latency_p95_ns)}, median ${fmtDuration(dash.latency_p50_ns)}. ` +
      'Read from a histogram: at most 1/16 above the true value.' : null,
  });
  const failedFig = chartFigure(ctx, {
    id: 'chart-failed-logins',
    title: 'Failed logins over time',
    unit: 'failed logins per ' + per,
    per,
    starts,
    series: [{label: 'Failed logins', values: ser.failed_logins || zeros}],
    zone, utc, plots, empty: 'No failed login in this window.',
    note: h('a', {href: ctx.url('/events', {kind: 'auth', action: 'login_failed', last_hours: win.hours})}, 'See the failed logins'),
  });
  const row = (...figs) => h('div', {class: 'grid-2'}, figs);
  page.append(byKindFig, row(requestsFig, rateFig), row(latencyFig, failedFig));

  // ----- tables -----
  const maxUser = Math.max(1, ...dash.top_users.map((u) => u.count));
  const bar = (n, max, label) => h('div', {'aria-hidden': 'true', title: label,
    style: {height: '.55rem', minWidth: '2px', width: (100 * n / max).toFixed(1) + '%', background: 'var(--accent)', borderRadius: '2px'}});
  const usersCard = h('section', {class: 'card', 'aria-labelledby': 'top-users-title'},
    h('h2', {id: 'top-users-title'}, 'Top users'),
    dash.top_users.length === 0 ? h('p', {class: 'muted'}, 'No user events in this window.')
      : h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'top-users'},
        h('caption', {class: 'sr-only'}, 'Users with the most events in the window'),
        h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'User'), h('th', {scope: 'col', class: 'num'}, 'Events'),
          h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Share')))),
        h('tbody', null, dash.top_users.map((u) => h('tr', null,
          h('td', null, h('a', {href: ctx.url('/events', {user_id: u.id, last_hours: win.hours})}, u.name || u.id),
            u.name && u.name !== u.id ? h('span', {class: 'muted'}, ' · ' + u.id) : null),
          h('td', {class: 'num'}, fmtCount(u.count)),
          h('td', {style: {width: '35%'}}, bar(u.count, maxUser, fmtCount(u.count) + ' events'))))))));
  const maxRoute = Math.max(1, ...dash.top_routes.map((r) => r.requests));
  const routesCard = h('section', {class: 'card', 'aria-labelledby': 'top-routes-title'},
    h('h2', {id: 'top-routes-title'}, 'Top routes'),
    dash.top_routes.length === 0 ? h('p', {class: 'muted'}, 'No request events in this window.')
      : h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'top-routes'},
        h('caption', {class: 'sr-only'}, 'Routes with the most requests in the window, with their errors'),
        h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Route'), h('th', {scope: 'col', class: 'num'}, 'Requests'),
          h('th', {scope: 'col', class: 'num'}, 'Errors'), h('th', {scope: 'col', class: 'num'}, 'Error rate'),
          h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Share')))),
        h('tbody', null, dash.top_routes.map((r) => h('tr', null,
          h('td', {class: 'mono wrap-anywhere'}, r.route),
          h('td', {class: 'num'}, fmtCount(r.requests)),
          h('td', {class: 'num'}, fmtCount(r.errors)),
          h('td', {class: 'num'}, pct(r.requests ? r.errors / r.requests : 0)),
          h('td', {style: {width: '25%'}}, bar(r.requests, maxRoute, fmtCount(r.requests) + ' requests'))))))));

  let errorsCard;
  if (rates.error) {
    errorsCard = h('section', {class: 'card', 'aria-labelledby': 'error-routes-title'},
      h('h2', {id: 'error-routes-title'}, 'Routes with errors'),
      h('p', {class: 'form-error'}, 'The error rates could not be read: ' + rates.error.message));
  } else {
    errorsCard = h('section', {class: 'card', 'aria-labelledby': 'error-routes-title'},
      h('h2', {id: 'error-routes-title'}, 'Routes with errors'),
      rates.routes.length === 0 ? h('p', {class: 'muted'}, 'No route answered 4xx or 5xx in this window.')
        : h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'error-routes'},
          h('caption', {class: 'sr-only'}, 'Routes with 4xx or 5xx answers, most errors first'),
          h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Route'), h('th', {scope: 'col', class: 'num'}, '4xx'),
            h('th', {scope: 'col', class: 'num'}, '5xx'), h('th', {scope: 'col', class: 'num'}, 'Error rate'),
            h('th', {scope: 'col'}, 'Statuses'))),
          h('tbody', null, rates.routes.map((r) => h('tr', null,
            h('td', {class: 'mono wrap-anywhere'}, r.route),
            h('td', {class: 'num'}, fmtCount(r.errors_4xx)),
            h('td', {class: 'num'}, fmtCount(r.errors_5xx)),
            h('td', {class: 'num'}, pct(r.error_rate)),
            h('td', null, (r.statuses || []).map((s) => s.status + ' × ' + fmtCount(s.count)).join(', '))))))),
      rates.truncated ? h('p', {class: 'muted'}, `More routes had errors; the ${TOP} with the most are shown.`) : null);
  }

  // Countries: the events of every kind with a request.geo country.
  const countries = dash.top_countries || [];
  const noCountry = dash.no_country || 0;
  const maxCountry = Math.max(1, ...countries.map((c) => c.count));
  const countriesCard = h('section', {class: 'card', 'aria-labelledby': 'countries-title'},
    h('h2', {id: 'countries-title'}, 'By country'),
    countries.length === 0 ? h('p', {class: 'muted', id: 'countries-empty'}, 'No event in this window has a country (request.geo).')
      : h('div', {class: 'table-scroll'}, h('table', {class: 'table', id: 'top-countries'},
        h('caption', {class: 'sr-only'}, 'Countries with the most events in the window'),
        h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Country'), h('th', {scope: 'col', class: 'num'}, 'Events'),
          h('th', {scope: 'col', class: 'num'}, 'Share'), h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Bar')))),
        h('tbody', null, countries.map((c) => h('tr', null,
          h('td', null, c.name || c.code, c.code && c.name ? h('span', {class: 'muted'}, ' · ' + c.code) : null),
          h('td', {class: 'num'}, fmtCount(c.count)),
          h('td', {class: 'num'}, pct(dash.total ? c.count / dash.total : 0)),
          h('td', {style: {width: '30%'}}, bar(c.count, maxCountry, fmtCount(c.count) + ' events'))))))),
    h('p', {class: 'muted', id: 'countries-note'},
      `Events of every kind, by the country of their client address (request.geo). ${fmtCount(noCountry)} of ${fmtCount(dash.total)} events have no country.` +
      (countries.length >= TOP ? ` The ${TOP} countries with the most events are shown.` : '')));

  page.append(h('div', {class: 'grid-2'}, usersCard, routesCard), h('div', {class: 'grid-2', style: {marginTop: '1rem'}}, errorsCard, countriesCard));

  // ----- drawing, sizing and theme -----
  for (const p of plots) p.u = p.make();
  const resize = () => {
    for (const p of plots) {
      const w = Math.max(240, p.el.clientWidth);
      if (Math.abs(p.u.width - w) > 1) p.u.setSize({width: w, height: p.u.height});
    }
  };
  const ro = new ResizeObserver(resize);
  for (const p of plots) ro.observe(p.el);
  // uPlot draws on a canvas with the theme's colours: redraw on a theme change.
  const rebuild = () => {
    for (const p of plots) {
      p.u.destroy();
      p.u = p.make();
    }
  };
  const themeObserver = new MutationObserver(rebuild);
  themeObserver.observe(document.documentElement, {attributes: true, attributeFilter: ['data-theme']});
  const media = window.matchMedia('(prefers-color-scheme: dark)');
  media.addEventListener('change', rebuild);

  return () => {
    ro.disconnect();
    themeObserver.disconnect();
    media.removeEventListener('change', rebuild);
    for (const p of plots) p.u.destroy();
  };
}

// chartFigure returns a <figure> for a uPlot time-series chart of
// o.series over o.starts (Unix seconds), with its data table; it adds
// the chart to o.plots, for the caller to draw with make() once the
// figure is in the page.
//
// o.additive (default true) says the values are counts, which add up
// over the buckets; otherwise (rates, percentiles) a value may be null,
// a bucket without one, drawn as a gap. o.fmt formats a value, o.axis a
// tick of the y axis, o.axisLabel names that axis (default: o.unit),
// o.per is the bucket's name.
function chartFigure(ctx, o) {
  const {h} = ctx;
  const capID = o.id + '-caption';
  const additive = o.additive !== false;
  const fmt = o.fmt || ((v) => (v == null ? '—' : fmtCount(v)));
  const per = o.per || o.unit.split(' per ')[1];
  const total = o.series.reduce((n, s) => n + s.values.reduce((a, b) => a + (b || 0), 0), 0);
  const fig = h('figure', {class: 'card chart', id: o.id, 'aria-labelledby': capID, style: {margin: '0 0 1rem'}},
    h('figcaption', {id: capID}, h('h2', {style: {margin: '0 0 .25rem'}}, o.title),
      h('span', {class: 'muted'}, `${o.unit[0].toUpperCase() + o.unit.slice(1)}; time in ${o.zone}.`)));
  const hasData = additive ? total > 0 : o.series.some((s) => s.values.some((v) => v != null));
  if (!hasData) {
    fig.append(h('p', {class: 'muted chart-empty'}, o.empty));
    if (o.note) fig.append(h('p', {class: 'chart-note'}, o.note));
    return fig;
  }
  // A sentence that says what the chart shows, for screen readers.
  const parts = o.series.map((s) => {
    let peak = -1;
    s.values.forEach((v, i) => {
      if (v != null && (peak < 0 || v > s.values[peak])) peak = i;
    });
    if (peak < 0) return `${s.label}: no value`;
    const at = `in the ${per} from ${ctx.fmtTime(new Date(o.starts[peak] * 1000).toISOString())}`;
    if (additive) {
      const sum = s.values.reduce((a, b) => a + b, 0);
      return `${s.label}: ${fmtCount(sum)} in all, at most ${fmt(s.values[peak])} ${at}`;
    }
    const blank = s.values.filter((v) => v == null).length;
    return `${s.label}: at most ${fmt(s.values[peak])} ${at}` + (blank ? `, ${blank} ${per === 'hour' || per === 'day' ? per + 's' : 'buckets'} without a value` : '');
  });
  const summary = `${o.series.length > 1 ? 'Line chart of ' + o.series.length + ' series' : 'Line chart'}, ${o.unit}, from ${ctx.fmtTime(new Date(o.starts[0] * 1000).toISOString())} to ${ctx.fmtTime(new Date(o.starts[o.starts.length - 1] * 1000).toISOString())} ${o.zone}. ${parts.join('. ')}.`;
  const holder = h('div', {class: 'chart-canvas', role: 'img', 'aria-label': summary});
  fig.append(holder);
  if (o.note) fig.append(h('p', {class: 'chart-note'}, o.note));

  // The data table.
  fig.append(h('details', {class: 'chart-data'},
    h('summary', null, 'Data table'),
    h('div', {class: 'table-scroll'}, h('table', {class: 'table'},
      h('caption', {class: 'sr-only'}, o.title + ', ' + o.unit),
      h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Start (' + o.zone + ')'),
        o.series.map((s) => h('th', {scope: 'col', class: 'num'}, s.label)))),
      h('tbody', null, o.starts.map((t, i) => h('tr', null,
        h('th', {scope: 'row', class: 'nowrap'}, ctx.fmtTime(new Date(t * 1000).toISOString())),
        o.series.map((s) => h('td', {class: 'num'}, fmt(s.values[i]))))))))));

  const make = () => {
    const text = cssVar('--text', '#17202b');
    const grid = cssVar('--border', '#c9d0d9');
    const axis = (label) => ({stroke: text, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}, label,
      labelFont: '600 12px system-ui, sans-serif', font: '12px system-ui, sans-serif'});
    const opts = {
      width: Math.max(240, holder.clientWidth || 600),
      height: 260,
      tzDate: o.utc ? (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC') : undefined,
      scales: {x: {time: true}, y: {range: (u, min, max) => [0, Math.max(1, max * 1.1)]}},
      axes: [
        {...axis('Time (' + o.zone + ')'), labelSize: 20},
        {...axis(o.axisLabel || o.unit), labelSize: 20, size: o.axis ? 64 : 56,
          values: (u, splits) => splits.map((v) => (o.axis ? o.axis(v) : Number.isInteger(v) ? fmtCount(v) : ''))},
      ],
      series: [
        {label: 'Time', value: (u, ts) => (ts == null ? '—' : ctx.fmtTime(new Date(ts * 1000).toISOString()))},
        ...o.series.map((s, i) => ({
          label: s.label,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          dash: i % 2 ? [6, 3] : undefined,
          points: {show: o.starts.length <= 48},
          spanGaps: false,
          value: (u, v) => fmt(v),
        })),
      ],
      legend: {show: true, live: true},
      cursor: {drag: {x: false, y: false}},
    };
    return new uPlot(opts, [o.starts, ...o.series.map((s) => s.values)], holder);
  };
  // Drawn by the caller once the figure is in the page, so that it has
  // a width.
  o.plots.push({el: holder, make, u: null});
  return fig;
}
