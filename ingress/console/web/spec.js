// spec.js: what the console learns from /openapi.json: the configured
// routes (operations tagged "routes") and streams, fetched once.

import { getJSON } from './api.js';

let doc = null;

async function load() {
  if (!doc) doc = getJSON('/openapi.json').catch((err) => { doc = null; throw err; });
  return doc;
}

// resolve follows a local $ref ("#/components/schemas/order").
export function resolve(d, schema) {
  for (let i = 0; schema && schema.$ref && i < 10; i++) {
    schema = schema.$ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k] : undefined), d);
  }
  return schema || {};
}

// routes lists {name, method, path, topic, replyTopic, params, example,
// operation} for each configured route.
export async function routes() {
  const d = await load();
  const out = [];
  for (const [path, ops] of Object.entries(d.paths || {})) {
    for (const [method, op] of Object.entries(ops)) {
      if (!op || !Array.isArray(op.tags) || !op.tags.includes('routes')) continue;
      const media = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
      const schema = media ? resolve(d, media.schema) : null;
      let example = null;
      if (media) {
        example = media.example ?? (schema.examples && schema.examples[0]) ?? schema.example ?? (schema.type === 'array' ? [] : {});
      }
      out.push({
        name: op.operationId,
        method: method.toUpperCase(),
        path,
        topic: op['x-ferry-topic'] || '',
        replyTopic: op['x-ferry-reply-topic'] || '',
        params: (op.parameters || []).filter((p) => p.in === 'path').map((p) => p.name),
        example,
      });
    }
  }
  return out;
}

// streams lists the configured streams as {name, topic}: the names
// from the path parameter's enum, their topics from the operation's
// description ("- `order-events`: topic `orders.commands`, ...").
export async function streams() {
  const d = await load();
  const op = d.paths && d.paths['/v1/streams/{name}'] && d.paths['/v1/streams/{name}'].get;
  const p = op && (op.parameters || []).find((x) => x.name === 'name' && x.in === 'path');
  const names = (p && p.schema && p.schema.enum) || [];
  const topics = new Map();
  for (const m of (op && op.description ? op.description : '').matchAll(/^- `([^`]+)`: topic `([^`]+)`/gm)) {
    topics.set(m[1], m[2]);
  }
  return names.map((name) => ({ name, topic: topics.get(name) || '' }));
}
