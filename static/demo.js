// The demo page's script (static/index.html), a file of its own so the page runs under
// the Content-Security-Policy the README documents (no inline scripts).
import { connect } from './switchboard-security.js';
import './switchboard-debug.js'; // debugging: every client connect() makes gets it
const $ = (id) => document.getElementById(id);
const log = (text) => {
  const line = document.createElement('div');
  line.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $('log').prepend(line);
};
try {
  const client = await connect();
  window.client = client;
  // Say where the hub runs: this browser's SharedWorker, one tab's worker, or each tab's own.
  $('banner').textContent = {
    'shared-worker': 'Every tab of this page shares one WebSocket through a SharedWorker hub.',
    'leader-tab': 'No SharedWorker here: one tab runs the hub and shares its WebSocket with the others (another takes over when it closes).',
    'per-tab': 'Neither SharedWorker nor Web Locks here: each tab runs its own hub and WebSocket.',
  }[client.mode] + ' Open this page in a few tabs.';
  // One indicator for every state a person can be in, with what happened and what to do.
  let retryAt = 0;
  const HELP = {
    connecting: 'Connecting to the server…',
    reconnecting: 'The server cannot be reached. What you send is kept and goes out when it is back.',
    offline: 'This device is offline. What you send is kept and goes out when it reconnects.',
    disconnected: 'The server closed the connection. Sign in again, or reload the page.',
  };
  const ACCOUNT = {
    'signed-out': 'You are signed out: sign in below to continue.',
    'verification-required': 'This device needs verification: enter the code we sent (in the Security section).',
    revoked: 'This session was signed out from elsewhere: sign in again.',
  };
  const showStatus = async () => {
    const s = client.statusDetail;
    $('status').textContent = s.status;
    $('status').className = s.status;
    const left = Math.max(0, (retryAt - Date.now()) / 1000);
    $('detail').textContent = s.status === 'reconnecting' ? `attempt ${s.attempt}, retrying in ${left.toFixed(0)} s`
      : s.status === 'disconnected' ? s.reason : s.sid ? `sid ${s.sid}` : '';
    $('retry').hidden = s.status !== 'reconnecting';
    let help = HELP[s.status] ?? '';
    if (s.status === 'offline' || s.status === 'reconnecting') {
      const view = await client.inspect().catch(() => null);
      const queued = view ? view.namespaces.reduce((n, x) => n + x.queue.count, 0) : 0;
      if (queued) help += ` (${queued} event${queued > 1 ? 's' : ''} queued)`;
    }
    $('help').textContent = [help, ACCOUNT[client.security.state] ?? ''].filter(Boolean).join(' ');
  };
  client.onStatus((s) => {
    if (s.status === 'reconnecting') retryAt = Date.now() + s.delay;
    showStatus();
  });
  setInterval(() => client.status === 'reconnecting' && showStatus(), 1000);
  $('retry').onclick = () => client.retryNow().then((done) => log(done ? 'retrying now' : 'already connecting'));
  // The debug panel: debug mode, the hub's event log as it happens, its inspector tree.
  const entryLine = (e) => `${new Date(e.at).toLocaleTimeString()} ${e.dir} ${e.event}${e.room ? ' @' + e.room : ''} ${e.outcome}` +
    `${e.ackMs !== null ? ` in ${e.ackMs} ms` : ''}${e.tab ? ` (tab ${e.tab.slice(0, 6)})` : ''}${e.trace ? ` trace ${e.trace.slice(3, 11)}` : ''}`;
  const showInspector = async () => {
    if (!$('debugon').checked) return;
    $('inspector').textContent = JSON.stringify(await client.inspect(), null, 1);
  };
  client.onDebug((e) => {
    const line = document.createElement('div');
    line.textContent = entryLine(e);
    $('debuglog').prepend(line);
    showInspector();
  });
  $('debugon').onchange = async () => {
    const on = $('debugon').checked;
    await client.debug(on);
    if (on) {
      const past = await client.debugLog();
      $('debuglog').replaceChildren(...past.reverse().map((e) => Object.assign(document.createElement('div'), { textContent: entryLine(e) })));
      showInspector();
    } else {
      $('inspector').textContent = '';
    }
  };
  // One tab leads (the one you look at; the server decides): it alone shows the badge and
  // writes heartbeats.
  // A line only when the leader changes (the term rises with each change, and only then).
  let shownLeader;
  client.onLeader((l) => {
    $('leader').hidden = !l?.isLeader;
    if (!l || l.leader === shownLeader) return;
    shownLeader = l.leader;
    log(l.isLeader ? `this tab leads (term ${l.term}, scope ${l.scope})` : l.leader ? `another tab leads (term ${l.term})` : 'no tab leads');
  });
  setInterval(() => client.leader?.isLeader && log(`leader heartbeat (term ${client.leader.term})`), 10000);
  client.onTabs((tabs) => {
    $('tabcount').textContent = tabs.length;
    $('tabs').replaceChildren(...tabs.map((t) => {
      const li = document.createElement('li');
      li.textContent = t === client.id ? `${t} (this tab)` : t;
      if (t === client.id) li.className = 'me';
      return li;
    }));
  });
  client.onAuth((a) => {
    $('who').textContent = !a ? 'checking…' : a.user ? `signed in as ${a.user}` : a.signedOut && a.signedOut !== 'logout' ? `signed out: ${a.signedOut}` : 'signed out';
    const t = a && a.telemetry;
    $('authdetail').textContent = !a ? '' : a.user
      ? `token expires ${new Date(a.expiresAt).toLocaleTimeString()}${a.error ? ' — ' + a.error : ''}; ${t.refreshes} refreshes, mean ${t.meanMs.toFixed(1)} ms`
      : a.signedOut ? `(${a.signedOut})` : '';
  });
  $('login').onsubmit = async (e) => {
    e.preventDefault();
    try { await client.login($('user').value, $('pass').value); log('signed in'); } catch (err) { log(`sign-in failed: ${err.message}`); }
  };
  // Security: the hub's state (the same in every tab), the last event, the account's sessions.
  const showSecurity = ({ state, lastEvent: e }) => {
    $('secstate').textContent = state;
    $('verify').hidden = !(state === 'verification-required' && document.hasFocus());
    if (e) $('secnotice').textContent = `${e.event.replace('SECURITY_', '').toLowerCase().replaceAll('_', ' ')}: ${e.reason_user ?? ''}`;
  };
  showSecurity(client.security);
  client.onSecurity((s) => {
    showSecurity(s);
    showStatus();
    if (s.lastEvent?.event === 'SECURITY_SUSPICIOUS_ACTIVITY') log(`suspicious activity (${s.lastEvent.kind}): ${s.lastEvent.reason_user}`);
  });
  for (const ev of ['focus', 'blur']) window.addEventListener(ev, () => showSecurity(client.security));
  $('verify').onsubmit = async (e) => {
    e.preventDefault();
    try { await client.verifyDevice($('code').value.trim()); log('device verified'); } catch (err) { log(`verification failed: ${err.message}`); }
  };
  const showSessions = async () => {
    try {
      const list = await client.sessions();
      $('sessions').replaceChildren(...list.map((x) => {
        const li = document.createElement('li');
        li.textContent = `${x.current ? 'this session' : x.id} — device ${x.device ?? '?'}, since ${new Date(x.created).toLocaleString()}, last seen ${new Date(x.lastSeen).toLocaleTimeString()}${x.verified ? '' : ' (unverified)'} `;
        if (!x.current) {
          const b = document.createElement('button');
          b.textContent = 'Sign out';
          b.onclick = () => client.revokeSession(x.id).then(showSessions, (err) => log(`sign-out failed: ${err.message}`));
          li.append(b);
        }
        return li;
      }));
    } catch (err) { log(`sessions: ${err.message}`); }
  };
  $('listsessions').onclick = showSessions;
  $('revokeothers').onclick = () => client.revokeSession('others').then((r) => { log(`signed out ${r.revoked} other session(s)`); showSessions(); }, (err) => log(err.message));
  $('password').onsubmit = async (e) => {
    e.preventDefault();
    try {
      const r = await client.changePassword($('current').value, $('next').value);
      log(`password changed; ${r.revoked} other session(s) signed out`);
      $('current').value = $('next').value = '';
    } catch (err) { log(`password change failed: ${err.message}`); }
  };
  $('logout').onclick = () => client.logout().then(() => log('signed out'));
  $('refresh').onclick = () => client.refresh().then(() => log('token refreshed'), (err) => log(`refresh failed: ${err.message}`));
  // Rooms the server assigns (user:, session:, device:, tab:) are listed apart from joined ones.
  const assigned = (r) => /^(user|session|device|tab):/.test(r);
  const joined = () => client.rooms.filter((r) => !assigned(r));
  const showRooms = () => {
    $('rooms').textContent = joined().length ? `in: ${joined().join(', ')}` : 'in no room';
    $('assigned').textContent = `assigned: ${client.rooms.filter(assigned).join(', ')}`;
    $('leave').disabled = !joined().length;
  };
  showRooms();
  // (The server assigns rooms on connect and sign-in; the leader is told after them.)
  for (const on of ['onStatus', 'onAuth', 'onLeader']) client[on](() => showRooms());
  // Presence: who is in the chat room, by user and device, with their tabs.
  const showMembers = (list) => {
    $('members').textContent = list.length
      ? `here: ${list.map((m) => `${m.user ?? 'guest'} (${m.tabs.length} tab${m.tabs.length > 1 ? 's' : ''})`).join(', ')}`
      : '';
  };
  let watched, unwatch;
  const watch = (room) => {
    if (watched === room) return;
    unwatch?.();
    watched = room;
    unwatch = client.onMembers(room, showMembers);
  };
  client.on('chat', (m) => log(`[${m.room}] ${m.from}: ${m.text}`));
  client.on('announce', (m) => log(`[everyone] ${m.from}: ${m.text}`));
  $('join').onclick = async () => {
    try { await client.join($('room').value); log(`joined ${$('room').value}`); watch($('room').value); } catch (e) { log(`join failed: ${e.message}`); }
    showRooms();
  };
  $('leave').onclick = async () => {
    try { await client.leave($('room').value); log(`left ${$('room').value}`); showMembers([]); } catch (e) { log(`leave failed: ${e.message}`); }
    showRooms();
  };
  $('chat').onsubmit = (e) => {
    e.preventDefault();
    if (!joined().length) return log('join a room first');
    // The server sets `from` (the signed-in user, else "anonymous").
    client.emit('chat', { room: joined()[0], text: $('text').value });
    $('text').value = '';
  };
  // Only a signed-in user may announce (the server refuses anyone else).
  $('announce').onclick = () => {
    if (!client.auth.user) return log('sign in to announce to everyone');
    client.emit('announce', { text: $('text').value || 'hello' });
  };
} catch (e) {
  $('status').textContent = 'error';
  $('detail').textContent = e.message;
}
