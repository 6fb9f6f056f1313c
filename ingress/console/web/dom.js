// dom.js: building the page with DOM APIs only. Every string becomes a
// text node (or an attribute value): nothing here parses HTML, so record
// values, keys and headers, which are untrusted, can only ever be text.

import { ApiError } from './api.js';

// h builds an element: h('td', {class: 'num', onclick: f}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// field is a labelled input: field('From', {name: 'from', value: '-5m'}).
export function field(label, attrs, tag = 'input') {
  return h('label', null, label, h(tag, attrs));
}

// formValues reads the named fields of a form into an object.
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value.trim();
  }
  return out;
}

// problemBox shows an error; a 401 or 403 says what to do about it.
export function problemBox(err) {
  let head = 'Request failed';
  let detail = err && err.message ? err.message : String(err);
  if (err instanceof ApiError) {
    const p = err.problem;
    if (err.status === 401) head = 'Not logged in, or your credential was refused (401)';
    else if (err.status === 403) head = 'Your scopes do not allow this page (403)';
    else head = (p.title || 'HTTP error') + ' (' + err.status + ')';
    detail = [p.detail, p.type].filter(Boolean).join(' · ');
  }
  const box = h('div', { class: 'problem', role: 'alert' }, h('strong', null, head), detail);
  if (err instanceof ApiError && err.status === 401) {
    box.append(' ', h('a', { href: '#/login' }, 'Log in'));
  }
  return box;
}

// sparkline draws values as an SVG polyline, built with DOM APIs.
export function sparkline(values, width = 120, height = 24) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts.join(' '));
  svg.append(line);
  const title = document.createElementNS(ns, 'title');
  title.textContent = `${values.length ? values[values.length - 1].toFixed(1) : 0} records/s`;
  svg.append(title);
  return svg;
}
