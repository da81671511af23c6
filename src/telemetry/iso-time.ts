/**
 * pino's `isoTime` timestamp (`,"time":"2024-05-01T12:00:00.123Z"`) with the
 * text up to the second kept from the previous call: Date#toISOString costs
 * about a microsecond, and consecutive log lines mostly fall in one second.
 */
let second = NaN;
let head = '';

/** The timestamp for `now` (ms since the epoch), as pino.stdTimeFunctions.isoTime writes it. */
export function isoTimeAt(now: number): string {
  const sec = Math.floor(now / 1000);
  if (sec !== second) {
    second = sec;
    head = ',"time":"' + new Date(sec * 1000).toISOString().slice(0, -4); // up to and with the '.'
  }
  const ms = now - sec * 1000;
  return head + (ms < 10 ? '00' : ms < 100 ? '0' : '') + ms + 'Z"';
}

export function isoTime(): string {
  return isoTimeAt(Date.now());
}
