/**
 * Logging: pino JSON lines. One root logger per process; components take
 * children with bound fields (`component`, `listener`, ...).
 *
 * The level can be changed at runtime (admin POST /logging?level=). A pino
 * child is created with `Object.create(parent)` and, unless it was given a
 * level of its own, reads its level and log methods through the prototype
 * chain: setting the parent's level therefore changes every such child,
 * including those created long before. Children with an own level (the
 * access log, pinned at info) keep theirs.
 */
import pino from 'pino';

export type Logger = pino.Logger;

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

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

export function isLogLevel(v: string): v is LogLevel {
  return (logLevels as readonly string[]).includes(v);
}

/** Change a logger's level (and so its children's); returns the previous level. */
export function setLogLevel(log: Logger, level: LogLevel): string {
  const previous = log.level;
  log.level = level;
  return previous;
}

/** A logger that drops everything (library use and tests that do not read logs). */
export const silentLogger: Logger = pino({ level: 'silent' });
