// The client tests' nginx helper hides nothing: a crash or an alert in
// nginx's error.log, or a bad exit, fails the test that caused it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';

import { logProblems, sleep, startNginx } from '../lib/nginx.js';

const config = (p) => `
    server {
        listen 127.0.0.1:${p[0]};
        location = /t { return 200 "ok"; }
    }`;

function workers(master) {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === master;
    } catch { return false; }
  });
}

async function killOneWorker(ngx) {
  // the master listens before its workers run: wait for them
  let pids = workers(ngx.pid);
  for (let i = 0; i < 100 && pids.length < 2; i++) { await sleep(20); pids = workers(ngx.pid); }
  assert.ok(pids.length >= 1, 'a worker runs');
  process.kill(Number(pids[0]), 'SIGKILL');
  for (let i = 0; i < 100 && !/exited on signal 9/.test(ngx.errorLog()); i++) await sleep(20);
  return Number(pids[0]);
}

describe('nginx helper', { timeout: 30000 }, () => {
  test('the lines that fail a test', () => {
    const log = [
      '2026/01/01 00:00:00 [notice] 1#1: start worker process 2',
      '2026/01/01 00:00:00 [alert] 1#1: worker process 2 exited on signal 11',
      '2026/01/01 00:00:00 [crit] 2#2: *1 open() failed',
      '2026/01/01 00:00:00 [emerg] 1#1: unknown directive',
      '==3==ERROR: AddressSanitizer: heap-use-after-free',
      'x.c:1:2: runtime error: signed integer overflow',
      '2026/01/01 00:00:00 [error] 2#2: *1 a client error',
    ].join('\n');
    assert.equal(logProblems(log).length, 5);
    assert.equal(logProblems(log, [/exited on signal 11/]).length, 4);
  });

  test('a clean run passes', async () => {
    const ngx = await startNginx({ ports: 1, http: config, workers: 1 });
    const r = await fetch(ngx.url(0, '/t'));
    assert.equal(await r.text(), 'ok');
    ngx.assertLogClean();
    await ngx.stop();
  });

  test('a killed worker is reported after the test and at stop', async () => {
    const ngx = await startNginx({ ports: 1, http: config, workers: 2 });
    const pid = await killOneWorker(ngx);
    assert.throws(() => ngx.assertLogClean(), new RegExp(`worker process ${pid} exited on signal 9`));
    ngx.assertLogClean();    // reported once: what is new since the last check
    await assert.rejects(ngx.stop(), /exited on signal 9/);
  });

  test('allowLog: a test that kills a worker on purpose', async () => {
    const ngx = await startNginx({ ports: 1, http: config, workers: 2, allowLog: [/exited on signal 9\b/] });
    await killOneWorker(ngx);
    ngx.assertLogClean();
    await ngx.stop();
  });
});
