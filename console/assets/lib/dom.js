// DOM helpers. Text from the API is always set as text, never parsed
// as HTML: h() has no way to take markup.

const SVG_NS = 'http://www.w3.org/2000/svg';
const SVG_TAGS = new Set(['svg', 'g', 'path', 'line', 'rect', 'circle', 'ellipse', 'polyline',
  'polygon', 'text', 'tspan', 'defs', 'clipPath', 'linearGradient', 'stop', 'desc']);
const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'xlink:href']);
const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'indeterminate', 'multiple', 'readOnly', 'required']);

// safeURL refuses URLs that would run script (javascript:, vbscript:,
// data: other than images) whatever their spelling.
export function safeURL(v) {
  const s = String(v).replace(/[\u0000-\u0020\u007f]+/g, '').toLowerCase();
  if (s.startsWith('javascript:') || s.startsWith('vbscript:') || (s.startsWith('data:') && !s.startsWith('data:image/'))) {
    return '#';
  }
  return String(v);
}

// h makes an element: h('a', {href: '/x', class: 'btn', onclick: fn}, 'text', child, [more]).
// A tag "svg:NAME" (or a known SVG tag) makes an SVG element. attrs:
// class, style (an object, set through CSSOM), on* (functions), data-*,
// aria-*, boolean true (attribute present), false/null/undefined
// (left out), value/checked/... (set as properties).
export function h(tag, attrs, ...children) {
  let el;
  if (tag.startsWith('svg:')) {
    el = document.createElementNS(SVG_NS, tag.slice(4));
  } else if (SVG_TAGS.has(tag)) {
    el = document.createElementNS(SVG_NS, tag);
  } else {
    el = document.createElement(tag);
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === false || v === null || v === undefined) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2).toLowerCase(), v);
      } else if (k === 'style' && typeof v === 'object') {
        for (const [p, pv] of Object.entries(v)) {
          if (p.startsWith('--')) el.style.setProperty(p, pv); else el.style[p] = pv;
        }
      } else if (k === 'class' || k === 'className') {
        const cls = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
        if (cls) el.setAttribute('class', cls);
      } else if (PROPS.has(k) && !(el instanceof SVGElement)) {
        el[k] = v;
      } else if (k === 'innerHTML' || k === 'outerHTML' || k === 'srcdoc') {
        throw new Error('h(): ' + k + ' is not allowed');
      } else {
        el.setAttribute(k, v === true ? '' : URL_ATTRS.has(k) ? safeURL(v) : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

// append adds children (strings as text, nodes, arrays, null) to el.
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// uid returns a fresh id for label/for pairs.
let seq = 0;
export function uid(prefix = 'id') {
  seq += 1;
  return prefix + '-' + seq;
}
