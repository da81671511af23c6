/**
 * Fault injection for the Consul-API test server. `down` is handled by the
 * server itself (it stops listening and drops connections, so clients get
 * ECONNREFUSED); the faults here act on requests that do arrive:
 * - slow: delay every matching request by `ms` before handling it;
 * - error500: answer 500 with a plain-text Consul error (`No cluster leader`);
 * - malformed: answer 200 JSON with a valid X-Consul-Index but a body that is
 *   truncated JSON, not JSON at all, or JSON of the wrong shape.
 * Each fault may be limited to paths (prefix string or RegExp) and to a number of requests.
 */

export interface FaultScope {
  /** Path prefix or RegExp on the decoded path (default: every /v1/ path). */
  path?: string | RegExp;
  /** Affect only this many requests, then clear (default: until cleared). */
  count?: number;
}

export type MalformedKind = 'truncated' | 'not-json' | 'wrong-shape';

interface Active<T> { scope: FaultScope; remaining: number; value: T }

export class Faults {
  #slow: Active<number> | undefined;
  #error: Active<string> | undefined;
  #malformed: Active<MalformedKind> | undefined;

  slow(ms: number, scope: FaultScope = {}): void { this.#slow = active(scope, ms); }
  error500(message = 'No cluster leader', scope: FaultScope = {}): void { this.#error = active(scope, message); }
  malformed(kind: MalformedKind = 'truncated', scope: FaultScope = {}): void { this.#malformed = active(scope, kind); }

  clear(): void {
    this.#slow = undefined;
    this.#error = undefined;
    this.#malformed = undefined;
  }

  /** Delay for this request (0 = none). */
  delayFor(path: string): number {
    const v = take(this.#slow, path);
    if (this.#slow && this.#slow.remaining === 0) this.#slow = undefined;
    return v ?? 0;
  }

  errorFor(path: string): string | undefined {
    const v = take(this.#error, path);
    if (this.#error && this.#error.remaining === 0) this.#error = undefined;
    return v;
  }

  malformedFor(path: string): MalformedKind | undefined {
    const v = take(this.#malformed, path);
    if (this.#malformed && this.#malformed.remaining === 0) this.#malformed = undefined;
    return v;
  }
}

function active<T>(scope: FaultScope, value: T): Active<T> {
  return { scope, remaining: scope.count ?? Infinity, value };
}

function take<T>(a: Active<T> | undefined, path: string): T | undefined {
  if (!a || a.remaining <= 0) return undefined;
  const p = a.scope.path ?? '/v1/';
  const hit = typeof p === 'string' ? path.startsWith(p) : p.test(path);
  if (!hit) return undefined;
  a.remaining -= 1;
  return a.value;
}

export function malformedBody(kind: MalformedKind): string {
  switch (kind) {
    case 'truncated': return '[{"Node":{"ID":"40e4a748-2192-161a-0510-9bf59fe950b5","Node":"foo';
    case 'not-json': return '<html><body>502 Bad Gateway</body></html>';
    case 'wrong-shape': return '{"Error":"unexpected"}';
  }
}
