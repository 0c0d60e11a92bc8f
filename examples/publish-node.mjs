// Publish from Node (18+) with the built-in fetch.
// node publish-node.mjs [progress]     SSE_URL: default http://127.0.0.1:8080
const url = process.env.SSE_URL || 'http://127.0.0.1:8080';
const progress = Number(process.argv[2] || 60);

const res = await fetch(`${url}/publish`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({
    channel: 'user_123',
    event: 'workflow_update',
    data: { status: 'processing', progress, message: `Step at ${progress}%` },
  }),
});

console.log(res.status, await res.text());
process.exitCode = res.ok ? 0 : 1;
