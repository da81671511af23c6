/**
 * Logging: pino JSON lines. One root logger per process; components take
 * children with bound fields (`component`, `listener`, ...). The level can be
 * changed at runtime (admin POST /logging?level=).
 */
import pino from 'pino';

export type Logger = pino.Logger;

export interface LogOptions {
  readonly level: string;
  /** Write to this fd (1 = stdout, 2 = stderr). */
  readonly fd?: number;
}

export function createLogger(opts: LogOptions, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level: opts.level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, pino.destination({ fd: opts.fd ?? 1, sync: false }));
}

/** A logger that drops everything (library use and tests that do not read logs). */
export const silentLogger: Logger = pino({ level: 'silent' });
