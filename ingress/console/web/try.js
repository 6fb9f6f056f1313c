// try.js: send a request to a configured route, from /openapi.json: an
// editor prefilled with the route's example (or {}), the path's
// parameters, and Prefer. It shows the status, the time taken, the
// headers and the body, and links a 202 to Follow.

import { authHeaders } from './api.js';
import { h, field, formValues, problemBox } from './dom.js';
import { routes } from './spec.js';

export function render(main, params) {
  const out = h('div', { id: 'try-result', 'aria-live': 'polite' });
  const pick = field('Route', { name: 'route', id: 'try-route' }, 'select');
  const sel = pick.querySelector('select');
  const paramBox = h('div', { class: 'controls' });
  const body = field('Body (JSON)', { name: 'body', spellcheck: 'false' }, 'textarea');
  const form = h('form', { id: 'try' },
    h('div', { class: 'controls' }, pick,
      field('Prefer (e.g. wait=5, respond-async)', { name: 'prefer', value: '' }),
      field('Idempotency-Key', { name: 'idem', value: '' })),
    paramBox, body,
    h('p', null, h('button', { type: 'submit', id: 'try-send' }, 'Send')));
  main.append(h('h1', null, 'Try a route'), form, out);

  let list = [];
  const current = () => list.find((r) => r.name === sel.value);
  function show() {
    const r = current();
    if (!r) return;
    paramBox.replaceChildren(...r.params.map((p) => field(`{${p}}`, { name: 'param.' + p, required: true })));
    body.hidden = r.example === null;
    body.querySelector('textarea').value = r.example === null ? '' : JSON.stringify(r.example, null, 2);
    history.replaceState(null, '', '#/try?' + new URLSearchParams({ route: r.name }));
  }
  routes().then((rs) => {
    list = rs;
    sel.replaceChildren(...rs.map((r) => h('option', { value: r.name }, `${r.method} ${r.path} (${r.name} → ${r.topic})`)));
    if (params.get('route')) sel.value = params.get('route');
    show();
  }, (err) => out.replaceChildren(problemBox(err)));
  sel.addEventListener('change', show);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = current();
    const v = formValues(form);
    let path = r.path;
    for (const p of r.params) path = path.replace(`{${p}}`, encodeURIComponent(v['param.' + p]));
    const headers = { ...authHeaders() };
    if (v.prefer) headers.Prefer = v.prefer;
    if (v.idem) headers['Idempotency-Key'] = v.idem;
    const init = { method: r.method, headers };
    if (r.example !== null) {
      headers['Content-Type'] = 'application/json';
      init.body = v.body;
    }
    out.replaceChildren('Sending…');
    const t0 = performance.now();
    try {
      const resp = await fetch(path, init);
      const text = await resp.text();
      const ms = Math.round(performance.now() - t0);
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON: shown as it is
      }
      // A request/response route's 202 names its result in Location.
      const loc = resp.headers.get('Location');
      const id = loc ? loc.split('/').pop() : json && json.id;
      const follow = resp.status === 202 && id
        ? h('a', { id: 'try-follow', href: '#/follow?' + new URLSearchParams({ id, topic: json?.topic || '', partition: String(json?.partition ?? ''), offset: String(json?.offset ?? '') }) }, 'Follow this request')
        : null;
      out.replaceChildren(
        h('p', { id: 'try-status', class: resp.ok ? 'ok' : null }, `${resp.status} ${resp.statusText} · ${ms} ms `, follow),
        h('h3', { class: 'note' }, 'headers'),
        h('table', null, h('tbody', null, [...resp.headers].map(([k, val]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, val))))),
        h('h3', { class: 'note' }, 'body'),
        h('pre', { id: 'try-body' }, json === null ? text : JSON.stringify(json, null, 2)));
    } catch (err) {
      out.replaceChildren(problemBox(err));
    }
  });
}
