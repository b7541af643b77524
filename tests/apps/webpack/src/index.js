// The package as an app imports it; the server comes from ?server= (another origin).
import { connect } from 'switchboard-client';

const server = new URLSearchParams(location.search).get('server') ?? location.origin;
window.app = { ready: connect({ url: server }).then((client) => (window.app.client = client)) };
