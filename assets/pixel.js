/*! PaidSignal pixel v1: first-party conversion tracking, no dependencies.
 * Install (the stub queues calls until this script has loaded):
 *  <script>window.paidsignal=window.paidsignal||function(){(paidsignal.q=paidsignal.q||[]).push(arguments)};</script>
 *  <script async src="https://PAIDSIGNAL_HOST/pixel.js" data-key="ps_pk_…" data-country="US"></script>
 * data-country: calling code for phones without "+". data-consent="required": hold events in memory, store
 * nothing, until the first consent call. data-disabled: store and send nothing.
 * Commands, paidsignal(command, ...args):
 *  'track', type, {event_id, value (integer minor units), currency, items, ...properties} -> event_id.
 *     page_view is automatic: on load and whenever an SPA changes location.href.
 *  'identify', {email, phone, external_id, country} -> Promise. Only SHA-256 hashes are kept and sent, and only
 *     on https (crypto.subtle). null clears a field.
 *  'consent', {ad_user_data, ad_personalization, analytics}. analytics:false sends nothing, deletes our ids.
 *  'eventId' -> UUID, for fbq('track','Purchase',{...},{eventID:id}) + track('purchase',{event_id:id}).
 *     The stub returns undefined: call it once paidsignal.loaded, or make your own UUID.
 *  'flush' -> Promise, sends pending events now.
 *  'checkout', {items: [{price: 'price_…', quantity}], mode: 'payment'|'subscription', success_url, cancel_url,
 *     customer_email, event_id, redirect} -> Promise of {order_id, checkout_url, event_id}. Fires begin_checkout,
 *     sends pending events (so the visit's attribution is stored), starts a Stripe Checkout through PaidSignal,
 *     then goes to Stripe unless redirect is false. Rejects with the API's error message; event_id is the id the
 *     purchase will carry (use it for your own pixel's Purchase so both sides dedup). The order is remembered.
 *     One attempt at a time: a call while one is under way (a double click) returns the same promise, until the
 *     redirect or an error; the server answers a repeated event_id with the same order and Checkout Session.
 *  'purchase', {order_id, event_id, value (major units), currency} -> Promise of {order_id, event_id, value,
 *     currency, fired: {meta, gtag}, reason}. Thank-you page: reads the order (default: the last checkout's), fires
 *     the shop's fbq Purchase {eventID: its event_id} and gtag purchase {transaction_id: order id} with the paid
 *     amount, and tracks our purchase with that event_id; once per order per browser, not for failed/expired ones.
 *     Options override the order's fields (given all of event_id, value, currency, the order is not read).
 * Stub calls replay on load: consent and identify, then the automatic page_view, then the rest.
 * Storage, first-party only (cookies on the shop's registrable domain, path=/, SameSite=Lax, Secure on https):
 *  cookies _ps_vid visitor (400 d), _ps_sid session (30 min, renewed by each event), _fbp/_fbc Meta ids (90 d,
 *     existing ones reused); _ga, _ga_* only read. localStorage _ps_vid, _ps_sess (session and its landing
 *     UTMs/click ids), _ps_user (hashes), _ps_consent, _ps_queue (<= 200 unsent events, resent next load),
 *     _ps_order (last checkout), _ps_fired (last 20 orders whose purchase fired).
 * Sends only to this script's origin: POST /api/v1/events?key=… text/plain {"events":[…]}, no credentials.
 */
