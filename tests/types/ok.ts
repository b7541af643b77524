// Must compile under `tsc --strict`: typed events as socket.io-client's, and unsubscribe.
import { connect, type Client } from '../../static/bundle/switchboard.js';
import { connect as secure } from '../../static/bundle/switchboard-security.js';

interface Listen {
  chat: (m: { room: string; text: string; from: string }) => void;
  count: (n: number) => void;
}
interface Emit {
  chat: (m: { room: string; text: string }) => void;
  add: (a: number, b: number, done: (sum: number) => void) => void;
}

export async function typed(): Promise<number> {
  const client: Client<Listen, Emit> = await connect<Listen, Emit>({ url: 'http://127.0.0.1:8080' });
  const stop: () => void = client.on('chat', (m) => console.log(m.from.toUpperCase(), m.text));
  client.on('count', (n) => n.toFixed(1));
  client.emit('chat', { room: 'r', text: 'hi' });
  client.to('r').emit('chat', { room: 'r', text: 'to the room' });
  const sum: number = await client.emitWithAck('add', 1, 2);
  stop();
  client.off('count');
  const offStatus = client.onStatus((d) => d.status);
  offStatus();
  client.offTabs(() => {});
  client.onMembers('r', (m) => m.length)();
  return sum;
}

export async function untyped(): Promise<void> {
  // Without maps: any event name, any arguments (as before).
  const client = await connect();
  const stop = client.on('anything', (a: any, b: any) => console.log(a, b));
  client.emit('whatever', 1, 'two', { three: 3 });
  const reply = await client.emitWithAck('ask', 1);
  console.log(reply);
  stop();
  client.onAny((event, ...args) => console.log(event, args))();
  const s = await secure();
  const off = s.onSecurity((x) => x.state);
  off();
  s.offSecurity(() => {});
}

// The React bindings' hooks (types written without @types/react).
import { useAuth, useEmit, useEvent, useRoom, useSharedState, useStatus, useSwitchboard } from '../../static/bundle/switchboard-react.js';
export function hooks(): string {
  const status: string = useStatus().status;
  const { joined, members } = useRoom('r');
  const [count, setCount] = useSharedState<number>('count');
  void setCount((n) => (n ?? 0) + 1);
  useEvent<Listen, 'count'>('count', (n) => n.toFixed(1));
  useEmit<Emit>()('chat', { room: 'r', text: 'hi' });
  const client = useSwitchboard<Listen, Emit>();
  client?.on('chat', (m) => m.text);
  const auth = useAuth();
  void auth.login('alice', 'pw');
  return `${status} ${joined} ${members.length} ${count ?? 0} ${auth.user ?? ''}`;
}

// socket.io-client's API, typed the same way.
import { io, Manager } from '../../static/bundle/switchboard-compat.js';
export async function compat(): Promise<number> {
  const socket = io<Listen, Emit>('http://127.0.0.1:8080');
  socket.on('connect', () => socket.id);
  socket.on('connect_error', (e) => e.message);
  socket.on('chat', (m) => m.from.toUpperCase());
  socket.emit('chat', { room: 'r', text: 'hi' });
  const any = io();
  any.on('whatever', (x: unknown) => x);
  const manager = new Manager('http://127.0.0.1:8080', { reconnectionDelay: 10 });
  manager.on('reconnect_attempt', (n) => n + 1).socket('/admin').connect();
  manager.engine?.on('packetCreate', (p) => p.data.length).close();
  const delay: number = manager.reconnectionDelay();
  return delay + (await socket.emitWithAck('add', 1, 2));
}
