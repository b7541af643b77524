// The security API: importing this module gives every client `connect` makes
// `client.security`, `onSecurity`, `offSecurity`, `sessions`, `revokeSession`,
// `changePassword` and `verifyDevice`. One core (`switchboard.js`).
import { connect, load, feature } from './switchboard.js';
import { attachSecurity } from './security.js';
feature(attachSecurity);
export { connect, load, attachSecurity };
