// The compat client where socket.io-client's tests import "..": switchboard-compat.js, which
// index.html imported from /sb/ (the Switchboard package) into `switchboardCompat`.
const compat = globalThis.switchboardCompat;
export const { io, Manager, Socket } = compat;
export default compat.io;
