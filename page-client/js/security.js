// Security over a Switchboard client (docs/server-contract.md, "Security events"): the hub's
// security state (`signed-out`, `signed-in`, `verification-required`, `verifying`,
// `revoked`) and the last security event, as the hub tells every tab (`sb:security
// [state, lastEvent]`), and the account's security requests, which the hub makes over HTTP
// with the session's credentials (`emitWithAck('sb:security', op, ...args)`). Shipped in
// `switchboard-security.js`, so pages without these screens do not download it.

const SECURITY = 'sb:security';

/** Gives `client` `security`, `onSecurity`, `sessions`, `revokeSession`, `changePassword`
 * and `verifyDevice`; resolves with `client.security` once the hub told the current state. */
const attached = new WeakMap();
export function attachSecurity(client) {
  if (!attached.has(client)) attached.set(client, start(client));
  return attached.get(client);
}
function start(client) {
  const handlers = [];
  const ask = (...args) => client.emitWithAck(SECURITY, ...args.map(String));
  client.security = { state: 'signed-out', lastEvent: null };
  const off = (fn) => {
    const i = handlers.lastIndexOf(fn);
    if (i >= 0) handlers.splice(i, 1);
  };
  client.onSecurity = (fn) => {
    handlers.push(fn);
    let on = 1;
    return () => on && (on = 0, off(fn));
  };
  client.offSecurity = off;
  client.sessions = () => ask('sessions').then((body) => body.sessions);
  client.revokeSession = (target) => ask('revoke', target);
  client.changePassword = (current, next) => ask('password', current, next);
  client.verifyDevice = (code) => ask('verify', code);
  return new Promise((resolve) => {
    client.on(SECURITY, (state, lastEvent) => {
      client.security = { state, lastEvent };
      for (const fn of [...handlers]) {
        try {
          fn(client.security);
        } catch (e) {
          console.warn('switchboard: a security handler threw', e);
        }
      }
      resolve(client.security);
    });
  });
}
