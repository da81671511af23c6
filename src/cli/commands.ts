/**
 * The CLI's command table. Each entry is loaded lazily so that `aim-mesh --help`
 * and a mistyped command stay instant, and so that the data path never imports
 * the coordinator, the injector or the CA tooling.
 *
 * A command module exports `usage` (the full --help text) and
 * `run(argv): Promise<number>` (the exit code).
 */
export interface CommandModule {
  readonly usage: string;
  run(argv: string[]): Promise<number>;
}

export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<CommandModule>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'agent', summary: 'Run a sidecar agent (from --config FILE or quick flags)', load: () => import('./commands/agent.ts') },
  { name: 'admin', summary: 'Call a running agent\'s admin API: get /ready, post /logging?level=debug, ...', load: () => import('./commands/admin.ts') },
  { name: 'ca', summary: 'Manage the local CA: init, issue a test leaf, rotate and prune roots', load: () => import('./commands/ca.ts') },
  { name: 'check-config', summary: 'Validate an agent config file and print every error', load: () => import('./commands/check-config.ts') },
  { name: 'coordinator', summary: 'Run the control plane: certificates, mesh view, dashboard (--ca-dir DIR)', load: () => import('./commands/coordinator.ts') },
  { name: 'demo', summary: 'Run the local demo mesh (what `npm start` runs)', load: () => import('./commands/demo.ts') },
  { name: 'redirect-traffic', summary: 'Write the iptables rules of transparent interception (--dry-run, --cleanup)', load: () => import('./commands/redirect-traffic.ts') },
  { name: 'inject', summary: 'Add the sidecar to Kubernetes manifests (-f FILE|-), like linkerd inject', load: () => import('./commands/inject.ts') },
  { name: 'inject-webhook', summary: 'Serve the Kubernetes sidecar injection webhook (AdmissionReview v1, HTTPS)', load: () => import('./commands/inject-webhook.ts') },
];
