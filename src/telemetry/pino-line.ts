/**
 * A log line whose fields are pre-built JSON, written through a pino logger:
 * for hot paths (the access log) where pino's per-call formatting of a fields
 * object costs more than building the line by hand.
 *
 * The line is the one pino's asJson builds: the level (the logger's level
 * formatter, cached by pino), the time (its timestamp function; pino's
 * isoTime is replaced by the same text from iso-time.ts, cached per second),
 * its bindings (`pid`, `hostname`, `component`, ...), then the fields, the
 * message and the line ending, written to the logger's own destination. pino
 * exports the symbols it keeps these under (`pino.symbols`, in its typings).
 *
 * Options that would change a line beyond that shape (a mixin, a log
 * formatter, serializers or redaction of the given keys, an error key or
 * nestedKey, msgPrefix, another message key, hooks, a stream that wants
 * per-line metadata such as pino.multistream) make the writer hand the fields
 * to pino as an object instead, so the line is still the one pino would write.
 */
import pino from 'pino';
import { isoTime } from './iso-time.ts';
import { jsonString } from './json-string.ts';
import type { Logger } from './log.ts';

const s = pino.symbols;
const msgPrefixSym = (s as unknown as { msgPrefixSym: symbol }).msgPrefixSym;

export interface PinoLine {
  /** Whether the logger writes at this line's level now (it may change at runtime). */
  enabled(): boolean;
  /** Write one line; `fields` is `,"key":value,...` (or ''), the keys among those given to pinoLine. */
  write(fields: string): void;
}

export function pinoLine(log: Logger, level: pino.Level, msg: string, keys: readonly string[]): PinoLine {
  const enabled = (): boolean => log.isLevelEnabled(level);
  if (!plain(log, [...keys, 'msg'])) {
    return { enabled, write: (fields) => { log[level](JSON.parse('{' + fields.slice(1) + '}') as object, msg); } };
  }
  const num = log.levels.values[level]!;
  const msgStr = ',"msg":' + jsonString(msg);
  const l = log as unknown as Record<symbol, unknown>;
  const time = (): string => (l[s.timeSym] === pino.stdTimeFunctions.isoTime ? isoTime() : (l[s.timeSym] as () => string)());
  return {
    enabled,
    write(fields) {
      const line = (l[s.lsCacheSym] as Record<number, string>)[num]! + time()
        + (l[s.chindingsSym] as string) + fields + msgStr + (l[s.endSym] as string);
      (l[s.streamSym] as pino.DestinationStream).write(line);
    },
  };
}

/** True when pino would write `keys` of a fields object as they are, with nothing added. */
function plain(log: Logger, keys: readonly string[]): boolean {
  const l = log as unknown as Record<symbol, unknown>;
  const serializers = l[s.serializersSym] as Record<string, unknown>;
  const stringifiers = l[s.stringifiersSym] as Record<string | symbol, unknown>;
  const formatters = l[s.formattersSym] as { log?: unknown };
  const hooks = l[s.hooksSym] as { logMethod?: unknown; streamWrite?: unknown };
  const stream = l[s.streamSym] as Record<symbol, unknown>;
  return !l[s.mixinSym] && !formatters.log && !l[s.nestedKeySym] && l[msgPrefixSym] === undefined
    && l[s.messageKeySym] === 'msg' && !hooks.logMethod && !hooks.streamWrite && stream[s.needsMetadataGsym] !== true
    && !stringifiers[s.wildcardFirstSym] && !keys.includes(l[s.errorKeySym] as string)
    && keys.every((k) => !serializers[k] && !stringifiers[k]);
}