(() => {
  'use strict';
  const w = window, d = document, loc = location, prev = w.paidsignal;
  if (prev && prev.loaded) return; // included twice

  const tag = d.currentScript ||
    [...d.querySelectorAll('script[data-key]')].find((s) => /\/pixel\.js([?#]|$)/.test(s.src));
  const data = (n) => (tag && tag.getAttribute('data-' + n)) || '';
  const KEY = data('key'), COUNTRY = data('country'), REQUIRED = data('consent') == 'required';
  const OFF = !KEY || !tag.src || tag.hasAttribute('data-disabled');
  const BASE = OFF ? '' : new URL(tag.src).origin + '/api/v1/';
  const API = BASE && BASE + 'events?key=' + encodeURIComponent(KEY);
  const ATTRS = ('utm_source utm_medium utm_campaign utm_term utm_content utm_id gad_campaignid fbclid gclid gbraid ' +
    'wbraid msclkid ttclid').split(' ');
  // Calling codes of the largest e-commerce countries.
  const CODES = 'US1CA1GB44IE353DE49AT43CH41FR33BE32NL31LU352IT39ES34PT351PL48CZ420SK421HU36RO40GR30SE46NO47' +
    'DK45FI358TR90IL972AE971SA966IN91CN86JP81KR82TW886HK852SG65MY60TH66ID62PH63VN84AU61NZ64BR55MX52AR54CL56' +
    'CO57ZA27NG234EG20UA380';
  const HEX64 = /^[0-9a-f]{64}$/i;

  const warn = (...a) => console.warn('[paidsignal]', ...a);
  const enc = (s) => new TextEncoder().encode(s);
  const hex = (b) => [...new Uint8Array(b)].map((x) => (x + 256).toString(16).slice(1)).join('');
  const put = (o, k, v) => { if (v != null && v !== '') o[k] = v; }; // absent fields are omitted, never null
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() // secure contexts only
    : '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)));

  // Storage access may throw (blocked storage, sandboxed frames).
  const load = (k) => { try { return JSON.parse(localStorage[k]); } catch (e) { return null; } };
  const keep = (k, v) => {
    try { v == null ? localStorage.removeItem(k) : (localStorage[k] = JSON.stringify(v)); } catch (e) {}
  };
  const cookie = (n) => {
    try { return (d.cookie.match('(?:^|; )' + n + '=([^;]*)') || [])[1] || ''; } catch (e) { return ''; }
  };
  let domain;
  function setCookie(n, v, days, dom = domain) {
    try {
      d.cookie = `${n}=${v};path=/;max-age=${Math.round(days * 864e2)}${dom ? ';domain=' + dom : ''};SameSite=Lax` +
        (loc.protocol == 'https:' ? ';Secure' : '');
    } catch (e) {}
  }
  // The registrable domain (shop.co.uk for www.shop.co.uk), found as gtag does: the shortest suffix that takes a
  // cookie, so subdomains share ids. Host-only on localhost and IP addresses.
  function findDomain() {
    const p = loc.hostname.split('.');
    for (let i = p.length - 2; i >= 0 && !/^[\d.]+$/.test(loc.hostname); i--) {
      const dom = p.slice(i).join('.');
      setCookie('_ps_t', 1, 1e-4, dom);
      if (cookie('_ps_t')) return setCookie('_ps_t', '', 0, dom), dom;
    }
    return '';
  }

  let consent = load('_ps_consent'), pending = [], ready = Promise.resolve();
  // 0: drop everything, 1: hold in memory (consent required, not given yet), 2: store and send.
  const mode = () => (OFF || (consent && !consent.analytics) ? 0 : REQUIRED && !consent ? 1 : 2);

  // Identity lives in memory and is written to storage only in mode 2.
  const S = {
    vid: cookie('_ps_vid') || load('_ps_vid') || uuid(),
    fbp: cookie('_fbp') || `fb.1.${Date.now()}.${Math.floor(1e9 + Math.random() * 9e9)}`,
    fbc: cookie('_fbc'),
    user: load('_ps_user'),
  };

  function save() {
    if (mode() < 2) return;
    if (domain == null) domain = findDomain();
    setCookie('_ps_vid', S.vid, 400); keep('_ps_vid', S.vid);
    if (S.sess) setCookie('_ps_sid', S.sess.id, 1 / 48), keep('_ps_sess', S.sess);
    // Meta's cookies are written only when we made or replaced them.
    if (S.fbp != cookie('_fbp')) setCookie('_fbp', S.fbp, 90);
    if (S.fbc && S.fbc != cookie('_fbc')) setCookie('_fbc', S.fbc, 90);
    keep('_ps_user', S.user);
  }

  function forget() {
    if (domain == null) domain = findDomain();
    setCookie('_ps_vid', '', 0); setCookie('_ps_sid', '', 0);
    ['_ps_vid', '_ps_sess', '_ps_user', '_ps_queue', '_ps_order', '_ps_fired'].forEach((k) => keep(k, null));
    Object.assign(S, { vid: uuid(), sess: null, user: null });
  }

  // UTMs and click ids of the current URL (ATTRS order, so two sets compare as JSON).
  function landing() {
    const q = new URLSearchParams(loc.search), a = {};
    ATTRS.forEach((k) => put(a, k, k[0] == 'u' ? (q.get(k) || '').slice(0, 200) : q.get(k)));
    return a;
  }

  // The session, renewed; a new one after 30 min of inactivity or on a landing with new UTMs/click ids.
  function session() {
    const now = Date.now(), a = landing(), live = mode() > 1;
    if (live) S.fbp = cookie('_fbp') || S.fbp, S.fbc = cookie('_fbc') || S.fbc; // other tabs, Meta's pixel
    let s = (live && load('_ps_sess')) || S.sess;
    const sid = live && cookie('_ps_sid');
    if (sid && (!s || s.id != sid)) s = { id: sid, t: now, a: {} }; // begun on another subdomain
    if (!s || now - s.t > 18e5 || (Object.keys(a).length && JSON.stringify(a) != JSON.stringify(s.a))) {
      s = { id: uuid(), a };
    }
    s.t = now;
    // fbclid is case-sensitive: kept exactly. A new one replaces _fbc.
    if (a.fbclid && !(S.fbc || '').endsWith('.' + a.fbclid)) S.fbc = `fb.1.${now}.${a.fbclid}`;
    return (S.sess = s);
  }

  function track(type, p) {
    if (typeof type != 'string' || !/^[a-z][a-z0-9_]{0,39}$/.test(type)) return warn('invalid event type', type);
    p = p && typeof p == 'object' ? p : {};
    const id = String(p.event_id || uuid());
    if (!mode()) return id;
    const s = session(), props = {};
    const e = {
      event_id: id, type, timestamp: new Date().toISOString(), visitor_id: S.vid, session_id: s.id,
      url: loc.href.slice(0, 2048),
    };
    if (type == 'page_view' && !s.r) s.r = 1, put(e, 'referrer', d.referrer.slice(0, 2048));
    Object.assign(e, s.a);
    put(e, 'fbc', S.fbc); put(e, 'fbp', S.fbp); put(e, 'value', p.value); put(e, 'currency', p.currency);
    if (Array.isArray(p.items)) {
      e.items = p.items.map((i) => {
        const o = {};
        ['product_id', 'price_id', 'quantity', 'unit_amount'].forEach((k) => put(o, k, i && i[k]));
        return o;
      });
    }
    Object.keys(p).forEach((k) => /^(event_id|value|currency|items)$/.test(k) || (props[k] = p[k]));
    if (Object.keys(props).length) e.properties = props;
    put(e, 'consent', consent);
    save(); // renews the session cookie: 30 min sliding
    try {
      if (enc(JSON.stringify(e)).length > 1e6) throw 0;
    } catch (x) { return warn('event not JSON or > 1 MB', type); }
    // Wait for identify() hashing still running, so its user data reaches events tracked right after it.
    ready.then(() => { put(e, 'user_data', S.user); enqueue(e); });
    return id;
  }

  // Phone: digits with the country calling code, no leading zeros; none without one (hashing.normalize_phone).
  function phone(v, cc) {
    const n = v.replace(/\D/g, '');
    const m = /^[a-z]{2}$/i.test(cc) && CODES.match(`(?:^|\\d)${cc.toUpperCase()}(\\d+)`);
    if (/^\D*\+/.test(v) || /^00/.test(n)) return n.replace(/^0+/, ''); // already international
    if (!m) return warn('phone needs a leading + or data-country'), '';
    return m[1] == 1 && /^1\d{10}$/.test(n) ? n : m[1] + n.replace(/^0+/, '');
  }
  const NORMALISE = {
    em: ['email', (v) => v.toLowerCase()], ph: ['phone', phone], external_id: ['external_id', (v) => v],
  };

  function identify(o) {
    const subtle = w.isSecureContext && crypto.subtle;
    if (!o || !mode()) return ready;
    if (!subtle) return warn('identify needs https: no user data is sent'), ready;
    return (ready = ready.then(async () => {
      const u = Object.assign({}, S.user);
      for (const k in NORMALISE) {
        const [name, norm] = NORMALISE[k], v = o[name];
        let n;
        if (v === null) delete u[k];
        if (v == null || v === '') continue;
        const t = String(v).normalize('NFKC').trim(); // as the server's hashing.clean
        if (HEX64.test(t)) u[k] = t.toLowerCase(); // already hashed
        else if ((n = norm(t, o.country || COUNTRY))) u[k] = hex(await subtle.digest('SHA-256', enc(n)));
      }
      S.user = Object.keys(u).length ? u : null;
      save();
    }).catch(warn));
  }

  function setConsent(o) {
    if (OFF || !o) return;
    const flag = (k) => (typeof o[k] == 'boolean' ? o[k] : consent ? !!consent[k] : !REQUIRED);
    consent = {
      ad_user_data: flag('ad_user_data'), ad_personalization: flag('ad_personalization'), analytics: flag('analytics'),
    };
    keep('_ps_consent', consent);
    if (!consent.analytics) return (pending = []), forget();
    save(); persist(); flush(true);
  }

  // --- queue and transport ---
  const flying = new Set(), done = new Set();
  let groupTimer = 0, retryTimer = 0, tries = 0, notBefore = 0, busy = null;
  const stored = () => [].concat(load('_ps_queue') || []).filter((e) => e && e.event_id);

  // Mirror pending events into _ps_queue, merged with what other tabs left there.
  function persist() {
    if (mode() < 2) return;
    const mine = new Set(pending.map((e) => e.event_id));
    const q = stored().filter((e) => !mine.has(e.event_id) && !done.has(e.event_id)).concat(pending).slice(-200);
    keep('_ps_queue', q.length ? q : null);
  }

  function enqueue(e) {
    if (!mode()) return;
    pending = pending.concat(e).slice(-1000); // memory bound while the server is down
    persist();
    if (mode() > 1 && !groupTimer) groupTimer = setTimeout(flush, 100); // one request for events within 100 ms
  }

  function ack(batch) {
    batch.forEach((e) => done.add(e.event_id));
    pending = pending.filter((e) => !batch.includes(e));
    persist();
  }

  // GA4 ids are read at send time: gtag may set its cookies after us.
  function stamp(e) {
    put(e, 'ga_client_id', e.ga_client_id || (cookie('_ga').match(/\.(\d+\.\d+)$/) || [])[1]);
    put(e, 'ga_session_id', e.ga_session_id || (cookie('_ga_\\w+').match(/^GS\d\.\d+\.s?(\d+)/) || [])[1]);
    put(e, 'consent', e.consent || consent);
    return e;
  }

  // Next batch: <= 500 events and <= 60 kB (keepalive allows 64 KiB), unless one event alone is bigger.
  function nextBatch() {
    const b = [];
    let n = 13;
    for (const e of pending) {
      if (flying.has(e)) continue;
      const k = enc(JSON.stringify(stamp(e))).length + 1;
      if (b.length && (b.length == 500 || n + k > 6e4)) break;
      b.push(e); n += k;
    }
    return [b, n <= 6e4];
  }

  const send = (b, keepalive) => fetch(API, {
    method: 'POST', body: JSON.stringify({ events: b }), keepalive, mode: 'cors', credentials: 'omit',
    headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, // CORS-simple: no preflight
  });
  const answered = (r) => r.status < 500 && r.status != 429; // 2xx and 4xx are final: never retried

  async function sendAll() {
    while (mode() > 1) {
      const [b, keepalive] = nextBatch();
      if (!b.length) return;
      b.forEach((e) => flying.add(e));
      const r = await send(b, keepalive).catch(() => null); // network or CORS error
      b.forEach((e) => flying.delete(e));
      if (r && answered(r)) {
        ack(b); tries = 0;
        const j = await r.json().catch(() => ({}));
        if (!r.ok || j.rejected) warn(r.status, j.error || j.errors);
        continue;
      }
      // 5xx, 429, network error: a readable Retry-After, else exponential backoff with jitter.
      const after = r && +r.headers.get('Retry-After');
      const delay = after > 0 ? after * 1e3 : Math.min(1e3 * 2 ** tries, 6e4) * (0.75 + Math.random() / 2);
      notBefore = Date.now() + delay;
      clearTimeout(retryTimer);
      if (++tries < 5) retryTimer = setTimeout(() => flush(true), delay); // then: next event, flush, next page
      return;
    }
  }

  function flush(force) {
    clearTimeout(groupTimer); groupTimer = 0;
    if (busy) return busy; // the running loop takes newer events too
    if (mode() < 2 || !pending.length || (force !== true && Date.now() < notBefore)) return Promise.resolve();
    return (busy = sendAll().finally(() => (busy = null)));
  }

  // Page hidden or leaving: sendBeacon (a string goes as text/plain), else a keepalive fetch.
  function flushOnExit() {
    clearTimeout(groupTimer); groupTimer = 0;
    if (tries) return; // server failing: a beacon's outcome is unknown, so leave events in _ps_queue
    for (let b; mode() > 1 && (b = nextBatch()[0]).length;) {
      if (navigator.sendBeacon && navigator.sendBeacon(API, JSON.stringify({ events: b }))) { ack(b); continue; }
      b.forEach((e) => flying.add(e));
      send(b, true).then((r) => answered(r) && ack(b), () => {}).finally(() => b.forEach((e) => flying.delete(e)));
    }
  }

  // --- Stripe Checkout through PaidSignal, and the thank-you page ---
  const wait = (p, ms) => Promise.race([p, new Promise((r) => setTimeout(r, ms))]);
  // Our API, CORS-simple: JSON back, or a rejection with the API's message, code and field.
  async function api(what, path, init) {
    if (OFF) throw new Error(`paidsignal: ${what} needs a data-key`);
    const r = await fetch(`${BASE}${path}${/\?/.test(path) ? '&' : '?'}key=${encodeURIComponent(KEY)}`,
      Object.assign({ mode: 'cors', credentials: 'omit' }, init));
    const j = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = j.error || { message: `${what} failed (${r.status})` };
      warn(what, r.status, err);
      throw Object.assign(new Error(err.message), { status: r.status, code: err.code, field: err.field });
    }
    return j;
  }

  // One checkout attempt, from the click until the redirect or an error: a second call meanwhile (a double click)
  // gets the same promise, so one attempt id reaches the server and one order and Checkout Session are made.
  let attempt = null;
  w.addEventListener('pageshow', (e) => { if (e.persisted) attempt = null; }); // back from Stripe (bfcache)
  function checkout(o) {
    if (attempt) return attempt;
    const over = () => { attempt = null; };
    return attempt = startCheckout(o).then((j) => { if (o && o.redirect === false) over(); return j; },
      (e) => { over(); throw e; });
  }

  async function startCheckout(o) {
    o = o && typeof o == 'object' ? o : {};
    const items = (Array.isArray(o.items) ? o.items : [])
      .map((i) => ({ price: i && i.price, quantity: (i && i.quantity) || 1 }));
    const id = String(o.event_id || uuid());
    const body = {
      items, mode: o.mode || 'payment', event_id: id,
      success_url: o.success_url || loc.href, cancel_url: o.cancel_url || loc.href,
    };
    put(body, 'customer_email', o.customer_email);
    if (mode()) {
      track('begin_checkout', { items: items.map((i) => ({ price_id: i.price, quantity: i.quantity })) });
      const s = session();
      body.visitor_id = S.vid; body.session_id = s.id;
      put(body, 'fbc', S.fbc); put(body, 'fbp', S.fbp);
      stamp(body);
      // The order's attribution is read from stored events: send them first (bounded, never blocks checkout).
      await wait(ready.then(() => flush(true)), 2e3);
    } else put(body, 'consent', consent);
    const j = await api('checkout', 'checkout/sessions', {
      method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    });
    // For paidsignal('purchase') with no argument on the thank-you page.
    if (mode() > 1) keep('_ps_order', { order_id: j.order_id, event_id: j.event_id });
    if (o.redirect !== false) loc.assign(j.checkout_url);
    return j;
  }

  // Digits after the point (EUR 2, JPY 0) as the browser knows them.
  function digits(c) {
    try {
      return new Intl.NumberFormat('en', { style: 'currency', currency: c }).resolvedOptions().maximumFractionDigits;
    } catch (e) { return 2; }
  }
  // The shop's own tag, if on the page; a throwing tag must not stop ours.
  const shopTag = (f, ...a) => {
    try { return typeof w[f] == 'function' && (w[f](...a), true); } catch (e) { return warn(f, e), false; }
  };
  let fired = [], buying = Promise.resolve();
  async function purchase(o) {
    o = o && typeof o == 'object' ? o : {};
    const last = load('_ps_order') || {}, id = o.order_id || last.order_id;
    if (!id) throw new Error('paidsignal: purchase needs {order_id}: none given and no checkout in this browser');
    // The order is the truth: the amount Stripe took, its items, its event id.
    const j = o.event_id && o.value != null && o.currency ? {} : await api('order lookup',
      `orders/${encodeURIComponent(id)}?visitor_id=${encodeURIComponent(S.vid)}`);
    const currency = String(o.currency || j.currency || '').toUpperCase(), x = 10 ** digits(currency);
    const eid = String(o.event_id || j.event_id || (last.order_id == id && last.event_id) || '') || uuid();
    const minor = o.value != null ? Math.round(o.value * x) : j.amount_paid || j.amount || 0;
    const items = j.items || [], major = (n) => (n == null ? undefined : n / x);
    const r = { order_id: id, event_id: eid, value: minor / x, currency, fired: { meta: false, gtag: false } };
    const seen = [].concat(load('_ps_fired') || [], fired);
    if (/^(failed|expired)$/.test(j.status)) return Object.assign(r, { reason: 'order ' + j.status });
    if (seen.includes(id)) return Object.assign(r, { reason: 'already fired' }); // a reload of the thank-you page
    fired = seen.filter((f) => f != id).concat(id).slice(-20);
    if (mode() > 1) keep('_ps_fired', fired);
    // Same event id (Meta) and transaction id (GA4, Google Ads) as our server sends: the pairs dedup.
    r.fired.meta = shopTag('fbq', 'track', 'Purchase', {
      value: r.value, currency, content_ids: items.map((i) => i.price), content_type: 'product', order_id: id,
      contents: items.map((i) => ({ id: i.price, quantity: i.quantity, item_price: major(i.unit_amount) })),
    }, { eventID: eid });
    r.fired.gtag = shopTag('gtag', 'event', 'purchase', {
      transaction_id: id, value: r.value, currency, items: items.map((i) => ({
        item_id: i.price, quantity: i.quantity, price: major(i.unit_amount),
      })),
    });
    track('purchase', {
      event_id: eid, value: minor, currency, order_id: id,
      items: items.map((i) => ({ price_id: i.price, quantity: i.quantity, unit_amount: i.unit_amount })),
    });
    return r;
  }

  // --- page views, SPA navigation included ---
  let href = loc.href;
  const pageView = () => { href = loc.href; track('page_view'); };
  const navigated = () => loc.href != href && pageView();
  function hookHistory() {
    ['pushState', 'replaceState'].forEach((m) => {
      const orig = history[m];
      history[m] = function () { const r = orig.apply(this, arguments); navigated(); return r; };
    });
    addEventListener('popstate', navigated); // also fires for #hash changes
  }

  // --- public function, start ---
  const COMMANDS = {
    track, identify, consent: setConsent, eventId: uuid, flush: () => ready.then(() => flush(true)), checkout,
    // One at a time, so a second call (stub queue, then the page's own) finds the first one's order fired.
    purchase: (o) => (buying = buying.catch(() => {}).then(() => purchase(o))),
  };
  function paidsignal(cmd, ...args) {
    try {
      const r = COMMANDS[cmd](...args);
      // A stub call has no caller left to catch a rejection: say it in the console instead.
      if (r && r.catch && !(w.paidsignal && w.paidsignal.loaded)) r.catch((x) => warn(cmd, x.message));
      return r;
    } catch (x) { warn(cmd, x); }
  }
  paidsignal.version = '1';

  if (!OFF) {
    // Unsent events of earlier pages (the server refuses events older than 7 days).
    if (mode() > 1) pending = stored().filter((e) => Date.now() - Date.parse(e.timestamp) < 6048e5);
    addEventListener('pagehide', flushOnExit);
    d.addEventListener('visibilitychange', () => d.visibilityState == 'hidden' && flushOnExit());
    hookHistory();
  } else if (!(tag && tag.hasAttribute('data-disabled'))) warn('no data-key or src: nothing is sent');

  const queued = [...((prev && prev.q) || [])];
  const early = queued.filter((a) => a[0] == 'consent' || a[0] == 'identify');
  early.forEach((a) => paidsignal(...a));
  if (!OFF) d.prerendering ? d.addEventListener('prerenderingchange', pageView, { once: true }) : pageView();
  queued.filter((a) => !early.includes(a)).forEach((a) => paidsignal(...a));
  w.paidsignal = paidsignal;
  paidsignal.loaded = true;
  if (pending.length && !groupTimer) groupTimer = setTimeout(flush, 100);
})();
