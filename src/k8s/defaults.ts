/**
 * The fixed names and numbers of aim-mesh on Kubernetes, in one place: the
 * proxy's UID/GID (shared by the Dockerfile, the injected sidecar and
 * `redirect-traffic --proxy-uid`), the annotation and label keys users write,
 * the injected container and volume names, and the default ports.
 *
 * A test checks that the Dockerfile's user has PROXY_UID, so the image, the
 * sidecar's securityContext and the iptables owner match can never drift apart.
 */

/** The agent's fixed non-root UID. iptables excludes it from redirection (owner match). */
export const PROXY_UID = 5678;
/** The agent's fixed GID. */
export const PROXY_GID = 5678;

/** Pod annotations (and the namespace label) users set. */
export const Annotations = {
  /** `enabled` | `disabled` on a pod (overrides the namespace); `enabled` as a namespace label. */
  inject: 'aim-mesh.io/inject',
  /** `name:port,name2:port`: local upstream listeners. */
  upstreams: 'aim-mesh.io/upstreams',
  /** `3306,5432`: ports carried as opaque TCP (server-speaks-first protocols). */
  opaquePorts: 'aim-mesh.io/opaque-ports',
  /** `true` | `false`: transparent interception with redirect-traffic. */
  transparent: 'aim-mesh.io/transparent',
  /** Written by the injector: the version that injected the pod. Its presence means "never again". */
  injected: 'aim-mesh.io/injected',
  /** The mesh service name (default: service account, then app labels). */
  service: 'aim-mesh.io/service',
  /** The app's port, a number or a containerPort name (default: the first containerPort). */
  servicePort: 'aim-mesh.io/service-port',
  /** Secret with tls.crt, tls.key, ca.crt for the `files` identity source. */
  identitySecret: 'aim-mesh.io/identity-secret',
  /** Transparent mode: extra inbound ports, outbound ports, outbound CIDRs and UIDs left alone. */
  excludeInboundPorts: 'aim-mesh.io/exclude-inbound-ports',
  excludeOutboundPorts: 'aim-mesh.io/exclude-outbound-ports',
  excludeOutboundCidrs: 'aim-mesh.io/exclude-outbound-cidrs',
  excludeUids: 'aim-mesh.io/exclude-uids',
} as const;

/** The namespace label that turns injection on for every pod in it. */
export const NAMESPACE_LABEL = Annotations.inject;

export const PROXY_CONTAINER = 'aim-mesh-proxy';
export const REDIRECT_CONTAINER = 'aim-mesh-redirect';
export const IDENTITY_VOLUME = 'aim-mesh-identity';
export const TLS_VOLUME = 'aim-mesh-tls';
export const IDENTITY_DIR = '/var/run/aim-mesh/identity';
export const TLS_DIR = '/var/run/aim-mesh/tls';

export const DEFAULT_PORTS = {
  /** The public (mTLS) port other agents dial; Consul's sidecar uses 20000 too. */
  inbound: 20000,
  /** The admin server, loopback only. */
  admin: 19000,
  /** The transparent outbound capture port (redirect-traffic's default). */
  outbound: 15001,
} as const;

/** Kubernetes' default terminationGracePeriodSeconds. */
export const DEFAULT_GRACE_SECONDS = 30;

/** Request bodies larger than this are refused by the webhook (the API server caps objects at ~3 MiB). */
export const MAX_REVIEW_BYTES = 8 * 1024 * 1024;
