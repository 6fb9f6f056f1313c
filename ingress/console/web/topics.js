// topics.js: every topic replay may read, with partitions, offsets and
// record counts, refreshed every few seconds with a rate sparkline.

import { getJSON } from './api.js';
import { h, problemBox, sparkline } from './dom.js';
import { routes, streams } from './spec.js';

const every = 3000;
const points = 30;
// history keeps, per topic, the last samples {t, records}, across visits.
const history = new Map();

function rates(samples) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    out.push(dt > 0 ? Math.max(0, samples[i].records - samples[i - 1].records) / dt : 0);
  }
  return out;
}

export function render(main) {
  const status = h('p', { class: 'note' }, 'Loading…');
  const tbody = h('tbody');
  const rows = new Map();
  main.append(
    h('h1', null, 'Topics'),
    status,
    h('div', { class: 'table-wrap' },
      h('table', { id: 'topics' },
        h('thead', null, h('tr', null, ['topic', 'records', 'partitions: start–end', 'rate', 'routes and streams', ''].map((c) => h('th', { scope: 'col' }, c)))),
        tbody)));

  function row(name) {
    let r = rows.get(name);
    if (r) return r;
    const q = encodeURIComponent(name);
    r = {
      records: h('td', { class: 'num' }),
      parts: h('td'),
      spark: h('td'),
      uses: h('td', { class: 'uses' }),
    };
    r.tr = h('tr', { 'data-topic': name },
      h('th', { scope: 'row' }, name),
      r.records, r.parts, r.spark, r.uses,
      h('td', null,
        h('a', { href: `#/browse?topic=${q}` }, 'Browse'), ' · ',
        h('a', { href: `#/tail?topic=${q}` }, 'Tail'), ' · ',
        h('a', { href: `#/redrive?topic=${q}` }, 'Redrive')));
    rows.set(name, r);
    tbody.append(r.tr);
    links(name, r.uses);
    return r;
  }

  // links fills a topic's cell of routes (to Try) and streams (to Tail).
  async function links(name, cell) {
    try {
      const [rs, ss] = await Promise.all([routes(), streams()]);
      const out = [];
      for (const rt of rs.filter((x) => x.topic === name || x.replyTopic === name)) {
        out.push(h('div', null, h('a', { href: `#/try?route=${encodeURIComponent(rt.name)}` }, `${rt.method} ${rt.path}`), rt.topic === name ? '' : ' (replies)'));
      }
      for (const st of ss.filter((x) => x.topic === name)) {
        out.push(h('div', null, 'stream ', h('a', { href: `#/tail?stream=${encodeURIComponent(st.name)}` }, st.name)));
      }
      cell.replaceChildren(...out);
    } catch {
      // the API description is optional here
    }
  }

  async function refresh() {
    try {
      const { topics } = await getJSON('/v1/topics');
      const now = Date.now();
      for (const t of topics) {
        const samples = history.get(t.topic) || [];
        samples.push({ t: now, records: t.records });
        if (samples.length > points) samples.shift();
        history.set(t.topic, samples);
        const r = row(t.topic);
        r.records.textContent = String(t.records);
        r.parts.replaceChildren(...t.partitions.map((p) =>
          h('div', null, `${p.partition}: ${p.start_offset}–${p.end_offset}`)));
        const rs = rates(samples);
        r.spark.replaceChildren(sparkline(rs.length > 1 ? rs : [0, rs[0] || 0]), h('span', { class: 'note' }, `${(rs.at(-1) || 0).toFixed(1)}/s`));
      }
      status.replaceChildren(`${topics.length} topics · updated ${new Date(now).toLocaleTimeString()} · every ${every / 1000}s`);
    } catch (err) {
      status.replaceChildren(problemBox(err));
    }
  }
  refresh();
  const timer = setInterval(refresh, every);
  return () => clearInterval(timer);
}
