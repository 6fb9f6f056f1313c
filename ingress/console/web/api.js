// api.js: the credential (sessionStorage only, sent as a header, never in
// a URL), calls to ferry's public APIs, their problem+json errors, and a
// reader of text/event-stream bodies (EventSource cannot send headers).

const key = 'ferry.console.credential';

// credential returns {kind: 'bearer'|'apikey', secret} or null.
export function credential() {
  try {
    return JSON.parse(sessionStorage.getItem(key));
  } catch {
    return null;
  }
}

export function login(kind, secret) {
  sessionStorage.setItem(key, JSON.stringify({ kind, secret }));
}

export function logout() {
  sessionStorage.removeItem(key);
}

// authHeaders: a bearer token, or an API key as "Authorization: ApiKey"
// (ferry accepts it whatever auth.api_key_header is).
export function authHeaders() {
  const c = credential();
  if (!c || !c.secret) return {};
  return { Authorization: (c.kind === 'apikey' ? 'ApiKey ' : 'Bearer ') + c.secret };
}

// ApiError is a non-2xx answer, with its problem+json body when it had one.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || 'HTTP ' + status);
    this.status = status;
    this.problem = problem;
  }
}

// call sends a request to ferry and returns the Response; a non-2xx
// answer throws an ApiError.
export async function call(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = { method, headers: { ...authHeaders(), ...headers }, signal };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const resp = await fetch(path, init);
  if (!resp.ok) throw await errorOf(resp);
  return resp;
}

export async function getJSON(path, opts) {
  return (await call(path, opts)).json();
}

export async function errorOf(resp) {
  let problem = {};
  try {
    problem = await resp.json();
  } catch {
    // not JSON: keep the status alone
  }
  return new ApiError(resp.status, problem || {});
}

// readEvents parses a text/event-stream body, calling onEvent({event,
// id, data}) for each event, and for each id without data (ferry moves
// a stream's position on that way), with data null; it resolves when the
// body ends and rejects when it fails (or its request was aborted).
export async function readEvents(resp, onEvent) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = { event: 'message', id: '', data: [], idSet: false };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (ev.data.length) onEvent({ event: ev.event, id: ev.id, data: ev.data.join('\n') });
        else if (ev.idSet) onEvent({ event: ev.event, id: ev.id, data: null });
        ev = { event: 'message', id: ev.id, data: [], idSet: false };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'event') ev.event = val;
      else if (field === 'data') ev.data.push(val);
      else if (field === 'id') {
        ev.id = val;
        ev.idSet = true;
      }
    }
  }
}

// replayQuery builds the query of /v1/replay and its filters from a
// form's fields: from, to, key, headers ("NAME=VALUE" per line), where
// (a value filter per line: /status = "failed"), limit.
export function replayQuery(f, extra = {}) {
  const q = new URLSearchParams();
  for (const k of ['from', 'to', 'key', 'partition', 'limit']) {
    if (f[k]) q.set(k, f[k]);
  }
  for (const [name, value] of parseHeaders(f.headers)) q.append('header.' + name, value);
  for (const w of lines(f.where)) q.append('where', w);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q;
}

// lines returns the non-empty lines of a text, trimmed.
export function lines(text) {
  return (text || '').split('\n').map((l) => l.trim()).filter(Boolean);
}

// parseHeaders reads "NAME=VALUE" lines.
export function parseHeaders(text) {
  const out = [];
  for (const line of (text || '').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
  }
  return out;
}
