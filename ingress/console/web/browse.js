// browse.js: a topic between two positions, a page at a time. Each page
// is one bounded replay (limit records, read as SSE): the id of its last
// record is where the next page starts, so no page loads the whole topic.

import { call, getJSON, readEvents, replayQuery } from './api.js';
import { h, field, formValues, problemBox } from './dom.js';
import { recordTable } from './records.js';

// topicField is a topic input that suggests the topics replay may read.
export function topicField(value) {
  const list = h('datalist', { id: 'topic-names' });
  getJSON('/v1/topics').then(({ topics }) => {
    list.replaceChildren(...topics.map((t) => h('option', { value: t.topic })));
  }, () => {});
  return [field('Topic', { name: 'topic', value, required: true, list: 'topic-names', autocomplete: 'off' }), list];
}

// filterFields are the replay filters: positions, key, headers.
export function filterFields(p, from = 'earliest') {
  return [
    field('From (offset P:O, time, -5m, earliest)', { name: 'from', value: p.get('from') || from }),
    field('To (empty: the end)', { name: 'to', value: p.get('to') || '' }),
    field('Key', { name: 'key', value: p.get('key') || '' }),
    field('Headers (NAME=VALUE per line)', { name: 'headers', rows: 1, value: p.get('headers') || '' }, 'textarea'),
    field('Value filters (per line: /status = "failed")', { name: 'where', rows: 1, value: p.get('where') || '' }, 'textarea'),
  ];
}

// readPage replays one page into table; it resolves to {last, end}.
export async function readPage(topic, query, table, signal) {
  const resp = await call(`/v1/replay/${encodeURIComponent(topic)}?${query}`, {
    headers: { Accept: 'text/event-stream' },
    signal,
  });
  const out = { last: '', end: null, inRange: resp.headers.get('Ferry-Records-In-Range') };
  await readEvents(resp, (e) => {
    if (e.event === 'record') {
      table.add(JSON.parse(e.data));
      out.last = e.id;
    } else if (e.event === 'end') {
      out.end = JSON.parse(e.data);
    } else if (e.event === 'error') {
      const p = JSON.parse(e.data);
      throw new Error(p.detail || p.title || 'the replay failed');
    }
  });
  return out;
}

export function render(main, params) {
  const form = h('form', { class: 'controls', id: 'browse' },
    topicField(params.get('topic') || ''),
    filterFields(params),
    field('Page size', { name: 'limit', type: 'number', min: 1, max: 1000, value: params.get('limit') || '50' }),
    h('button', { type: 'submit' }, 'Read'));
  const status = h('div', { class: 'note', 'aria-live': 'polite' });
  const pick = h('button', { type: 'button', id: 'browse-redrive', disabled: true }, 'Redrive selected…');
  const table = recordTable({ selectable: true, onSelect: () => {
    const n = table.selected().length;
    pick.disabled = n === 0;
    pick.textContent = n ? `Redrive ${n} selected…` : 'Redrive selected…';
  } });
  const prev = h('button', { type: 'button', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next →');
  pick.addEventListener('click', () => {
    location.hash = '#/redrive?' + new URLSearchParams({ topic: formValues(form).topic, pick: table.selected().join(',') });
  });
  main.append(h('h1', null, 'Browse'), form, status, h('div', { class: 'pager' }, prev, next, pick), table.el);

  let starts = []; // the from of each page shown so far
  let last = '';
  let ctrl = null;
  async function show(from) {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const v = formValues(form);
    const q = replayQuery({ ...v, from }, { format: 'sse' });
    history.replaceState(null, '', '#/browse?' + new URLSearchParams(Object.entries(v).filter(([, x]) => x)));
    table.clear();
    prev.disabled = next.disabled = pick.disabled = true;
    pick.textContent = 'Redrive selected…';
    status.replaceChildren('Reading…');
    try {
      const page = await readPage(v.topic, q, table, ctrl.signal);
      last = page.last;
      const n = table.count();
      const more = page.end && page.end.reason === 'limit';
      const none = starts.length > 1 ? 'No more records' : 'No records in this range';
      status.replaceChildren(
        `${n ? `${n} records` : none} (page ${starts.length})`,
        page.inRange ? ` · the range spans ${page.inRange} offsets` : '',
        page.end ? ` · scanned ${page.end.scanned}` : '');
      next.disabled = !more || !last;
      prev.disabled = starts.length < 2;
    } catch (err) {
      if (err.name !== 'AbortError') status.replaceChildren(problemBox(err));
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const from = formValues(form).from;
    starts = [from];
    show(from);
  });
  next.addEventListener('click', () => {
    starts.push(last);
    show(last);
  });
  prev.addEventListener('click', () => {
    starts.pop();
    show(starts[starts.length - 1]);
  });
  if (params.get('topic')) form.requestSubmit();
  return () => ctrl && ctrl.abort();
}
