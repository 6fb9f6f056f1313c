// tail.js: a live view of a stream (/v1/streams/{name}) or a topic (a
// following replay) over SSE, read with fetch so that the credential
// travels as a header. Pause stops reading and keeps the position;
// resume reads on from it, so nothing is missed or repeated.

import { call, readEvents, replayQuery } from './api.js';
import { h, field, formValues, problemBox } from './dom.js';
import { recordTable } from './records.js';
import { streams } from './spec.js';
import { topicField } from './browse.js';

const keep = 500;

export function render(main, params) {
  const byTopic = params.has('topic');
  const kind = field('Tail a', { name: 'kind' }, 'select');
  const kindSel = kind.querySelector('select');
  kindSel.append(h('option', { value: 'stream' }, 'stream'), h('option', { value: 'topic' }, 'topic'));
  kindSel.value = byTopic ? 'topic' : 'stream';
  const streamList = h('datalist', { id: 'stream-names' });
  streams().then((ss) => streamList.replaceChildren(...ss.map((st) => h('option', { value: st.name }))), () => {});
  const streamName = field('Stream', { name: 'stream', value: params.get('stream') || '', list: 'stream-names', autocomplete: 'off' });
  const [topicName, topicList] = topicField(params.get('topic') || '');
  const form = h('form', { class: 'controls', id: 'tail' },
    kind, streamName, streamList, topicName, topicList,
    field('From (latest, earliest, -5m, time)', { name: 'from', value: params.get('from') || 'latest' }),
    field('Key', { name: 'key', value: params.get('key') || '' }),
    field('Headers (NAME=VALUE per line)', { name: 'headers', rows: 1 }, 'textarea'),
    field('Value filters (per line: /status = "failed")', { name: 'where', rows: 1 }, 'textarea'),
    h('button', { type: 'submit', id: 'tail-start' }, 'Start'));
  const pause = h('button', { type: 'button', id: 'tail-pause', disabled: true }, 'Pause');
  const status = h('p', { class: 'note', id: 'tail-status', 'aria-live': 'polite' }, 'Not running.');
  const table = recordTable();
  main.append(h('h1', null, 'Tail'), form, h('div', { class: 'pager' }, pause, status), table.el);

  const showKind = () => {
    const topic = kindSel.value === 'topic';
    streamName.hidden = topic;
    topicName.hidden = !topic;
    streamName.querySelector('input').required = !topic;
    topicName.querySelector('input').required = topic;
  };
  kindSel.addEventListener('change', showKind);
  showKind();

  let ctrl = null;
  let position = ''; // the id after the last record read
  let running = false;
  let received = 0;

  function say(...what) {
    status.replaceChildren(...what);
  }

  async function read(resume) {
    const v = formValues(form);
    ctrl = new AbortController();
    running = true;
    pause.disabled = false;
    pause.textContent = 'Pause';
    let url;
    const headers = { Accept: 'text/event-stream' };
    if (v.kind === 'topic') {
      const q = replayQuery({ ...v, from: resume && position ? position : v.from }, { follow: 'true', format: 'sse' });
      url = `/v1/replay/${encodeURIComponent(v.topic)}?${q}`;
    } else {
      const q = replayQuery({ key: v.key, headers: v.headers, where: v.where }, { envelope: 'true' });
      if (resume && position) headers['Last-Event-ID'] = position;
      else if (v.from) q.set('from', v.from);
      url = `/v1/streams/${encodeURIComponent(v.stream)}?${q}`;
    }
    say('Connecting…');
    try {
      const resp = await call(url, { headers, signal: ctrl.signal });
      say(`Live · ${received} records`);
      await readEvents(resp, (e) => {
        if (e.id) position = e.id;
        if (e.data === null || e.event === 'end') return;
        if (e.event === 'error') {
          const p = JSON.parse(e.data);
          throw new Error(`the server ended the tail: ${p.reason || p.title || ''} ${p.detail || ''}`);
        }
        table.add(JSON.parse(e.data), { prepend: true });
        table.trim(keep);
        received++;
        say(`Live · ${received} records · at ${position}`);
      });
      say(`Ended · ${received} records · at ${position}`);
    } catch (err) {
      if (err.name === 'AbortError') {
        say(`Paused · ${received} records · at ${position || 'the start'}`);
        return;
      }
      say(problemBox(err));
    }
    running = false;
    pause.textContent = 'Resume';
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (ctrl) ctrl.abort();
    table.clear();
    received = 0;
    position = '';
    read(false);
  });
  pause.addEventListener('click', () => {
    if (running) {
      running = false;
      pause.textContent = 'Resume';
      ctrl.abort();
    } else {
      read(true);
    }
  });
  return () => ctrl && ctrl.abort();
}
