// Switchboard with socket.io-client's API: `import { io } from './switchboard-compat.js'`.
// One core (`switchboard.js`) with the other entries.
import { attach } from './switchboard.js';
import { makeIo, Manager, Socket } from './compat.js';
export const io = makeIo(attach);
export { Manager, Socket };
export default io;
