// A React 19 app in StrictMode over switchboard-client/react, written without JSX (no build
// plugin). It renders the status, the room, the signed-in user, the leader and a shared
// counter, counts what its handlers receive, and counts every listener the hooks register
// on the client (a feature that wraps the client's on* methods), so the test can check
// each event reaches each handler once and nothing is left after unmount.
import { StrictMode, createElement as h, useEffect } from 'react';
import { createRoot } from 'react-dom/client';
import { feature } from 'switchboard-client';
import { attachState } from 'switchboard-client/state';
import {
  SwitchboardProvider, useAuth, useEmit, useEvent, useLeader, useRoom, useSharedState, useStatus, useSwitchboard,
} from 'switchboard-client/react';

const server = new URLSearchParams(location.search).get('server') ?? location.origin;
const app = (window.app = { clients: 0, live: 0, got: { a: 0, b: 0 }, mounts: 0 });

// Every registration the hooks make, counted until its unsubscribe runs.
function count(obj, method) {
  const original = obj[method];
  obj[method] = function (...args) {
    const off = original.apply(this, args);
    app.live++;
    let on = true;
    return () => (on && ((on = false), app.live--), off());
  };
}
feature(async (client) => {
  app.clients++;
  app.client = client;
  ['on', 'onAny', 'onStatus', 'onTabs', 'onAuth', 'onLeader', 'onMembers'].forEach((m) => count(client, m));
  count(await attachState(client), 'subscribe');
});

const text = (id, value) => h('p', { id }, String(value));

function Listener({ name }) {
  useEvent('ping', () => app.got[name]++);
  return text('got-' + name, 'listening');
}

function Panel() {
  const status = useStatus();
  const { joined, members } = useRoom('react-room');
  const auth = useAuth();
  const leader = useLeader();
  const [counter, setCounter] = useSharedState('counter');
  const emit = useEmit();
  const client = useSwitchboard();
  Object.assign(app, { auth, setCounter, emit });
  useEffect(() => void app.mounts++, []);
  return h(
    'div',
    null,
    text('status', status.status),
    text('room', joined ? members.reduce((n, m) => n + m.tabs.length, 0) : 'not joined'),
    text('user', auth.user ?? 'nobody'),
    text('leader', leader ? (leader.isLeader ? 'leads' : 'follows') : 'unknown'),
    text('counter', counter ?? 'none'),
    text('tab', client?.id ?? ''),
    h(Listener, { name: 'a' }),
    h(Listener, { name: 'b' })
  );
}

const root = createRoot(document.getElementById('root'));
root.render(h(StrictMode, null, h(SwitchboardProvider, { options: { url: server } }, h(Panel))));
app.unmount = () => root.unmount();
