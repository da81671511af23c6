/**
 * Buffers a request body for replay on retry, up to a bound (Linkerd's
 * `ReplayBody`, default 64 KiB).
 *
 * The body still streams to the first attempt as it arrives: the data path
 * calls `push(chunk)` for every chunk it forwards. While the total stays
 * within `maxBytes` the chunks are kept (by reference, or copied when the
 * data path reuses its read buffer), so a retry can write them again. The
 * moment the body grows past the bound, the kept chunks are dropped and the
 * body is marked not replayable for good: the request then streams through
 * but is never retried once any of it was sent.
 */
export class ReplayBody {
  readonly maxBytes: number;
  readonly #copy: boolean;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #replayable = true;
  #ended = false;

  /** `copy`: copy each chunk (needed when the caller reuses its buffers, e.g. net `onread`). */
  constructor(maxBytes = 64 * 1024, copy = false) {
    if (!(Number.isInteger(maxBytes) && maxBytes >= 0)) throw new RangeError('max replay body must be an integer >= 0');
    this.maxBytes = maxBytes;
    this.#copy = copy;
  }

  /** Record a chunk that is being forwarded. */
  push(chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (!this.#replayable) return;
    if (this.#bytes > this.maxBytes) {
      this.#replayable = false;
      this.#chunks = [];
      return;
    }
    if (chunk.length > 0) this.#chunks.push(this.#copy ? Buffer.from(chunk) : chunk);
  }

  /** The body is complete (all of it was pushed). */
  end(): void {
    this.#ended = true;
  }

  /** Bytes seen so far (including those no longer kept). */
  get bytes(): number {
    return this.#bytes;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** True while every byte seen is still held. */
  get replayable(): boolean {
    return this.#replayable;
  }

  /**
   * The chunks to write again for a retry. Only meaningful while
   * `replayable`; when the body has not ended yet, the rest keeps arriving
   * through `push` and must be forwarded to the new attempt as well.
   */
  chunks(): readonly Buffer[] {
    if (!this.#replayable) throw new Error('request body exceeded the replay buffer; it cannot be replayed');
    return this.#chunks;
  }

  /** Drop everything (the exchange is over). */
  clear(): void {
    this.#chunks = [];
  }
}
