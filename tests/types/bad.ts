// Must NOT compile: each line below is an error `tsc --strict` reports (tests/types.rs
// checks that every line marked `// error` is reported).
import { connect } from '../../static/bundle/switchboard.js';

interface Listen {
  chat: (m: { text: string }) => void;
}
interface Emit {
  chat: (m: { room: string; text: string }) => void;
}

export async function wrong(): Promise<void> {
  const client = await connect<Listen, Emit>();
  client.on('nope', () => {}); // error
  client.on('chat', (m: number) => m); // error
  client.emit('chat', { text: 'no room' }); // error
  client.emit('chat', { room: 'r', text: 'hi' }, 'extra'); // error
  client.emit('unknown'); // error
  const n: number = client.on('chat', () => {}); // error
}
import { useSharedState } from '../../static/bundle/switchboard-react.js';
export async function hooks() {
  const [, set] = useSharedState<number>('count');
  await set('one'); // error
}
import { io } from '../../static/bundle/switchboard-compat.js';
export function compat() {
  const socket = io<{ chat: (text: string) => void }>();
  socket.emit('chat', 42); // error
}
