/**
 * Registration lifecycle with the local Consul agent:
 *
 *   start()  probe the app once, register the app service (its TTL check
 *            starts with the probe's verdict), then the sidecar; then every
 *            `check.interval`: probe, push the app check and the agent check.
 *   stop()   deregister the sidecar first (peers stop routing to us), then the
 *            app service — call it before the listeners close.
 *
 * Recovery: a check update answered 404 `Unknown check ID` (the Consul agent
 * restarted without its state, or reaped us) re-registers both services at
 * once and pushes the statuses, without waiting for the next tick. Repeated
 * failures are spaced by exponential backoff: no crash loop, no log flood.
 * Errors: a 403 at start() rejects with a ConsulApiError naming the missing
 * permission; transient errors at start() are retried until stop().
 */
import { Backoff } from '../../control/backoff.ts';
import type { Logger } from '../../telemetry/log.ts';
import { silentLogger } from '../../telemetry/log.ts';
import type { Health } from '../types.ts';
import type { ConsulClient } from './client.ts';
import { ConsulApiError } from './errors.ts';
import type { CheckOptions } from './options.ts';
import type { Probe, ProbeResult } from './probe.ts';
import { appServiceBody, proxyServiceBody, registrationIds, type RegistrationIds, type RegistrationSpec } from './registration-body.ts';

export interface RegistrationOptions {
  readonly client: ConsulClient;
  readonly spec: RegistrationSpec;
  readonly check: CheckOptions;
  /** Probe of the local app; its result is pushed into the TTL check. */
  readonly probe: Probe;
  readonly deregisterOnShutdown?: boolean;
  readonly log?: Logger;
  /** Backoff between re-registration attempts (default 1 s .. 30 s). */
  readonly retry?: { readonly initialMs: number; readonly maxMs: number };
}

export interface RegistrationStatus {
  readonly registered: boolean;
  readonly ids: RegistrationIds;
  readonly lastProbe: ProbeResult | undefined;
  readonly lastError: string | undefined;
  readonly reRegistrations: number;
  readonly lastUpdateAt: number | undefined;
}

export class ConsulRegistration {
  readonly ids: RegistrationIds;
  readonly #o: RegistrationOptions;
  readonly #log: Logger;
  readonly #retry: Backoff;
  #registered = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #tickRunning: Promise<void> | undefined;
  #nextRegisterAt = 0;
  #agentStatus: { status: Health; output: string } = { status: 'passing', output: 'aim-mesh agent running' };
  #lastProbe: ProbeResult | undefined;
  #lastError: string | undefined;
  #lastUpdateAt: number | undefined;
  #reRegistrations = 0;

  constructor(o: RegistrationOptions) {
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.ids = registrationIds(o.spec);
    this.#retry = new Backoff(o.retry ?? { initialMs: 1_000, maxMs: 30_000 });
  }

  /** Register and start keeping the checks current. Rejects on 4xx (403 names the permission); retries transient errors. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#lastProbe = await this.#o.probe();
    for (;;) {
      try {
        await this.#register();
        break;
      } catch (err) {
        if (this.#stopped) return;
        const e = err as ConsulApiError;
        if (!(e instanceof ConsulApiError) || !e.retryable) { this.#lastError = (err as Error).message; throw err; }
        const delay = this.#retry.next();
        this.#lastError = e.message;
        this.#log.warn({ err: e.message, retryInMs: delay }, 'consul registration failed; retrying');
        await new Promise<void>((r) => { this.#wake = r; this.#timer = setTimeout(r, delay); });
        this.#wake = undefined;
        if (this.#stopped) return;
      }
    }
    this.#retry.reset();
    this.#log.info({ service: this.ids.service, proxy: this.ids.proxy, token: this.#o.client.tokenOrigin }, 'registered with consul');
    this.#schedule();
  }

  /** The agent's own check (e.g. critical while draining, so peers stop routing before deregistration). */
  setAgentStatus(status: Health, output: string): void {
    this.#agentStatus = { status, output };
    if (this.#registered) void this.#o.client.updateCheck(this.ids.agentCheck, status, output).catch(() => {});
  }

  /** Stop the checks loop; deregister (sidecar first) unless deregister_on_shutdown is false. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    await this.#tickRunning;
    if (this.#o.deregisterOnShutdown === false || !this.#registered) return;
    for (const id of [this.ids.proxy, this.ids.service]) {
      try {
        await this.#o.client.deregisterService(id);
      } catch (err) {
        const e = err as ConsulApiError;
        if (e.status !== 404) this.#log.warn({ err: e.message, id }, 'consul deregistration failed');
      }
    }
    this.#registered = false;
    this.#log.info({ service: this.ids.service }, 'deregistered from consul');
  }

  status(): RegistrationStatus {
    return {
      registered: this.#registered, ids: this.ids, lastProbe: this.#lastProbe, lastError: this.#lastError,
      reRegistrations: this.#reRegistrations, lastUpdateAt: this.#lastUpdateAt,
    };
  }

  async #register(): Promise<void> {
    const { client, spec, check } = this.#o;
    const probe = this.#lastProbe ?? { status: 'critical' as const, output: 'not probed yet' };
    await client.registerService(appServiceBody(spec, check, probe), { replaceExistingChecks: true });
    await client.registerService(proxyServiceBody(spec, check), { replaceExistingChecks: true });
    this.#registered = true;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tickRunning = this.#tick().finally(() => { this.#tickRunning = undefined; this.#schedule(); });
    }, this.#o.check.interval);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    const r = await this.#o.probe();
    this.#lastProbe = r;
    if (this.#stopped) return;
    if (!this.#registered && !(await this.#reRegister())) return;
    try {
      await this.#push(r);
    } catch (err) {
      const e = err as ConsulApiError;
      if (e instanceof ConsulApiError && e.unknownRegistration) {
        this.#log.warn({ err: e.body }, 'consul forgot our registration (agent restarted?); registering again');
        this.#registered = false;
        this.#nextRegisterAt = 0;
        if (await this.#reRegister()) await this.#push(r).catch((e2: Error) => this.#fail(e2));
        return;
      }
      this.#fail(err as Error);
    }
  }

  async #push(r: ProbeResult): Promise<void> {
    await this.#o.client.updateCheck(this.ids.probeCheck, r.status, r.output);
    await this.#o.client.updateCheck(this.ids.agentCheck, this.#agentStatus.status, this.#agentStatus.output);
    this.#lastUpdateAt = Date.now();
    if (this.#lastError !== undefined) this.#log.info({ service: this.ids.service }, 'consul health updates are flowing again');
    this.#lastError = undefined;
  }

  /** One re-registration attempt, if the backoff allows it now. */
  async #reRegister(): Promise<boolean> {
    if (Date.now() < this.#nextRegisterAt) return false;
    try {
      await this.#register();
      this.#reRegistrations++;
      this.#retry.reset();
      this.#log.info({ service: this.ids.service, times: this.#reRegistrations }, 're-registered with consul');
      return true;
    } catch (err) {
      this.#nextRegisterAt = Date.now() + this.#retry.next();
      this.#fail(err as Error);
      return false;
    }
  }

  #fail(err: Error): void {
    const msg = err.message;
    if (msg !== this.#lastError) {
      const level = err instanceof ConsulApiError && err.status === 403 ? 'error' : 'warn';
      this.#log[level]({ err: msg }, 'consul health update failed');
    }
    this.#lastError = msg;
  }
}
