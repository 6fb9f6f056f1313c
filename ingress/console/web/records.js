// records.js: a table of Kafka records whose rows open to the value (as
// pretty JSON when it is JSON), the headers and the CloudEvents
// attributes. Values are untrusted: they are set as text, never as HTML.

import { h } from './dom.js';

// text decodes base64 as UTF-8, or says that the bytes are not text.
function text(b64) {
  try {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return '(binary, base64) ' + b64;
  }
}

// normalize turns a replay record ({headers: [{key, value}], encoding})
// or a stream envelope ({headers: {...}, value_encoding}) into one shape.
export function normalize(r) {
  const headers = Array.isArray(r.headers)
    ? r.headers.map((x) => [x.key, x.encoding === 'base64' ? text(x.value) : x.value ?? ''])
    : Object.entries(r.headers || {}).map(([k, v]) => [k, String(v)]);
  let value;
  let preview;
  if (r.value === null || r.value === undefined) {
    value = preview = '(tombstone: no value)';
  } else if ((r.encoding || r.value_encoding) === 'base64') {
    value = preview = text(r.value);
  } else if (typeof r.value === 'string') {
    value = preview = r.value;
  } else {
    value = JSON.stringify(r.value, null, 2);
    preview = JSON.stringify(r.value);
  }
  const key = r.key == null ? '' : r.key_encoding === 'base64' ? text(r.key) : String(r.key);
  return {
    topic: r.topic || '',
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp || '',
    key,
    headers,
    value,
    preview: preview.length > 200 ? preview.slice(0, 200) + '…' : preview,
    type: (headers.find(([k]) => k === 'ce_type') || [])[1] || '',
  };
}

function pairs(caption, rows) {
  return h('div', null,
    h('h3', { class: 'note' }, caption),
    rows.length
      ? h('table', null, h('tbody', null, rows.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v)))))
      : h('p', { class: 'note' }, 'none'));
}

// recordTable returns {el, add(record, {prepend}), clear(), count(),
// trim(max), selected()}; with selectable, each row has a checkbox, and
// selected() lists the checked records as "PARTITION:OFFSET", calling
// onSelect after each change.
export function recordTable({ showTopic = false, selectable = false, onSelect = () => {} } = {}) {
  const tbody = h('tbody');
  const cols = ['', ...(showTopic ? ['topic'] : []), 'partition/offset', 'time', 'key', 'type', 'value'];
  const el = h('div', { class: 'table-wrap' },
    h('table', { class: 'records' },
      h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: c === 'type' ? 'hide-narrow' : null }, c)))),
      tbody));
  let n = 0;
  function add(raw, { prepend = false } = {}) {
    const r = normalize(raw);
    const detail = h('tr', { class: 'detail', hidden: true },
      h('td', { colspan: cols.length },
        h('div', { class: 'grid' },
          h('div', null, h('h3', { class: 'note' }, 'value'), h('pre', { class: 'record-value' }, r.value)),
          pairs('headers', r.headers),
          pairs('CloudEvents attributes', r.headers.filter(([k]) => k.startsWith('ce_')).map(([k, v]) => [k.slice(3), v])))));
    const toggle = h('button', { class: 'plain', type: 'button', 'aria-expanded': 'false', 'aria-label': 'Show record' }, '▸');
    const flip = () => {
      const open = detail.hidden;
      detail.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? '▾' : '▸';
    };
    toggle.addEventListener('click', (e) => {
      e.stopPropagation();
      flip();
    });
    const row = h('tr', { class: 'record', onclick: flip },
      h('td', null, toggle, selectable
        ? h('input', { type: 'checkbox', class: 'pick', 'data-at': `${r.partition}:${r.offset}`, 'aria-label': `Select ${r.partition}/${r.offset}`,
          onclick: (e) => e.stopPropagation(), onchange: onSelect })
        : null),
      showTopic ? h('td', null, r.topic) : null,
      h('td', { class: 'num' }, `${r.partition}/${r.offset}`),
      h('td', null, r.timestamp),
      h('td', { class: 'record-key' }, r.key),
      h('td', { class: 'hide-narrow' }, r.type),
      h('td', { class: 'value record-preview' }, r.preview));
    if (prepend) tbody.prepend(row, detail);
    else tbody.append(row, detail);
    n++;
    return row;
  }
  return {
    el,
    add,
    clear() {
      tbody.replaceChildren();
      n = 0;
    },
    count: () => n,
    selected: () => [...tbody.querySelectorAll('input.pick:checked')].map((c) => c.dataset.at),
    trim(max) {
      while (n > max && tbody.lastChild) {
        tbody.lastChild.remove();
        tbody.lastChild.remove();
        n--;
      }
    },
  };
}
