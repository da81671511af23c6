/**
 * A one-slot channel for discovery watches: the producer `put`s complete
 * endpoint sets, the consumer iterates; if it falls behind, only the newest
 * set is kept (sets are complete, so skipping is lossless).
 */
export class LatestChannel<T> implements AsyncIterable<T> {
  #value: T | undefined;
  #has = false;
  #closed = false;
  #wake: (() => void) | undefined;

  put(v: T): void {
    if (this.#closed) return;
    this.#value = v;
    this.#has = true;
    this.#wake?.();
  }

  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.#has) {
        const v = this.#value as T;
        this.#has = false;
        this.#value = undefined;
        yield v;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((r) => { this.#wake = r; });
      this.#wake = undefined;
    }
  }
}
