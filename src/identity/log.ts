/**
 * The logger the identity module writes to: the pino method shape, so the
 * agent passes its own child logger. Standalone use (CLI, tests without a
 * logger) gets a pino logger named `identity`.
 */
import pino from 'pino';

export interface IdentityLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

let fallback: IdentityLog | undefined;

export function defaultIdentityLog(): IdentityLog {
  fallback ??= pino({ name: 'identity' });
  return fallback;
}
