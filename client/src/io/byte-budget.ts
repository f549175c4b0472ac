/**
 * A bound on bytes held in memory (dirty write-back data, prefetched data). `acquire` waits for room;
 * before waiting it tells the pressure listeners, which free room (write-back starts flushing), so a
 * waiter always makes progress. A request larger than the whole budget is let through alone.
 */
export class ByteBudget {
  readonly bytesMax: number;
  #usedBytes = 0;
  readonly #waiting: Array<{ bytes: number; resolve: () => void }> = [];
  readonly #pressureListeners = new Set<() => void>();

  constructor(bytesMax: number) {
    this.bytesMax = bytesMax;
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  tryAcquire(bytes: number): boolean {
    if (this.#waiting.length > 0 || !this.#fits(bytes)) return false;
    this.#usedBytes += bytes;
    return true;
  }

  async acquire(bytes: number): Promise<void> {
    if (this.tryAcquire(bytes)) return;
    const granted = new Promise<void>((resolve) => this.#waiting.push({ bytes, resolve }));
    for (const l of this.#pressureListeners) l();
    await granted;
  }

  release(bytes: number): void {
    this.#usedBytes -= bytes;
    if (this.#usedBytes < 0) throw new Error(`byte budget released ${-this.#usedBytes} bytes more than held`);
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
      const w = this.#waiting.shift()!;
      this.#usedBytes += w.bytes;
      w.resolve();
    }
  }

  /** Called whenever a request has to wait; returns the function that stops the calls. */
  onPressure(listener: () => void): () => void {
    this.#pressureListeners.add(listener);
    return () => this.#pressureListeners.delete(listener);
  }

  #fits(bytes: number): boolean {
    return this.#usedBytes + bytes <= this.bytesMax || this.#usedBytes === 0;
  }
}
