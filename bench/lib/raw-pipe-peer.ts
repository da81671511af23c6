/**
 * One half of the raw pipe pair (bench/raw-pipe.ts): the least an L7 proxy in
 * Node could do on the mesh path. `out`: plaintext in, TLS out; `in`: TLS in,
 * plaintext out. Each accepted connection gets one upstream connection and
 * bytes are piped both ways: no parsing, no pooling, no telemetry.
 *
 *   node bench/lib/raw-pipe-peer.ts out|in LISTEN_PORT TARGET_PORT [CERT KEY]
 */
import { servePeer } from './peer-server.ts';

servePeer((down, up) => {
  down.pipe(up);
  up.pipe(down);
});
