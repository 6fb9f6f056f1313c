// follow.js: follow a request by its id (the id of a 202, the last
// segment of its Location): its record, when the console knows where it
// went, and the stored result of /v1/results/{id}, with the reply's
// status, headers and body.

import { call } from './api.js';
import { h, field, formValues, problemBox } from './dom.js';

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function render(main, params) {
  const form = h('form', { class: 'controls', id: 'follow' },
    field('Request or correlation id', { name: 'id', value: params.get('id') || '', required: true, size: 40, autocomplete: 'off' }),
    field('Wait up to (seconds)', { name: 'wait', type: 'number', min: 0, max: 60, value: params.get('wait') || '0' }),
    h('button', { type: 'submit' }, 'Follow'));
  const out = h('div', { id: 'follow-result', 'aria-live': 'polite' });
  main.append(h('h1', null, 'Follow a request'), form, out);

  let ctrl = null;
  async function follow() {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const v = formValues(form);
    history.replaceState(null, '', '#/follow?' + new URLSearchParams({ ...Object.fromEntries(params), id: v.id }));
    const parts = [];
    const topic = params.get('topic');
    if (topic && params.get('offset')) {
      const at = `${params.get('partition')}:${params.get('offset')}`;
      parts.push(h('h2', null, 'Request record'),
        h('p', null, `${topic} partition ${params.get('partition')} offset ${params.get('offset')} · `,
          h('a', { href: `#/browse?${new URLSearchParams({ topic, from: at, limit: '1' })}` }, 'open it')));
    }
    out.replaceChildren(...parts, h('p', { class: 'note' }, 'Reading the result…'));
    const headers = {};
    if (+v.wait > 0) headers.Prefer = `wait=${+v.wait}`;
    const t0 = performance.now();
    try {
      const resp = await call(`/v1/results/${encodeURIComponent(v.id)}`, { headers, signal: ctrl.signal });
      const ms = Math.round(performance.now() - t0);
      const body = await resp.text();
      const pending = resp.status === 202;
      out.replaceChildren(...parts,
        h('h2', null, 'Result'),
        h('p', { id: 'follow-status' }, pending ? `Pending (202): no final reply yet · ${ms} ms` : `Reply ${resp.status} · read in ${ms} ms`),
        h('h3', { class: 'note' }, 'headers'),
        h('table', null, h('tbody', null, [...resp.headers].map(([k, val]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, val))))),
        h('h3', { class: 'note' }, 'body'),
        h('pre', { id: 'follow-body' }, pretty(body)));
    } catch (err) {
      if (err.name !== 'AbortError') out.replaceChildren(...parts, problemBox(err));
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    follow();
  });
  if (params.get('id')) follow();
  return () => ctrl && ctrl.abort();
}
