// Switchboard with socket.io-client's API: `import { io } from './switchboard-compat.js'`.
import { attach } from './connect.js';
import { makeIo, Socket } from './compat.js';
export const io = makeIo(attach);
export { Socket };
export default io;
