// Switchboard page client: `connect(options)` returns a client shared with every tab.
import init, { connect as open, Client } from './switchboard_page.js';
let ready;
const spread = (f) => function (event, ...args) { return f.call(this, event, args); };
export async function connect(options = {}) {
  await (ready ??= init().then(() => {
    const p = Client.prototype;
    for (const m of ['emit', 'emitWithAck', 'emitVolatile']) p[m] = spread(p[m]);
  }));
  return open(options, new URL('./switchboard-worker.js', import.meta.url).href);
}
