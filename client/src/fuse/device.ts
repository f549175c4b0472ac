import { closeSync, constants, openSync, read, writev } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { promisify } from 'node:util';
import { KlError, toKlError } from '@kubelustre/protocol/errors.ts';
import koffi from 'koffi';
import { ioctlU32 } from '../mount/syscalls.ts';
import {
  encodeBackingMap,
  FUSE_DEV_IOC_BACKING_CLOSE,
  FUSE_DEV_IOC_BACKING_OPEN,
  FUSE_DEV_IOC_CLONE,
} from './kernel-abi.ts';
import type { BackingFiles, BackingOpened } from './passthrough.ts';

const readAsync = promisify(read);
const writevAsync = promisify(writev);
const DEVICE_PATH = '/dev/fuse';

const ioctlNative = koffi.load('libc.so.6').func('int ioctl(int fd, unsigned long request, ...)') as (
  fd: number,
  request: number,
  ...typedArgs: unknown[]
) => number;

/** errno names by number, for the ones our error codes do not name (ELOOP, ENOTTY, ...). */
const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** What a session needs of a /dev/fuse fd: FuseDevice, or a fake in tests. */
export interface RequestChannel {
  read(buf: Buffer): Promise<number | undefined>;
  write(parts: Buffer[]): Promise<boolean>;
  clone(): RequestChannel;
  close(): void;
  /** The connection's backing files for passthrough (on the fd the mount was made with); none in fakes. */
  readonly backing?: BackingFiles;
}

/**
 * One open /dev/fuse file: the channel of a FUSE connection. A request read from one fd must be
 * answered on that same fd (each clone has its own processing queue in the kernel).
 *
 * Reads block a libuv threadpool thread until the kernel has a request, so a process serving R reader
 * fds needs UV_THREADPOOL_SIZE well above R: replies and every other async fs call share that pool
 * (see mount/threadpool.ts).
 */
export class FuseDevice implements RequestChannel {
  readonly fd: number;
  #closed = false;

  private constructor(fd: number) {
    this.fd = fd;
  }

  static open(): FuseDevice {
    // Node opens with O_CLOEXEC: child processes must not hold the connection open.
    return new FuseDevice(openSync(DEVICE_PATH, constants.O_RDWR));
  }

  /** A new fd on the same connection (FUSE_DEV_IOC_CLONE), to read requests in parallel. */
  clone(): FuseDevice {
    const dev = FuseDevice.open();
    try {
      ioctlU32(dev.fd, FUSE_DEV_IOC_CLONE, this.fd, `FUSE_DEV_IOC_CLONE of fd ${this.fd}`);
    } catch (e) {
      dev.close();
      throw e;
    }
    return dev;
  }

  /**
   * Reads one whole request into `buf`; answers its length, or undefined once the connection is gone
   * (ENODEV: unmounted or aborted). ENOENT (the request was interrupted before we took it), EINTR and
   * EAGAIN only mean "read again".
   */
  async read(buf: Buffer): Promise<number | undefined> {
    for (;;) {
      try {
        const { bytesRead } = await readAsync(this.fd, buf, 0, buf.length, null);
        return bytesRead;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN') continue;
        if (code === 'ENODEV' || code === 'ECONNABORTED' || this.#closed) return undefined;
        throw toKlError(e, `read from ${DEVICE_PATH} fd ${this.fd}`);
      }
    }
  }

  /**
   * Writes one reply or notification (header and payload in one writev, which the kernel requires).
   * Answers false when the kernel no longer wants it: ENOENT (the request was interrupted and dropped,
   * or a notified inode is not cached) or ENODEV (the connection is gone).
   */
  async write(parts: Buffer[]): Promise<boolean> {
    try {
      await writevAsync(this.fd, parts);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENODEV') return false;
      throw toKlError(e, `write to ${DEVICE_PATH} fd ${this.fd}`);
    }
  }

  /**
   * FUSE_DEV_IOC_BACKING_OPEN/CLOSE on this fd. Synchronous: the ioctl only takes a reference to the
   * file and never waits for user space.
   */
  get backing(): BackingFiles {
    return {
      open: (fd) => this.#openBacking(fd),
      close: (backingId) =>
        ioctlU32(this.fd, FUSE_DEV_IOC_BACKING_CLOSE, backingId, `FUSE_DEV_IOC_BACKING_CLOSE ${backingId}`),
    };
  }

  #openBacking(fd: number): BackingOpened {
    const id = ioctlNative(this.fd, FUSE_DEV_IOC_BACKING_OPEN, 'uint8_t *', encodeBackingMap(fd));
    if (id > 0) return { backingId: id };
    const errno = koffi.errno();
    return { error: errnoNames.get(errno) ?? `errno ${errno}` };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      closeSync(this.fd);
    } catch (e) {
      throw new KlError('EIO', `close of ${DEVICE_PATH} fd ${this.fd} failed`, { cause: e });
    }
  }
}
