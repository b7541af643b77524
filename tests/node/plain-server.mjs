// An unmodified Socket.IO 4 server (Node) for compatibility tests: none of Switchboard's
// `sb:` contract, no sign-in endpoints. Test hooks over plain HTTP on the same port:
// GET /stats, GET /recorded, GET /emit?event=E&data=JSON[&nsp=/admin] and GET /emit-bin (to
// every socket of the namespace); namespaces `/` and `/admin` (echo), `/private` refuses all;
// with connection state recovery: GET /drop?event=E&from=A&to=B&block=MS closes every
// socket's transport (as a network drop would), refuses new connections for MS ms, and
// broadcasts E(A..=B) once the sockets are gone; GET /recovered lists `socket.recovered`.
// GET /freeze?ms=N blocks the server (no pings) for N ms.
// Usage: node plain-server.mjs PORT [RECOVERY_MS [PING_MS]]   (prints "listening PORT" once ready)
import { createServer } from 'node:http';
import { Server } from '../../tools/node_modules/socket.io/dist/index.js';

const port = Number(process.argv[2] || 0);
const recoveryMs = Number(process.argv[3] || 0);
const pingMs = Number(process.argv[4] || 0);
const recorded = [];
let blockedUntil = 0;
let engineConnections = 0;
let connections = 0;
const http = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const json = (v) => {
    const body = Buffer.from(JSON.stringify(v));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  };
  if (url.pathname === '/stats') return json({ connections, clients: io.engine.clientsCount, engine: engineConnections });
  if (url.pathname === '/recorded') return json(recorded);
  if (url.pathname === '/emit') {
    io.of(url.searchParams.get('nsp') || '/').emit(url.searchParams.get('event'), JSON.parse(url.searchParams.get('data')));
    return json({ ok: true });
  }
  if (url.pathname === '/emit-bin') { io.emit('blob', Buffer.from([1, 2, 3]), { note: 'with binary' }); return json({ ok: true }); }
  // Blocks the event loop (no pings, no frames) for `ms`: clients see a ping timeout.
  if (url.pathname === '/freeze') {
    json({ ok: true });
    const until = Date.now() + Number(url.searchParams.get('ms'));
    setTimeout(() => { while (Date.now() < until); }, 10);
    return;
  }
  if (url.pathname === '/recovered') return json([...io.sockets.sockets.values()].map((s) => s.recovered));
  if (url.pathname === '/drop') {
    const q = (k) => url.searchParams.get(k);
    blockedUntil = Date.now() + Number(q('block') || 0);
    const sockets = [...io.sockets.sockets.values()];
    const gone = sockets.map((s) => new Promise((r) => s.once('disconnect', (reason) => r(reason))));
    sockets.forEach((s) => s.conn.close());
    Promise.all(gone).then((reasons) => {
      for (let n = Number(q('from')); n <= Number(q('to')); n++) io.emit(q('event'), n);
      json({ reasons });
    });
    return;
  }
  res.writeHead(404); res.end();
});
const io = new Server(http, {
  cors: { origin: true, credentials: true },
  // Refused at the HTTP level while blocked: the client sees a transport error and retries.
  allowRequest: (req, callback) => callback(null, Date.now() >= blockedUntil),
  ...(recoveryMs ? { connectionStateRecovery: { maxDisconnectionDuration: recoveryMs } } : {}),
  ...(pingMs ? { pingInterval: pingMs, pingTimeout: pingMs } : {}),
});
io.on('connection', (socket) => {
  connections += 1;
  socket.on('echo', (v, ack) => typeof ack === 'function' && ack(v));
  socket.on('record', (v) => recorded.push(v));
  socket.on('ask-me', (q) => socket.emit('question', q, (answer) => recorded.push({ answer })));
  socket.on('bin-echo', (b, ack) => ack(b));
  // For the socket.io-client-shaped API (tests/compat.rs):
  socket.on('whoami', (ack) => ack({ id: socket.id, auth: socket.handshake.auth, recovered: socket.recovered }));
  socket.on('no-ack', () => {});
  socket.on('message', (v) => recorded.push({ message: v }));
  socket.on('vol', (v) => recorded.push({ volatile: v }));
  socket.on('two-acks', (ack) => ack('a', 'b'));
  socket.on('emit-me', (ev, ...args) => socket.emit(ev, ...args));
  socket.on('kick', () => socket.disconnect());
  // Acknowledged every other time it arrives (a client with `retries` sends it again).
  let flaky = 0;
  socket.on('flaky', (n, ack) => { flaky += 1; recorded.push({ flaky: n, try: flaky }); if (flaky % 2 === 0) ack('ok ' + n); });
});
io.engine.on('connection', () => { engineConnections += 1; });
io.of('/admin').on('connection', (socket) => {
  socket.on('echo', (v, ack) => ack('admin:' + v));
});
// A namespace whose middleware refuses everyone (CONNECT_ERROR "not allowed").
io.of('/private').use((socket, next) => next(new Error('not allowed')));
http.listen(port, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
