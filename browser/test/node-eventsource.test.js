// The npm `eventsource` client from Node: 1,000 messages published at a
// steady rate arrive complete and in order although the stream is cut
// (sse_subscriber_timeout) several times and the client resumes with its
// Last-Event-ID.

import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { sleep, startNginx } from '../lib/nginx.js';

const config = (p) => `
    sse_zone zone=events:4m history=2000;
    server {
        listen 127.0.0.1:${p[0]};
        location = /sub {
            sse_subscribe;
            sse_subscriber_timeout 700ms;
            sse_retry 50ms;
        }
        location = /publish { sse_publish; }
    }`;

let ngx;

describe('npm eventsource client', { timeout: 90000 }, () => {
  before(async () => {
    ngx = await startNginx({ ports: 1, http: config });
  });

  afterEach(() => ngx.assertLogClean());

  after(async () => {
    if (ngx) await ngx.stop();    // rejects on a bad exit status or log
  });

  test('1,000 messages complete and in order across forced reconnects', async () => {
    const got = [];
    let opens = 0;

    const es = new EventSource(ngx.url(0, '/sub?channel=steady'));
    es.onopen = () => { opens++; };
    es.addEventListener('tick', (e) => { got.push({ id: Number(e.lastEventId), data: e.data }); });

    while (opens === 0) await sleep(10);

    // 1,000 messages, one every 3 ms: about 3 s, so the stream is cut
    // (700 ms timeout) four times or more while they flow
    for (let i = 1; i <= 1000; i++) {
      const r = await fetch(ngx.url(0, '/publish?channel=steady&event=tick'), {
        method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: `n=${i}`,
      });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      await sleep(3);
    }

    const deadline = Date.now() + 15000;
    while (got.length < 1000 && Date.now() < deadline) await sleep(20);
    es.close();

    assert.ok(opens >= 4, `the stream was cut and resumed (${opens} connections)`);
    assert.equal(got.length, 1000, 'every message once');
    assert.deepEqual(got.map((m) => m.data), Array.from({ length: 1000 }, (_, k) => `n=${k + 1}`),
      'in order, none lost, none repeated');
    for (let k = 1; k < got.length; k++) {
      assert.ok(got[k].id > got[k - 1].id, 'ids strictly increasing');
    }
  });
});
