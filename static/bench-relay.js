// Used by `switchboard bench`: the floor under the hub. A bare relay in a SharedWorker, no
// library and no wasm: one WebSocket speaking just enough Engine.IO v4 / Socket.IO v5
// (open, ping, namespace connect) and every event frame forwarded to the pages as it came.
const ports = [];
let connected = false;
const ws = new WebSocket(new URL('/socket.io/?EIO=4&transport=websocket', location.href).href.replace(/^http/, 'ws'));
ws.onmessage = ({ data }) => {
  if (data === '2') ws.send('3');
  else if (data[0] === '0') ws.send('40');
  else if (data.startsWith('40')) {
    connected = true;
    for (const p of ports) p.postMessage('connected');
  } else if (data.startsWith('42')) for (const p of ports) p.postMessage(data);
};
self.onconnect = (e) => {
  ports.push(e.ports[0]);
  if (connected) e.ports[0].postMessage('connected');
};
