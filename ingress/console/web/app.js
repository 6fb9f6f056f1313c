// app.js: the console's router. Each page is a module whose render(main,
// params) draws it and returns a function that stops what it started
// (timers, open streams) when the user leaves it.

import { credential, login, logout } from './api.js';
import { h, field, formValues, problemBox } from './dom.js';

// pages load their module when first shown, so the first load is small.
const pages = {
  topics: () => import('./topics.js'),
  browse: () => import('./browse.js'),
  tail: () => import('./tail.js'),
  follow: () => import('./follow.js'),
  redrive: () => import('./redrive.js'),
  try: () => import('./try.js'),
  login: async () => ({ render: renderLogin }),
};

let stop = () => {};

function renderLogin(main) {
  const c = credential();
  const form = h('form', { class: 'controls', id: 'login' },
    field('Credential', { name: 'kind' }, 'select'),
    field('Token or API key', { name: 'secret', type: 'password', autocomplete: 'off', required: true, size: 48 }),
    h('button', { type: 'submit' }, 'Log in'));
  const kind = form.elements.kind;
  kind.append(h('option', { value: 'bearer' }, 'Bearer token (JWT)'), h('option', { value: 'apikey' }, 'API key'));
  if (c) kind.value = c.kind;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = formValues(form);
    login(v.kind, v.secret);
    location.hash = '#/topics';
  });
  main.append(
    h('h1', null, 'Log in'),
    h('p', { class: 'note' },
      'Paste a token or an API key. It is kept in this tab only (sessionStorage) and sent as an Authorization header. ',
      'Pages call ferry\'s APIs with your own scopes; the topic, replay and redrive pages need the replay scopes (admin by default).'),
    form);
  form.elements.secret.focus();
}

function showWho() {
  const who = document.getElementById('who');
  const c = credential();
  if (!c) {
    who.replaceChildren(h('a', { href: '#/login' }, 'Log in'));
    return;
  }
  const out = h('button', { class: 'plain', type: 'button', id: 'logout' }, 'Log out');
  out.addEventListener('click', () => {
    logout();
    location.hash = '#/login';
  });
  who.replaceChildren(c.kind === 'apikey' ? 'API key' : 'Bearer token', out);
}

let shown = 0; // the number of the last route() call: a slower import must not draw over a newer page

async function route() {
  stop();
  stop = () => {};
  const n = ++shown;
  const [name, query] = location.hash.replace(/^#\/?/, '').split('?');
  const page = await (pages[name] || (credential() ? pages.topics : pages.login))();
  if (n !== shown) return;
  const params = new URLSearchParams(query || '');
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#/' + name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  showWho();
  const main = document.getElementById('main');
  main.replaceChildren();
  // Keyboard and screen reader users land on the new page, not on the
  // link they left; a page may focus its first field after this.
  main.focus({ preventScroll: true });
  stop = page.render(main, params) || (() => {});
}

function show() {
  route().catch((err) => document.getElementById('main').replaceChildren(problemBox(err)));
}

window.addEventListener('hashchange', show);
show();
