// Used by `switchboard bench` to measure the page <-> SharedWorker hop alone (no wasm, no
// socket): echoes each message, or answers {burst, size} with `burst` messages of `size` bytes.
self.onconnect = (e) => {
  const port = e.ports[0];
  port.onmessage = ({ data }) => {
    if (data && data.burst) {
      for (let i = 0; i < data.burst; i++) port.postMessage(new Uint8Array(data.size));
    } else {
      port.postMessage(data);
    }
  };
};
