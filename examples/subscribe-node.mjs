// Subscribe from Node with the npm `eventsource` package (npm i eventsource).
// node subscribe-node.mjs [count]: prints events, exits after count of them.
import { EventSource } from 'eventsource';

const url = process.env.SSE_URL || 'http://127.0.0.1:8080';
const count = Number(process.argv[2] || Infinity);
let seen = 0;

const es = new EventSource(`${url}/events?channel=user_123`);
es.addEventListener('workflow_update', (e) => {
  console.log(`workflow_update #${e.lastEventId}: ${e.data}`);
  if (++seen >= count) es.close();
});
es.onerror = () => { if (es.readyState === EventSource.CLOSED) process.exitCode = 1; };
