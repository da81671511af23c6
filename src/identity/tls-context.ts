/**
 * Agent-to-agent mTLS: Node TLS options built from IdentityMaterial, kept
 * fresh across rotations. This file is the entry point; the two sides live in
 * tls-server.ts and tls-client.ts.
 *
 * Server side (the inbound, public port):
 *
 *   const srv = createServerTls(source);               // source already started
 *   const server = tls.createServer(srv.options, srv.guard((socket, peer) => {
 *     // only verified peers get here; peer.id is the caller's SpiffeId
 *   }));
 *   const detach = srv.attach(server);                  // required: setSecureContext() on every rotation,
 *                                                       // and closes failed/timed-out handshakes (Node leaves them open)
 *
 *   `options`: TLS 1.3 only, requestCert, rejectUnauthorized:false (a bad client
 *   completes the handshake and is then closed by our own verification, which
 *   is the one that checks the SPIFFE ID), ALPN ['h2','http/1.1'], session
 *   tickets with keys kept across leaf rotations (new keys when the trust
 *   bundle changes), a 10 s handshake timeout.
 *   `verifyPeer(socket)` is the same check without the wrapper: {ok, spiffeId, id}
 *   or {ok:false, reason, detail}; fast (LRU per certificate fingerprint).
 *
 * Client side (outbound, to another agent):
 *
 *   const cli = createClientTls(source);
 *   const socket = cli.connect({ host, port, expectedSpiffeId });   // or:
 *   const opts = cli.connectOptions(endpointKey, expectedSpiffeId, alpn);
 *   const socket = tls.connect({ ...opts, host, port }); cli.trackSession(socket, endpointKey, expectedSpiffeId);
 *
 *   The options reuse one SecureContext per rotation (cert, key, chain, roots,
 *   TLS 1.3), set `servername` explicitly (derived from the expected ID, never
 *   an IP), replace `checkServerIdentity` with our SPIFFE verification of the
 *   expected ID, and carry a cached session for resumption keyed by
 *   endpoint + expected ID. OpenSSL still checks the chain too (defence in
 *   depth): its failures surface as errors with codes such as CERT_HAS_EXPIRED;
 *   ours as ProxyError('upstream_tls_identity'). `isIdentityError(err)` tells
 *   both apart from plain connect failures.
 *
 * Both sides cost per connection: one small options object and one cache
 * lookup. SecureContexts are built once per rotation, never per connect.
 * The agent's `AgentTls` contract (src/agent/tls.ts) is implemented on top of
 * these in agent-tls.ts.
 *
 * Node quirks handled here (Node 24): a resumed client socket has no peer
 * certificate; `getPeerX509Certificate()` on a client socket empties the peer
 * chain for every later call; a server never shows the intermediates a client
 * sent; tls.Server leaves sockets with failed handshakes open.
 */
export { createServerTls, type ServerTls, type ServerTlsOptions } from './tls-server.ts';
export { createClientTls, type ClientTls, type ClientTlsOptions, type ConnectTarget } from './tls-client.ts';
export { DEFAULT_ALPN, isIdentityError, secureContextOptions, verifyError } from './tls-material.ts';
