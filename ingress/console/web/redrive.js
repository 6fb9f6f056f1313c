// redrive.js: copy selected records of a topic to a target topic. A dry
// run counts what would be copied and shows the first records; only then
// can the copy be confirmed. Redrive needs the replay scopes (admin by
// default), and ferry logs each one with its principal.

import { call, lines, parseHeaders, replayQuery } from './api.js';
import { h, field, formValues, problemBox } from './dom.js';
import { recordTable } from './records.js';
import { filterFields, readPage, topicField } from './browse.js';

const preview = 10;

// body is the redrive request of the form's values.
function body(v, dryRun) {
  const filters = {};
  if (v.key) filters.key = v.key;
  const hs = parseHeaders(v.headers);
  if (hs.length) filters.headers = Object.fromEntries(hs);
  const where = lines(v.where);
  if (where.length) filters.where = where;
  const b = { target_topic: v.target, dry_run: dryRun, new_ids: v.new_ids, filters };
  if (v.from) b.from = v.from;
  if (v.to) b.to = v.to;
  if (v.limit) b.limit = Number(v.limit);
  return b;
}

// one is the range of the single record at "PARTITION:OFFSET".
function one(at) {
  const [p, o] = at.split(':').map(Number);
  return { from: `${p}:${o}`, to: `${p}:${o + 1}`, partition: p };
}

// renderPicked redrives records picked by hand on the Browse page, one
// request each, with a progress bar.
function renderPicked(main, params, picks) {
  const topic = params.get('topic') || '';
  const form = h('form', { class: 'controls', id: 'redrive' },
    field('Target topic', { name: 'target', value: params.get('target') || topic, required: true, list: 'topic-names' }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'new_ids', checked: true }), ' new ce_id for each copy'),
    h('button', { type: 'submit', id: 'redrive-dry' }, 'Dry run'));
  const confirm = h('button', { type: 'button', id: 'redrive-confirm', hidden: true });
  const progress = h('progress', { hidden: true, max: picks.length, value: 0 });
  const out = h('div', { id: 'redrive-result', 'aria-live': 'polite' });
  const table = recordTable();
  main.append(
    h('h1', null, `Redrive ${picks.length} selected records of ${topic}`),
    h('p', { class: 'note' }, 'Needs the replay scopes (admin by default); each redrive is logged with your principal. ',
      h('a', { href: `#/redrive?${new URLSearchParams({ topic })}` }, 'Select by filter instead')),
    form, out, confirm, progress, table.el);
  const url = `/v1/replay/${encodeURIComponent(topic)}/redrive`;
  let target = '';
  let newIDs = true;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    ({ target, new_ids: newIDs } = formValues(form));
    confirm.hidden = true;
    table.clear();
    out.replaceChildren('Reading the selected records…');
    try {
      for (const at of picks) {
        const r = one(at);
        await readPage(topic, new URLSearchParams({ from: r.from, to: r.to, limit: '1', format: 'sse' }), table);
      }
      out.replaceChildren(h('p', { id: 'redrive-count' }, `Dry run: ${table.count()} of ${picks.length} selected records would be copied to ${target}.`));
      confirm.textContent = `Copy ${table.count()} records to ${target}`;
      confirm.hidden = table.count() === 0;
    } catch (err) {
      out.replaceChildren(problemBox(err));
    }
  });
  confirm.addEventListener('click', async () => {
    confirm.hidden = true;
    progress.hidden = false;
    let copied = 0;
    try {
      for (const [i, at] of picks.entries()) {
        const r = one(at);
        const res = await (await call(url, { method: 'POST', body: { from: r.from, to: r.to, filters: { partitions: [r.partition] }, target_topic: target, new_ids: newIDs } })).json();
        copied += res.produced;
        progress.value = i + 1;
        out.replaceChildren(`Copying… ${i + 1} of ${picks.length}`);
      }
      out.replaceChildren(h('p', { id: 'redrive-done', class: 'ok' }, `Copied ${copied} records to ${target}.`));
    } catch (err) {
      out.replaceChildren(problemBox(err), ` ${copied} records were copied before the failure.`);
    }
    progress.hidden = true;
  });
}

export function render(main, params) {
  const picks = (params.get('pick') || '').split(',').filter((x) => /^\d+:\d+$/.test(x));
  if (picks.length) return renderPicked(main, params, picks);
  const form = h('form', { class: 'controls', id: 'redrive' },
    topicField(params.get('topic') || ''),
    filterFields(params, '-1h'),
    field('Limit (empty: all in range)', { name: 'limit', type: 'number', min: 1 }),
    field('Target topic', { name: 'target', value: params.get('target') || params.get('topic') || '', required: true, list: 'topic-names' }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'new_ids', checked: true }), ' new ce_id for each copy'),
    h('button', { type: 'submit', id: 'redrive-dry' }, 'Dry run'));
  const confirm = h('button', { type: 'button', id: 'redrive-confirm', hidden: true });
  const progress = h('progress', { hidden: true });
  const out = h('div', { id: 'redrive-result', 'aria-live': 'polite' });
  const table = recordTable();
  main.append(
    h('h1', null, 'Redrive'),
    h('p', { class: 'note' }, 'Needs the replay scopes (admin by default); each redrive is logged with your principal. A dry run copies nothing.'),
    form, out, confirm, progress, table.el);

  let planned = null;
  let ctrl = null;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const v = formValues(form);
    planned = null;
    confirm.hidden = true;
    table.clear();
    out.replaceChildren('Counting…');
    try {
      const res = await (await call(`/v1/replay/${encodeURIComponent(v.topic)}/redrive`, { method: 'POST', body: body(v, true), signal: ctrl.signal })).json();
      out.replaceChildren(h('p', { id: 'redrive-count' },
        `Dry run: ${res.matched} of ${res.scanned} records scanned match; they would be copied to ${res.target_topic}.`,
        res.matched > preview ? ` The first ${preview}:` : ''));
      const q = replayQuery({ ...v, limit: String(Math.min(preview, Number(v.limit) || preview)) }, { format: 'sse' });
      await readPage(v.topic, q, table, ctrl.signal);
      if (res.matched > 0) {
        // Pin the range the dry run resolved ("-1h" moves, and records
        // keep coming): the copy takes exactly the records counted.
        const pin = (k) => (res.ranges || []).map((r) => `${r.partition}:${r[k]}`).join(',');
        planned = res.ranges && res.ranges.length ? { ...v, from: pin('start'), to: pin('end') } : v;
        confirm.textContent = `Copy ${res.matched} records to ${res.target_topic}`;
        confirm.hidden = false;
        confirm.focus();
      }
    } catch (err) {
      if (err.name !== 'AbortError') out.replaceChildren(problemBox(err));
    }
  });
  confirm.addEventListener('click', async () => {
    if (!planned) return;
    const v = planned;
    planned = null;
    confirm.hidden = true;
    progress.hidden = false;
    out.replaceChildren('Copying…');
    try {
      const res = await (await call(`/v1/replay/${encodeURIComponent(v.topic)}/redrive`, { method: 'POST', body: body(v, false) })).json();
      out.replaceChildren(h('p', { id: 'redrive-done', class: 'ok' }, `Copied ${res.produced} records to ${res.target_topic} (${res.matched} matched, ${res.scanned} scanned).`));
    } catch (err) {
      out.replaceChildren(problemBox(err));
    }
    progress.hidden = true;
  });
  return () => ctrl && ctrl.abort();
}
