// React bindings (`switchboard-client/react`): `<SwitchboardProvider>` and the hooks, over
// the one core (`switchboard.js`); React itself is the app's (a peer dependency).
export * from './react.js';
