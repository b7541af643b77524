// Switchboard page client: `connect(options)` returns a client shared with every tab.
import init, { connect as open, Client } from './switchboard_page.js';
let ready;
const spread = (f) => function (event, ...args) { return f.call(this, event, args); };
export async function connect(options = {}) {
  await (ready ??= init().then(() => {
    const p = Client.prototype;
    p.emit = spread(p.emit);
    p.emitWithAck = spread(p.emitWithAck);
  }));
  return open(options, new URL('./switchboard-worker.js', import.meta.url).href);
}
