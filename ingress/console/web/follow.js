// follow.js: follow a request by its id (the id of a 202, the last
// segment of its Location): the stored result of /v1/results/{id}, with
// the reply's status, headers and body, then the request record and its
// reply record in Kafka (found by their kafka_correlationId header), with
// the time between them.

import { ApiError, call, getJSON } from './api.js';
import { h, field, formValues, problemBox } from './dom.js';
import { routes } from './spec.js';

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// find reads the first record of topic, from since on, whose
// kafka_correlationId header is id (ferry sets it on requests, and
// responders copy it to replies): {record} or {error}.
async function find(topic, id, since, signal) {
  const q = new URLSearchParams({ 'header.kafka_correlationId': id, from: since, limit: '1', format: 'json' });
  try {
    const [record] = await getJSON(`/v1/replay/${encodeURIComponent(topic)}?${q}`, { signal });
    return { record };
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return { error: `${topic} is not on replay.topics (or your scopes do not allow replay)` };
    if (err instanceof ApiError) return { error: `${topic}: ${err.message}` };
    throw err;
  }
}

// trip shows where the request and its reply are in Kafka, searching the
// topics of the request/response routes (from /openapi.json).
async function trip(id, since, known, signal) {
  const rs = (await routes()).filter((r) => r.replyTopic && (!known || r.topic === known));
  const lines = [];
  for (const topic of [...new Set(rs.map((r) => r.topic))]) {
    const req = await find(topic, id, since, signal);
    if (req.error) {
      lines.push(h('p', { class: 'note' }, req.error));
      continue;
    }
    if (!req.record) continue;
    const at = (r) => `${r.topic} partition ${r.partition} offset ${r.offset} at ${r.timestamp}`;
    const open = (r) => h('a', { href: `#/browse?${new URLSearchParams({ topic: r.topic, from: `${r.partition}:${r.offset}`, limit: '1' })}` }, 'open');
    lines.push(h('p', { id: 'follow-request' }, 'Request: ', at(req.record), ' · ', open(req.record)));
    for (const replyTopic of [...new Set(rs.filter((r) => r.topic === topic).map((r) => r.replyTopic))]) {
      const rep = await find(replyTopic, id, since, signal);
      if (rep.error) lines.push(h('p', { class: 'note' }, rep.error));
      else if (!rep.record) lines.push(h('p', { id: 'follow-reply' }, `No reply in ${replyTopic} yet.`));
      else {
        const ms = Date.parse(rep.record.timestamp) - Date.parse(req.record.timestamp);
        lines.push(h('p', { id: 'follow-reply' }, 'Reply: ', at(rep.record), ` · ${ms} ms after the request · `, open(rep.record)));
      }
    }
  }
  return lines.length ? lines : [h('p', { class: 'note' }, 'No request record with this id in the request topics of the routes with replies.')];
}

export function render(main, params) {
  const form = h('form', { class: 'controls', id: 'follow' },
    field('Request or correlation id', { name: 'id', value: params.get('id') || '', required: true, size: 40, autocomplete: 'off' }),
    field('Wait up to (seconds)', { name: 'wait', type: 'number', min: 0, max: 60, value: params.get('wait') || '0' }),
    field('Search Kafka from', { name: 'since', value: params.get('since') || '-1h' }),
    h('button', { type: 'submit' }, 'Follow'));
  const out = h('div', { id: 'follow-result', 'aria-live': 'polite' });
  main.append(h('h1', null, 'Follow a request'), form, out);

  let ctrl = null;
  async function follow() {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const { signal } = ctrl;
    const v = formValues(form);
    history.replaceState(null, '', '#/follow?' + new URLSearchParams({ ...Object.fromEntries(params), id: v.id, since: v.since }));
    const result = h('div', null, h('p', { class: 'note' }, 'Reading the result…'));
    const kafka = h('div', { id: 'follow-kafka' });
    out.replaceChildren(h('h2', null, 'Result'), result, h('h2', null, 'In Kafka'), kafka);
    const headers = {};
    if (+v.wait > 0) headers.Prefer = `wait=${+v.wait}`;
    const t0 = performance.now();
    try {
      const resp = await call(`/v1/results/${encodeURIComponent(v.id)}`, { headers, signal });
      const ms = Math.round(performance.now() - t0);
      const body = await resp.text();
      const pending = resp.status === 202;
      result.replaceChildren(
        h('p', { id: 'follow-status' }, pending ? `Pending (202): no final reply yet · ${ms} ms` : `Reply ${resp.status} · read in ${ms} ms`),
        h('h3', { class: 'note' }, 'headers'),
        h('table', null, h('tbody', null, [...resp.headers].map(([k, val]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, val))))),
        h('h3', { class: 'note' }, 'body'),
        h('pre', { id: 'follow-body' }, pretty(body)));
    } catch (err) {
      if (err.name === 'AbortError') return;
      result.replaceChildren(problemBox(err));
    }
    // After the result: by then the reply, if any, is in Kafka too.
    kafka.replaceChildren(h('p', { class: 'note' }, 'Searching the request and reply topics…'));
    try {
      kafka.replaceChildren(...await trip(v.id, v.since, params.get('topic'), signal));
    } catch (err) {
      if (err.name !== 'AbortError') kafka.replaceChildren(problemBox(err));
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    follow();
  });
  if (params.get('id')) follow();
  return () => ctrl && ctrl.abort();
}
