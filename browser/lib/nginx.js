// Starts nginx with the built module for a test: free 127.0.0.1 ports, a
// fresh temporary prefix, a configuration written by the test, bounded start
// and stop.  Used by the Chromium and eventsource tests and by examples/.
//
//   const ngx = await startNginx({ ports: 2, http: (p) => `server { listen 127.0.0.1:${p[0]}; ... }` });
//   ngx.url(0, '/events')  ->  http://127.0.0.1:<port0>/events
//   await ngx.reload(); await ngx.stop();
//
// Like the Perl harness, nothing nginx reports is ignored: ngx.assertLogClean()
// (run after each test) fails on the error.log / stderr lines written since
// the last check that show a crash, an [alert], [crit] or [emerg], or a
// sanitizer report; ngx.stop() fails when nginx does not exit with status 0
// within 5 s, or when its whole log holds such a line. A test that provokes
// one on purpose passes `allowLog: [/regex/]` to startNginx().
//
// Environment: SSE_NGINX (the nginx binary, default `nginx`), SSE_MODULE
// (the .so, default build/ngx_http_sse_module.so of this repository).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const nginxBinary = process.env.SSE_NGINX || 'nginx';
export const modulePath = path.resolve(repoRoot, process.env.SSE_MODULE || 'build/ngx_http_sse_module.so');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// nginx instances not stopped yet: a test that fails before its stop() must
// neither leave them running nor keep its test file from ending
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    for (const p of workerPids(child.pid)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
});

// A port nobody listens on now (the kernel picks it).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// error.log / stderr lines that fail a test unless it allows them
export const LOG_PROBLEM =
  /exited on signal|\[(?:alert|crit|emerg)\]|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

export function logProblems(text, allow = []) {
  return text.split('\n').filter((l) => LOG_PROBLEM.test(l) && !allow.some((re) => re.test(l)));
}

function buildConf({ ports, http, workers, main }) {
  return [
    `load_module ${modulePath};`,
    'daemon off;',
    'master_process on;',
    `worker_processes ${workers};`,
    'pid logs/nginx.pid;',
    'error_log logs/error.log info;',
    main || '',
    'events { worker_connections 1024; }',
    'http {',
    '    include /etc/nginx/mime.types;',
    '    default_type application/octet-stream;',
    '    access_log logs/access.log;',
    '    client_body_temp_path temp/client_body;',
    '    proxy_temp_path temp/proxy;',
    '    fastcgi_temp_path temp/fastcgi;',
    '    uwsgi_temp_path temp/uwsgi;',
    '    scgi_temp_path temp/scgi;',
    typeof http === 'function' ? http(ports) : http,
    '}',
    '',
  ].join('\n');
}

function makePrefix(files) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-client-test-'));
  for (const d of ['conf', 'logs', 'html', 'temp']) fs.mkdirSync(path.join(prefix, d));
  for (const [name, content] of Object.entries(files || {})) {
    const f = path.join(prefix, 'html', name);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, content);
  }
  // workers may run as another user (nginx started as root): let them read
  for (const p of walk(prefix)) fs.chmodSync(p, fs.statSync(p).isDirectory() ? 0o755 : 0o644);
  return prefix;
}

function* walk(dir) {
  yield dir;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p); else yield p;
  }
}

// `nginx -t` on a configuration: { ok, output }.  Lets a test skip a feature
// the module does not have yet (an unknown directive) with a clear message.
export async function checkConfig(opts) {
  const ports = opts.portList || await Promise.all(Array.from({ length: opts.ports || 1 }, freePort));
  const prefix = makePrefix({});
  try {
    fs.writeFileSync(path.join(prefix, 'conf', 'nginx.conf'),
      buildConf({ ports, http: opts.http, workers: opts.workers || 1, main: opts.main }));
    const r = spawnSync(nginxBinary, ['-t', '-p', prefix + '/', '-c', 'conf/nginx.conf', '-e', 'stderr'],
      { encoding: 'utf8', timeout: 10000 });
    return { ok: r.status === 0, output: (r.stderr || '') + (r.stdout || '') };
  } finally {
    fs.rmSync(prefix, { recursive: true, force: true });
  }
}

