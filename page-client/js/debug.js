// Debugging over a Switchboard client (docs/server-contract.md, "Debugging"): debug mode
// (`client.debug(on)`), the hub's event log (`client.debugLog()`, `client.onDebug(fn)`), its
// inspector (`client.inspect()`), and while debug mode is on the hub's log lines in this
// tab's console. The hub keeps and answers all of it (`sb:debug`, `sb:log`); shipped in
// `switchboard-debug.js`, so pages in production do not download it.

const DEBUG = 'sb:debug';
const FLAG = 'switchboard:debug';

/** Gives `client` `debug`, `debugLog`, `onDebug` and `inspect` (once per client); turns
 * debug mode on when `options.debug` or `localStorage['switchboard:debug'] === '1'`. */
const attached = new WeakSet();
export async function attachDebug(client, options = {}) {
  if (!attached.has(client)) attached.add(client), start(client);
  let stored = null;
  try {
    stored = globalThis.localStorage?.getItem(FLAG);
  } catch {
    // Storage may be blocked (third-party contexts): only the option counts then.
  }
  if (options.debug || stored === '1') await client.debug(true, options.debug === true ? {} : options.debug || {});
  return client;
}
function start(client) {
  const ask = (...args) => client.emitWithAck(DEBUG, ...args);
  client.debug = (on = true, { capacity = 1000, payloads = 0 } = {}) =>
    ask(on ? 'on' : 'off', { capacity, payloads });
  client.debugLog = () => ask('log');
  client.clearDebugLog = () => ask('clear');
  client.inspect = () => ask('inspect');
  // Skips the rest of a reconnection backoff (resolves false when none was under way).
  client.retryNow = () => ask('retry');
  client.onDebug = (fn) => client.on(DEBUG, (...entries) => entries.forEach((e) => fn(e)));
  client.on('sb:log', (level, line) => (level === 'warn' ? console.warn : console.info)('switchboard:', line));
}
