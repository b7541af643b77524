// Switchboard service-worker bootstrap (opt-in: connect({ serviceWorker: '/switchboard-sw.js' })).
// The hub's code in its service-worker role: deliver the stored queue on `sync` when no tab
// is open, refresh the sign-in on `periodicsync`.
import init, { serviceWorker } from './switchboard_hub.js';
const ready = init();
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
for (const type of ['sync', 'periodicsync']) self.addEventListener(type, (e) => e.waitUntil(ready.then(() => serviceWorker(type))));
