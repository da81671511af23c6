/**
 * Progress for a long run: the whole plan is known up front (every phase and
 * its planned seconds), so each line shows the percent done and an ETA that is
 * the planned time left, scaled by how far reality has run over plan so far.
 * Plain lines, not a redrawn bar, so CI logs and pipes read the same as a TTY.
 */

function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export class Progress {
  readonly #plannedTotal: number;
  readonly #write: (line: string) => void;
  readonly #t0 = performance.now();
  #plannedDone = 0;

  constructor(plannedTotalSec: number, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
    this.#plannedTotal = Math.max(plannedTotalSec, 1e-9);
    this.#write = write;
  }

  get plannedTotalSec(): number {
    return this.#plannedTotal;
  }

  /** Announce a phase that is planned to take `plannedSec`; call the returned function when it ends. */
  phase(label: string, plannedSec: number): () => void {
    this.#write(`${this.#prefix()} ${label}`);
    return () => {
      this.#plannedDone += plannedSec;
    };
  }

  /** A phase that will not run (target unavailable): its planned time leaves the ETA. */
  skip(plannedSec: number): void {
    this.#plannedDone += plannedSec;
  }

  /** A detail line under the current phase (results, warnings). */
  note(text: string): void {
    this.#write(`${' '.repeat(19)}${text}`);
  }

  #prefix(): string {
    const elapsed = (performance.now() - this.#t0) / 1000;
    const pct = Math.min(100, (this.#plannedDone / this.#plannedTotal) * 100);
    const pace = this.#plannedDone > 0 ? elapsed / this.#plannedDone : 1;
    const eta = (this.#plannedTotal - this.#plannedDone) * pace;
    return `[${pct.toFixed(0).padStart(3)}% ETA ${fmtDuration(eta).padStart(6)}]`;
  }

  elapsedSec(): number {
    return (performance.now() - this.#t0) / 1000;
  }
}

export { fmtDuration };