export async function startNginx(opts) {
  if (!fs.existsSync(modulePath)) throw new Error(`module not built: ${modulePath} (run make)`);
  const ports = await Promise.all(Array.from({ length: opts.ports || 1 }, freePort));
  const prefix = makePrefix(opts.files);
  const conf = buildConf({ ports, http: opts.http, workers: opts.workers || 2, main: opts.main });
  fs.writeFileSync(path.join(prefix, 'conf', 'nginx.conf'), conf);

  const args = ['-p', prefix + '/', '-c', 'conf/nginx.conf', '-e', path.join(prefix, 'logs', 'error.log')];
  const t = spawnSync(nginxBinary, ['-t', ...args], { encoding: 'utf8', timeout: 10000 });
  if (t.status !== 0) {
    fs.rmSync(prefix, { recursive: true, force: true });
    throw new Error(`nginx -t failed:\n${t.stderr}\n${conf}`);
  }

  const child = spawn(nginxBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  child.unref();
  child.stderr.unref();
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let exited = false;
  const exit = new Promise((resolve) => child.on('exit', (code, sig) => {
    exited = true;
    running.delete(child);
    resolve({ code, sig });
  }));

  const deadline = Date.now() + 10000;
  for (;;) {
    const up = await Promise.all(ports.map(canConnect));
    if (up.every(Boolean)) break;
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = readLog(prefix);
      throw new Error(`nginx did not start: ${stderr}\n${log}`);
    }
    await sleep(50);
  }

  const allow = opts.allowLog || [];
  let logChecked = 0;
  let stderrChecked = 0;
  const ngx = {
    ports,
    prefix,
    pid: child.pid,
    origin: (i = 0) => `http://127.0.0.1:${ports[i]}`,
    url: (i, p) => `http://127.0.0.1:${ports[i]}${p}`,
    errorLog: () => readLog(prefix),
    // the lines written to error.log and stderr since the last call that
    // show a crash, an alert or a sanitizer report
    newLogProblems() {
      const log = readLog(prefix);
      const fresh = log.slice(logChecked) + '\n' + stderr.slice(stderrChecked);
      logChecked = log.length;
      stderrChecked = stderr.length;
      return logProblems(fresh, allow);
    },
    assertLogClean() {
      const bad = this.newLogProblems();
      if (bad.length) throw new Error(`nginx reported (${prefix}/logs/error.log):\n${bad.join('\n')}`);
    },
    // a graceful reload (SIGHUP to the master): new workers, old ones end
    // their streams
    async reload() {
      const before = workerPids(child.pid);
      process.kill(child.pid, 'SIGHUP');
      const until = Date.now() + 10000;
      while (Date.now() < until) {
        await sleep(50);
        const now = workerPids(child.pid);
        if (now.length && now.every((p) => !before.includes(p))) return;
      }
      throw new Error('nginx reload: new workers did not replace the old ones');
    },
    // stops nginx (SIGTERM); rejects when it had to be killed, exited
    // otherwise than with status 0, or logged a crash, an alert or a
    // sanitizer report at any time (the prefix is then kept)
    async stop() {
      if (this.stopped) return;
      this.stopped = true;
      const wasRunning = !exited;
      let killed = false;
      if (wasRunning) {
        process.kill(child.pid, 'SIGTERM');
        const r = await Promise.race([exit, sleep(5000).then(() => null)]);
        if (r === null) {
          killed = true;
          child.kill('SIGKILL');
          for (const p of workerPids(child.pid)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
        }
      }
      const { code, sig } = await exit;
      const problems = [];
      if (!wasRunning) problems.push('nginx had exited before stop()');
      if (killed) problems.push('nginx did not exit within 5 s of SIGTERM');
      else if (sig || code !== 0) problems.push(`nginx exited with ${sig ? `signal ${sig}` : `status ${code}`}`);
      problems.push(...logProblems(readLog(prefix) + '\n' + stderr, allow));
      if (problems.length) {
        throw new Error(`nginx (prefix ${prefix} kept):\n${problems.join('\n')}`);
      }
      if (!process.env.SSE_KEEP_PREFIX) fs.rmSync(prefix, { recursive: true, force: true });
    },
  };
  return ngx;
}

function readLog(prefix) {
  try { return fs.readFileSync(path.join(prefix, 'logs', 'error.log'), 'utf8'); } catch { return ''; }
}

function workerPids(master) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === master) out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

// POST one JSON message (or an array) to a publisher location.
export async function publish(url, msg) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(msg),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`publish ${r.status}: ${text}`);
  return JSON.parse(text);
}

// An HS256 JWT, as sse_auth_jwt expects.
export async function jwtHS256(secret, claims) {
  const { createHmac } = await import('node:crypto');
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64(claims);
  const mac = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${mac}`;
}
