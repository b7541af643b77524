// Switchboard with socket.io-client's API: `import { io } from './switchboard-compat.js'`.
import init, { create, op, bin, recv } from './switchboard_page.js';
import { use, open } from './switchboard_page_client.js';
import { makeIo, Socket } from './compat.js';
let ready;
const start = (options) =>
  (ready ??= init().then(() => use({ create, op, bin, recv })))
    .then(() => open(options, new URL('./switchboard-worker.js', import.meta.url).href));
export const io = makeIo(start);
export { Socket };
export default io;
