// ngx_http_sse_module in a real browser: Debian's chromium, headless, driven
// by playwright-core; the pages use the native EventSource.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import { launchChromium } from '../lib/browser.js';
import { checkConfig, jwtHS256, publish, repoRoot, sleep, startNginx } from '../lib/nginx.js';

const probeHtml = fs.readFileSync(new URL('../pages/probe.html', import.meta.url));
const demoHtml = fs.readFileSync(path.join(repoRoot, 'demo', 'index.html'));

const CORS = `add_header Access-Control-Allow-Origin $http_origin always;
            add_header Access-Control-Allow-Credentials true always;`;

// ports[0]: the page's origin, the hub; ports[1]: a second origin
const hubConfig = (p) => `
    sse_zone zone=events:8m history=1000 ttl=1h;
    server {
        listen 127.0.0.1:${p[0]};
        root html;
        # as in nginx.conf.example, for the demo page
        location = /events { sse_subscribe; sse_connected_event connected; sse_replay 1; sse_retry 3s; }
        location = /sub { sse_subscribe; sse_connected_event connected; }
        location = /sub-short {
            sse_subscribe; sse_connected_event connected;
            sse_subscriber_timeout 1s; sse_retry 100ms;
        }
        location = /sub-cors { sse_subscribe; sse_connected_event connected; ${CORS} }
        location = /publish { sse_publish; }
    }
    server {
        listen 127.0.0.1:${p[1]};
        root html;
    }`;

const JWT_SECRET = 'browser-test-secret-0123456789abcdef';
const jwtConfig = (p) => `
    sse_zone zone=events:1m;
    server {
        listen 127.0.0.1:${p[0]};
        root html;
        location = /sub-jwt { sse_subscribe; sse_connected_event connected; sse_auth_jwt ${JWT_SECRET}; }
        location = /publish { sse_publish; }
    }`;

let ngx;
let browser;

async function openProbe(origin, src, { events = ['connected'], cred = false } = {}) {
  const page = await browser.context.newPage();
  const q = new URLSearchParams({ src, events: events.join(','), cred: cred ? '1' : '0' });
  await page.goto(`${origin}/probe.html?${q}`);
  return page;
}

const seen = (page) => page.evaluate(() => window.seen);

async function waitFor(page, fn, arg, timeout = 10000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`${e.message}\nseen: ${JSON.stringify(await seen(page))}`);
  }
}

const waitType = (page, type, n = 1, timeout) =>
  waitFor(page, ([t, k]) => window.seen.filter((r) => r.type === t).length >= k, [type, n], timeout);

