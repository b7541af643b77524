// The official socket.io-client (npm, from tools/) as the Socket.IO Admin UI connects: to
// `/admin` with `auth {username, password}` (or `{sessionId}`), websocket only. Prints each
// event it receives as a JSON line `{"event": name, "args": [...]}` (and `connect`,
// `connect_error`); each JSON line on stdin `[event, ...args]` is emitted (the UI's actions).
// Usage: node admin-client.mjs URL AUTH_JSON
import { io } from '../../tools/node_modules/socket.io-client/build/esm/index.js';
import { createInterface } from 'node:readline';

const [url, auth] = [process.argv[2], JSON.parse(process.argv[3] || '{}')];
const socket = io(url + '/admin', { auth, transports: ['websocket'], reconnection: false, forceNew: true });
const print = (event, args) => process.stdout.write(JSON.stringify({ event, args }) + '\n');
socket.on('connect', () => print('connect', []));
socket.on('connect_error', (e) => print('connect_error', [e.message]));
socket.on('disconnect', (reason) => print('disconnect', [reason]));
socket.onAny((event, ...args) => print(event, args));
createInterface({ input: process.stdin }).on('line', (line) => {
  const [event, ...args] = JSON.parse(line);
  socket.emit(event, ...args);
});
