/**
 * The agent's reporter: one Mesh.Report stream to the coordinator.
 *
 * On connect it sends a full snapshot, then a delta every `intervalMs`
 * (sections that changed, plus the interval's metrics). Directives coming back
 * are handed to callbacks (policy, rotate-certificate). When the stream breaks
 * it reconnects with jittered exponential backoff capped at one interval, so a
 * restarted coordinator has the agent back within about two intervals.
 *
 * It is never on the request path: it only reads the injected `snapshot()` on
 * its own timer, swallows and logs every error, and a coordinator that is down
 * or slow costs nothing but a log line (writes are skipped while the stream is
 * backed up).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { controlPlaneProtos } from '../proto/load.ts';
import type { AgentReport, Directive, WirePolicy } from '../proto/types.ts';
import { Backoff } from './backoff.ts';
import { type CoordinatorIdentity, type CoordinatorTls, coordinatorChannelOptions, coordinatorCredentials } from './coordinator-channel.ts';
import { type AgentSnapshot, cutReport, type SentSections } from './snapshot.ts';

export interface ReporterOptions {
  /** Coordinator host:port. */
  readonly target: string;
  readonly intervalMs?: number;
  readonly snapshot: () => AgentSnapshot;
  /** Current trust roots and agent leaf; undefined while the agent has no identity yet. */
  readonly tls: () => CoordinatorTls | undefined;
  readonly coordinatorIdentity: CoordinatorIdentity;
  readonly onPolicy?: (policy: WirePolicy, version: number) => void;
  readonly onRotateCertificate?: (reason: string) => void;
  readonly backoff?: { initialMs: number; maxMs: number };
  readonly channelOptions?: grpc.ChannelOptions;
  readonly log?: Logger;
}

export type ReporterState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

export interface ReporterStatus {
  readonly state: ReporterState;
  readonly reportsSent: number;
  readonly connects: number;
  readonly policyVersion: number | undefined;
  readonly lastError: string | undefined;
}

type ReportCall = grpc.ClientDuplexStream<AgentReport, Directive>;

export class Reporter {
  readonly #o: ReporterOptions;
  readonly #interval: number;
  readonly #backoff: Backoff;
  #state: ReporterState = 'idle';
  #client: grpc.Client | undefined;
  #call: ReportCall | undefined;
  #gen = 0;
  #timer: NodeJS.Timeout | undefined;
  #sections: SentSections | undefined;
  #seq = 0;
  #blocked = false;
  #reportsSent = 0;
  #connects = 0;
  #policyVersion: number | undefined;
  #lastError: string | undefined;

  constructor(o: ReporterOptions) {
    const interval = o.intervalMs ?? 5000;
    if (!(interval >= 100)) throw new RangeError('reporter intervalMs must be >= 100');
    this.#o = o;
    this.#interval = interval;
    this.#backoff = new Backoff(o.backoff ?? { initialMs: Math.min(200, interval), maxMs: interval });
  }

  status(): ReporterStatus {
    return { state: this.#state, reportsSent: this.#reportsSent, connects: this.#connects, policyVersion: this.#policyVersion, lastError: this.#lastError };
  }

  start(): void {
    if (this.#state !== 'idle') return;
    this.#connect();
  }

  /** Drop the stream and dial again now (e.g. after the agent's leaf rotated). */
  reconnect(): void {
    if (this.#state === 'stopped' || this.#state === 'idle') return;
    this.#teardown();
    this.#connect();
  }

  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#teardown();
  }

  #teardown(): void {
    this.#gen++;
    clearTimeout(this.#timer);
    clearInterval(this.#timer);
    this.#timer = undefined;
    const call = this.#call;
    this.#call = undefined;
    if (call) {
      call.removeAllListeners('data');
      call.on('error', () => {}); // the cancel below surfaces as an error
      call.cancel();
    }
    this.#client?.close();
    this.#client = undefined;
  }

  #connect(): void {
    const gen = ++this.#gen;
    this.#state = 'connecting';
    let call: ReportCall;
    try {
      const tls = this.#o.tls();
      if (!tls?.certPem) throw new Error('no agent certificate yet');
      const { MeshClient } = controlPlaneProtos();
      this.#client = new MeshClient(this.#o.target, coordinatorCredentials(tls, this.#o.coordinatorIdentity), { ...coordinatorChannelOptions, ...this.#o.channelOptions });
      call = (this.#client as unknown as { Report(): ReportCall }).Report();
    } catch (err) {
      return this.#lost(gen, err);
    }
    this.#call = call;
    this.#sections = undefined;
    this.#seq = 0;
    this.#blocked = false;
    call.on('data', (d: Directive) => this.#onDirective(gen, d));
    call.on('error', (err) => this.#lost(gen, err));
    call.on('end', () => this.#lost(gen, new Error('the coordinator ended the stream')));
    call.on('drain', () => { this.#blocked = false; });
    this.#send(gen);
    this.#timer = setInterval(() => this.#send(gen), this.#interval);
    this.#timer.unref();
  }

  #send(gen: number): void {
    const call = this.#call;
    if (gen !== this.#gen || !call || this.#blocked) return;
    try {
      const cut = cutReport(this.#o.snapshot(), this.#sections, { seq: ++this.#seq, intervalMs: this.#interval, sentAtMs: Date.now() });
      this.#blocked = !call.write(cut.report);
      this.#sections = cut.sections;
      this.#reportsSent++;
    } catch (err) {
      this.#o.log?.warn({ err: (err as Error).message }, 'building the report failed; skipping this interval');
    }
  }

  #onDirective(gen: number, d: Directive): void {
    if (gen !== this.#gen) return;
    if (this.#state !== 'connected') {
      this.#state = 'connected';
      this.#connects++;
      this.#backoff.reset();
      this.#lastError = undefined;
      this.#o.log?.info({ target: this.#o.target }, 'connected to the coordinator');
    }
    try {
      if (d.policy) {
        this.#policyVersion = d.version;
        this.#o.onPolicy?.(d.policy, d.version);
      } else if (d.rotateCertificate) {
        this.#o.onRotateCertificate?.(d.rotateCertificate.reason);
      }
    } catch (err) {
      this.#o.log?.warn({ err: (err as Error).message }, 'a directive callback threw');
    }
  }

  #lost(gen: number, err: unknown): void {
    if (gen !== this.#gen || this.#state === 'stopped') return;
    this.#lastError = (err as Error)?.message ?? String(err);
    const wasConnected = this.#state === 'connected';
    this.#teardown();
    this.#state = 'backoff';
    const delay = this.#backoff.next();
    (wasConnected ? this.#o.log?.warn : this.#o.log?.debug)?.call(this.#o.log, { err: this.#lastError, retryInMs: delay }, 'coordinator stream lost; reconnecting');
    this.#timer = setTimeout(() => { if (this.#state === 'backoff') this.#connect(); }, delay);
    this.#timer.unref();
  }
}
