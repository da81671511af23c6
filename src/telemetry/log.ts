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

const accessLoggers = new WeakMap<Logger, () => Logger>();
const flushers = new WeakMap<Logger, () => void>();
const closers = new WeakMap<Logger, () => void>();

function rootLogger(level: string, bindings: Record<string, unknown>, dest: pino.DestinationStream): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, dest);
}

export function createLogger(opts: LogOptions, bindings: Record<string, unknown> = {}): Logger {
  const dest = pino.destination({ fd: opts.fd ?? 1, sync: false });
  const log = rootLogger(opts.level, bindings, dest);
  accessLoggers.set(log, () => batchedSibling(bindings, dest));
  return log;
}

/**
 * A logger for access lines that collects them in memory and hands them to the root
 * logger's destination in batches: at 8 KB, every second, and on flushLogger (the agent's
 * drain). One destination keeps lines whole (no second writer on the fd to interleave
 * with); batching keeps the cost per request low. Measured: one asynchronous write per
 * line cost ~60 µs per request per agent, most of it in libuv's thread pool (README,
 * Performance).
 */
function batchedSibling(bindings: Record<string, unknown>, dest: pino.DestinationStream): Logger {
  let buf = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (buf.length === 0) return;
    const b = buf;
    buf = '';
    dest.write(b);
  };
  timer = setInterval(flush, 1000);
  timer.unref();
  const write = (line: string): void => {
    if (timer === undefined) { dest.write(line); return; } // closed: nothing to batch for
    buf += line;
    if (buf.length >= 8192) flush();
  };
  const log = rootLogger('info', { ...bindings, component: 'access' }, { write });
  flushers.set(log, flush);
  closers.set(log, () => { flush(); clearInterval(timer); timer = undefined; });
  return log;
}

/**
 * The logger for access lines: for a root logger from createLogger, the batched sibling
 * above; for any other logger (tests, library use), a child of it.
 */
export function accessLogger(log: Logger): Logger {
  return accessLoggers.get(log)?.() ?? log.child({ component: 'access' });
}

/** Hand a batched logger's pending lines to its destination now (no-op for others). */
export function flushLogger(log: Logger): void {
  flushers.get(log)?.();
}

/** The batched logger's owner is done with it (the agent stops): flush, stop the periodic flush, write any later line at once. */
export function closeLogger(log: Logger): void {
  closers.get(log)?.();
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
