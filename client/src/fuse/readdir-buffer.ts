import type { DirentSink } from './fuse-ops.ts';
import {
  type Dirent,
  direntplusSize,
  direntSize,
  type EntryOut,
  encodeDirent,
  encodeDirentplus,
} from './kernel-abi.ts';

/**
 * The reply of one READDIR or READDIRPLUS: as many whole entries as fit in the size the kernel asked
 * for. An entry that does not fit is refused (add answers false) and is read again from its offset by
 * the kernel's next request.
 */
export class ReaddirBuffer implements DirentSink {
  readonly plus: boolean;
  readonly #buf: Buffer;
  #used = 0;
  #full = false;

  constructor(sizeBytes: number, plus: boolean) {
    this.plus = plus;
    this.#buf = Buffer.allocUnsafe(sizeBytes);
  }

  get bytesFree(): number {
    return this.#buf.length - this.#used;
  }

  add(d: Omit<Dirent, 'name'> & { name: string }, entry?: EntryOut): boolean {
    if (this.#full) return false;
    const dirent = { ...d, name: Buffer.from(d.name) };
    const size = this.plus ? direntplusSize(dirent.name.length) : direntSize(dirent.name.length);
    if (size > this.bytesFree) {
      // Later, shorter names must not jump ahead: the kernel resumes from the last offset it got.
      this.#full = true;
      return false;
    }
    this.#used += this.plus
      ? encodeDirentplus(this.#buf, this.#used, dirent, entry)
      : encodeDirent(this.#buf, this.#used, dirent);
    return true;
  }

  bytes(): Buffer {
    return this.#buf.subarray(0, this.#used);
  }
}