describe('Chromium EventSource', { timeout: 120000 }, () => {
  before(async () => {
    ngx = await startNginx({ ports: 2, http: hubConfig, files: { 'probe.html': probeHtml, 'index.html': demoHtml } });
    browser = await launchChromium();
  });

  // nginx's error.log after each test: no crash, alert or sanitizer report
  afterEach(() => ngx.assertLogClean());

  after(async () => {
    if (browser) await browser.close();
    if (ngx) await ngx.stop();    // rejects on a bad exit status or log
  });

  test('connected event, named events and default message events', async () => {
    const page = await openProbe(ngx.origin(0), '/sub?channel=t1', { events: ['connected', 'workflow_update'] });
    await waitType(page, 'connected');

    const r1 = await publish(ngx.url(0, '/publish'), {
      channel: 't1', event: 'workflow_update',
      data: { status: 'processing', progress: 45, message: 'Halfway' },
    });
    const r2 = await publish(ngx.url(0, '/publish'), { channel: 't1', data: 'hello, world' });
    const raw = await fetch(ngx.url(0, '/publish?channel=t1'), {
      method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'line one\nline two',
    });
    assert.equal(raw.status, 200);
    const r3 = await raw.json();

    await waitType(page, 'message', 2);
    const s = await seen(page);
    const events = s.filter((r) => r.type !== 'open');

    const connected = events[0];
    assert.equal(connected.type, 'connected');
    assert.equal(connected.lastEventId, '', 'the connected event carries no id');
    const cdata = JSON.parse(connected.data);
    assert.deepEqual(cdata.channels, ['t1']);
    assert.match(cdata.last_event_id, /^\d+$/);

    assert.deepEqual(events.slice(1).map((r) => [r.type, r.lastEventId]), [
      ['workflow_update', r1.id], ['message', r2.id], ['message', r3.id],
    ]);
    assert.deepEqual(JSON.parse(events[1].data), { status: 'processing', progress: 45, message: 'Halfway' });
    assert.equal(events[2].data, 'hello, world');
    assert.equal(events[3].data, 'line one\nline two', 'a multi-line payload arrives whole');
    assert.equal(s.filter((r) => r.type === 'error').length, 0);
    await page.close();
  });

  test('one EventSource on several channels', async () => {
    const page = await openProbe(ngx.origin(0), '/sub?channel=m1,m2');
    await waitType(page, 'connected');
    const pub = ngx.url(0, '/publish');
    await publish(pub, { channel: 'm1', data: 'a on m1' });
    await publish(pub, { channel: 'm3', data: 'b on m3' });
    await publish(pub, { channel: 'm2', data: 'c on m2' });
    await publish(pub, { channel: ['m1', 'm2'], data: 'd on both' });
    await publish(pub, { channel: 'm2', data: 'end' });
    await waitFor(page, () => window.seen.some((r) => r.data === 'end'));
    const s = await seen(page);
    assert.deepEqual(JSON.parse(s.find((r) => r.type === 'connected').data).channels, ['m1', 'm2']);
    const msgs = s.filter((r) => r.type === 'message');
    assert.deepEqual(msgs.map((r) => r.data), ['a on m1', 'c on m2', 'd on both', 'd on both', 'end']);
    const ids = msgs.map((r) => Number(r.lastEventId));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids increase');
    await page.close();
  });

  test('reconnects after sse_subscriber_timeout and gets every message exactly once', async () => {
    const page = await openProbe(ngx.origin(0), '/sub-short?channel=r1');
    await waitType(page, 'connected');
    const pub = ngx.url(0, '/publish');
    const N = 50;
    const start = Date.now();
    for (let i = 0; i < N; i++) {
      await publish(pub, { channel: 'r1', data: String(i) });
      // a steady 60ms pace: about 3s, so the stream is cut 2 or 3 times
      const wait = start + (i + 1) * 60 - Date.now();
      if (wait > 0) await sleep(wait);
    }
    await waitType(page, 'message', N, 15000);
    // one more cut and reconnect after the last message: nothing comes twice
    const opens = (await seen(page)).filter((r) => r.type === 'open').length;
    await waitType(page, 'open', opens + 1, 5000);
    await sleep(200);

    const s = await seen(page);
    const msgs = s.filter((r) => r.type === 'message');
    assert.deepEqual(msgs.map((r) => r.data), Array.from({ length: N }, (_, i) => String(i)),
      'every message once, in order');
    const ids = msgs.map((r) => Number(r.lastEventId));
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), 'ids strictly increase');
    const reconnects = s.filter((r) => r.type === 'open').length - 1;
    assert.ok(reconnects >= 3, `the browser reconnected (${reconnects} times)`);
    await page.close();
  });

  test('cross-origin page with the CORS headers and withCredentials', async () => {
    // the page comes from the second port: another origin
    const src = `${ngx.origin(0)}/sub-cors?channel=x1`;
    const page = await openProbe(ngx.origin(1), src, { cred: true });
    await waitType(page, 'connected');
    const r = await publish(ngx.url(0, '/publish'), { channel: 'x1', data: 'across origins' });
    await waitType(page, 'message');
    const msg = (await seen(page)).find((e) => e.type === 'message');
    assert.equal(msg.data, 'across origins');
    assert.equal(msg.lastEventId, r.id);

    // what the browser was given (a page cannot read these headers itself)
    const res = await fetch(src, { headers: { Origin: ngx.origin(1) } });
    assert.equal(res.headers.get('access-control-allow-origin'), ngx.origin(1));
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    await res.body.cancel();

    // control: the same page against a location without the headers fails
    const bad = await openProbe(ngx.origin(1), `${ngx.origin(0)}/sub?channel=x1`, { cred: true });
    await waitFor(bad, () => window.seen.some((r) => r.type === 'error' && r.readyState === 2));
    assert.equal((await seen(bad)).filter((e) => e.type === 'connected').length, 0);
    await page.close();
    await bad.close();
  });

  test('a JWT passed as ?token=', async () => {
    // the module has sse_auth_jwt: a configuration it refuses is a failure
    const check = await checkConfig({ http: jwtConfig });
    assert.ok(check.ok, `nginx -t: ${check.output}`);
    const j = await startNginx({ http: jwtConfig, files: { 'probe.html': probeHtml } });
    try {
      const now = Math.floor(Date.now() / 1000);
      const good = await jwtHS256(JWT_SECRET, { sub: 'alex', channel: 'j1', exp: now + 600 });
      const page = await openProbe(j.origin(0), `/sub-jwt?channel=j1&token=${good}`);
      await waitType(page, 'connected');
      const r = await publish(j.url(0, '/publish'), { channel: 'j1', data: 'for token holders' });
      await waitType(page, 'message');
      const msg = (await seen(page)).find((e) => e.type === 'message');
      assert.deepEqual([msg.data, msg.lastEventId], ['for token holders', r.id]);
      await page.close();

      const expired = await jwtHS256(JWT_SECRET, { sub: 'alex', channel: 'j1', exp: now - 60 });
      const forged = await jwtHS256('another secret', { sub: 'alex', channel: 'j1', exp: now + 600 });
      for (const [what, src, status] of [
        ['no token', '/sub-jwt?channel=j1', 401],
        ['expired token', `/sub-jwt?channel=j1&token=${expired}`, 401],
        ['token signed with another key', `/sub-jwt?channel=j1&token=${forged}`, 401],
        ['channel not in the token', `/sub-jwt?channel=j2&token=${good}`, 403],
      ]) {
        const res = await fetch(j.url(0, src));
        assert.equal(res.status, status, what);
        await res.body?.cancel();
        const p = await openProbe(j.origin(0), src);
        await waitFor(p, () => window.seen.some((e) => e.type === 'error' && e.readyState === 2));
        assert.equal((await seen(p)).filter((e) => e.type === 'connected').length, 0, `${what}: refused`);
        await p.close();
      }
    } finally {
      await j.stop();
    }
  });

  test('HTTP/2 over TLS: a quiet EventSource opens at once, long before the first keepalive', async (t) => {
    // a self-signed certificate for 127.0.0.1, made by openssl for the test
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-tls-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 30000 });
    if (made.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      t.skip(`openssl could not make a certificate: ${made.stderr || made.error}`);
      return;
    }
    // the default sse_keepalive (15s), no connected event, no history: the
    // response head is all the browser gets until the first publish
    const tls = await startNginx({
      ports: 2,
      workers: 1,
      files: { 'probe.html': probeHtml },
      http: (p) => `
    sse_zone zone=events:1m;
    server {
        listen 127.0.0.1:${p[0]} ssl http2;
        ssl_certificate ${cert};
        ssl_certificate_key ${key};
        root html;
        location = /sub { sse_subscribe; }
    }
    server {
        listen 127.0.0.1:${p[1]};
        location = /publish { sse_publish; }
    }`,
    });
    const b = await launchChromium({ ignoreHTTPSErrors: true });
    try {
      const page = await b.context.newPage();
      const q = new URLSearchParams({ src: '/sub?channel=quiet', events: '' });
      const t0 = Date.now();
      await page.goto(`https://127.0.0.1:${tls.ports[0]}/probe.html?${q}`);
      assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol),
        'h2', 'the page and its EventSource come over HTTP/2');
      await waitType(page, 'open', 1, 5000);
      const opened = Date.now() - t0;
      assert.ok(opened < 5000, `onopen after ${opened} ms`);
      assert.equal((await seen(page)).filter((r) => r.type === 'message').length, 0, 'no event yet');

      const r = await publish(`http://127.0.0.1:${tls.ports[1]}/publish`, { channel: 'quiet', data: 'over h2' });
      await waitType(page, 'message');
      const msg = (await seen(page)).find((e) => e.type === 'message');
      assert.deepEqual([msg.data, msg.lastEventId], ['over h2', r.id]);
      assert.equal((await seen(page)).filter((e) => e.type === 'error').length, 0);
      await page.close();
    } finally {
      await b.close();
      await tls.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('demo page: the progress bar moves (screenshot)', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${ngx.origin(0)}/?channel=user_123`);
    await page.waitForFunction(() => document.getElementById('state').textContent === 'open', null, { timeout: 10000 });
    const pub = ngx.url(0, '/publish');
    let last;
    for (const [progress, message] of [[10, 'Fetching 20 images'], [35, 'Resizing images (7 of 20)'], [65, 'Resizing images (13 of 20)']]) {
      last = await publish(pub, { channel: 'user_123', event: 'workflow_update', data: { status: 'processing', progress, message } });
      await sleep(150);
    }
    await publish(pub, { channel: 'user_123', data: 'a default message event' });
    await page.waitForFunction(() => document.getElementById('progress').textContent === '65%', null, { timeout: 10000 });
    await page.waitForFunction(() => /a default message event/.test(document.getElementById('log').textContent), null, { timeout: 10000 });
    await sleep(500); // the bar's CSS transition

    const width = await page.evaluate(() => {
      const f = document.getElementById('fill');
      return f.getBoundingClientRect().width / f.parentElement.getBoundingClientRect().width;
    });
    assert.ok(Math.abs(width - 0.65) < 0.02, `bar at 65% (${width})`);
    assert.equal(await page.textContent('#status'), 'processing');
    assert.equal(await page.textContent('#message'), 'Resizing images (13 of 20)');
    assert.ok(Number(await page.textContent('#lastid')) > Number(last.id), 'last event id shown');
    assert.equal(await page.inputValue('#channel'), 'user_123');

    const out = path.join(repoRoot, 'build', 'browser', 'demo.png');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await page.screenshot({ path: out, fullPage: true });
    const docs = path.join(repoRoot, 'docs', 'demo.png');
    if (process.env.SSE_UPDATE_SCREENSHOT || !fs.existsSync(docs)) {
      fs.mkdirSync(path.dirname(docs), { recursive: true });
      fs.copyFileSync(out, docs);
    }
    await page.close();
  });
});
