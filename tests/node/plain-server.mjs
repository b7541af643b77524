// An unmodified Socket.IO 4 server (Node) for compatibility tests: none of Switchboard's
// `sb:` contract, no sign-in endpoints. Test hooks over plain HTTP on the same port:
// GET /stats, GET /recorded, GET /emit?event=E&data=JSON and GET /emit-bin (to every socket).
// Usage: node plain-server.mjs PORT   (prints "listening PORT" once ready)
import { createServer } from 'node:http';
import { Server } from '../../tools/node_modules/socket.io/dist/index.js';

const port = Number(process.argv[2] || 0);
const recorded = [];
let connections = 0;
const http = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const json = (v) => {
    const body = Buffer.from(JSON.stringify(v));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  };
  if (url.pathname === '/stats') return json({ connections, clients: io.engine.clientsCount });
  if (url.pathname === '/recorded') return json(recorded);
  if (url.pathname === '/emit') { io.emit(url.searchParams.get('event'), JSON.parse(url.searchParams.get('data'))); return json({ ok: true }); }
  if (url.pathname === '/emit-bin') { io.emit('blob', Buffer.from([1, 2, 3]), { note: 'with binary' }); return json({ ok: true }); }
  res.writeHead(404); res.end();
});
const io = new Server(http, { cors: { origin: true, credentials: true } });
io.on('connection', (socket) => {
  connections += 1;
  socket.on('echo', (v, ack) => typeof ack === 'function' && ack(v));
  socket.on('record', (v) => recorded.push(v));
  socket.on('ask-me', (q) => socket.emit('question', q, (answer) => recorded.push({ answer })));
  socket.on('bin-echo', (b, ack) => ack(b));
});
io.of('/admin').on('connection', (socket) => {
  socket.on('echo', (v, ack) => ack('admin:' + v));
});
http.listen(port, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
