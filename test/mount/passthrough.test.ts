import { execFile } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FuseDevice } from '@kubelustre/client/fuse/device.ts';
import type { FuseOps, OpenResult } from '@kubelustre/client/fuse/fuse-ops.ts';
import type { EntryOut, FuseAttr } from '@kubelustre/client/fuse/kernel-abi.ts';
import { FuseSession } from '@kubelustre/client/fuse/session.ts';
import { mountAt } from '@kubelustre/client/mount/mountinfo.ts';
import { MNT_DETACH, mountSyscall, umount2Syscall } from '@kubelustre/client/mount/syscalls.ts';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canMount } from './mount-harness.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const FILE_BYTES = 8 * MiB;
const ROOT = 1;

interface TestFile {
  nodeid: number;
  name: string;
  content: Buffer;
  /** A local file with the same content, handed to the kernel as passthroughFd; none: served by READ. */
  backingPath?: string;
}

/**
 * A filesystem of a few read-only files, served from memory, that answers `open` with a passthroughFd
 * for the files that have a backing copy, and counts the READs reaching user space per file.
 */
class CountingOps {
  readonly reads = new Map<number, number>();
  readonly #files: Map<number, TestFile>;
  readonly #handles = new Map<number, { nodeid: number; fd: number | undefined }>();
  #nextFh = 1;

  constructor(files: TestFile[]) {
    this.#files = new Map(files.map((f) => [f.nodeid, f]));
  }

  init(): void {}
  forget(): void {}
  async destroy(): Promise<void> {}

  async lookup(_ctx: unknown, parent: number, name: string): Promise<EntryOut> {
    const f = [...this.#files.values()].find((x) => x.name === name);
    if (parent !== ROOT || !f) throw new KlError('ENOENT', `no ${name}`);
    return {
      nodeid: f.nodeid,
      generation: 1,
      entryValidMs: 60_000,
      attrValidMs: 60_000,
      attr: this.#attr(f.nodeid),
    };
  }

  async getattr(_ctx: unknown, nodeid: number) {
    return { attrValidMs: 60_000, attr: this.#attr(nodeid) };
  }

  async open(_ctx: unknown, nodeid: number, _flags: number): Promise<OpenResult> {
    const f = this.#file(nodeid);
    const fh = this.#nextFh++;
    const fd = f.backingPath ? openSync(f.backingPath, 'r') : undefined;
    this.#handles.set(fh, { nodeid, fd });
    return { fh, openFlags: 0, ...(fd !== undefined && { passthroughFd: fd }) };
  }

  async read(_ctx: unknown, fh: number, offset: number, size: number): Promise<Buffer> {
    const h = this.#handles.get(fh);
    if (!h) throw new KlError('EBADF', `no handle ${fh}`);
    this.reads.set(h.nodeid, (this.reads.get(h.nodeid) ?? 0) + 1);
    return this.#file(h.nodeid).content.subarray(offset, offset + size);
  }

  async flush(): Promise<void> {}

  async release(_ctx: unknown, fh: number): Promise<void> {
    const h = this.#handles.get(fh);
    this.#handles.delete(fh);
    if (h?.fd !== undefined) closeSync(h.fd);
  }

  async opendir(): Promise<{ fh: number; openFlags: number }> {
    return { fh: 0, openFlags: 0 };
  }

  async releasedir(): Promise<void> {}

  #file(nodeid: number): TestFile {
    const f = this.#files.get(nodeid);
    if (!f) throw new KlError('ENOENT', `no node ${nodeid}`);
    return f;
  }

  #attr(nodeid: number): FuseAttr {
    const t = { sec: 1_700_000_000, nsec: 0 };
    const isRoot = nodeid === ROOT;
    const size = isRoot ? 0 : this.#file(nodeid).content.length;
    return {
      ino: nodeid,
      size,
      blocks: Math.ceil(size / 512),
      atime: t,
      mtime: t,
      ctime: t,
      mode: isRoot ? 0o40755 : 0o100444,
      nlink: isRoot ? 2 : 1,
      uid: 0,
      gid: 0,
      rdev: 0,
      blksize: 4096,
    };
  }
}

/** Every FuseOps method the test filesystem lacks answers ENOSYS. */
function asFuseOps(ops: CountingOps): FuseOps {
  return new Proxy(ops, {
    get: (target, prop) => {
      const v = Reflect.get(target, prop);
      if (typeof v === 'function') return v.bind(target);
      return async () => {
        throw new KlError('ENOSYS', `${String(prop)} is not served by the test filesystem`);
      };
    },
  }) as unknown as FuseOps;
}

interface Served {
  ops: CountingOps;
  mountpoint: string;
  stop(): Promise<void>;
}

/** Mounts the test filesystem on `mountpoint`, served by this process (reads must come from children). */
async function serve(mountpoint: string, files: TestFile[], passthrough: boolean): Promise<Served> {
  mkdirSync(mountpoint, { recursive: true });
  const ops = new CountingOps(files);
  const device = FuseDevice.open();
  const data = `fd=${device.fd},rootmode=40000,user_id=0,group_id=0,allow_other,max_read=${MiB}`;
  mountSyscall('kltest', mountpoint, 'fuse.kltest', 0, data);
  const session = new FuseSession({
    device,
    ops: asFuseOps(ops),
    log: silentLogger,
    readers: 2,
    passthrough,
  });
  const running = session.run();
  await session.initialized;
  return {
    ops,
    mountpoint,
    stop: async () => {
      if (mountAt(mountpoint)) umount2Syscall(mountpoint, MNT_DETACH);
      await running;
    },
  };
}

/** The file's bytes as a child process reads them (this process serves the mount). */
async function readInChild(path: string, direct = false): Promise<Buffer> {
  const args = [`if=${path}`, 'bs=1M', 'status=none', ...(direct ? ['iflag=direct'] : [])];
  const { stdout } = await run('dd', args, { encoding: 'buffer', maxBuffer: 4 * FILE_BYTES });
  return stdout;
}

describe.skipIf(!canMount())('FUSE passthrough on a real /dev/fuse mount', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-passthrough-'));
  const content = Buffer.alloc(FILE_BYTES);
  for (let i = 0; i < FILE_BYTES; i += 4) content.writeUInt32LE((i * 2654435761) >>> 0, i);
  const backingPath = join(dir, 'copy');
  const files: TestFile[] = [
    { nodeid: 2, name: 'cached', content, backingPath },
    { nodeid: 3, name: 'plain', content: content.subarray(0, 3 * MiB + 5) },
  ];
  /** Each test stops its mount: two served at once would hold all 4 libuv threads with device reads. */
  let current: Served | undefined;

  beforeAll(() => writeFileSync(backingPath, content));
  afterAll(async () => {
    await current?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a file with a passthroughFd from the backing file: no READ reaches user space', async () => {
    const m = await serve(join(dir, 'mnt-pt'), files, true);
    current = m;
    expect((await readInChild(join(m.mountpoint, 'cached'))).equals(content)).toBe(true);
    expect((await readInChild(join(m.mountpoint, 'cached'), true)).equals(content)).toBe(true);
    expect(m.ops.reads.get(2) ?? 0).toBe(0);
    // The control: a file without a copy is read through READ requests.
    expect((await readInChild(join(m.mountpoint, 'plain'))).equals(files[1]!.content)).toBe(true);
    expect(m.ops.reads.get(3) ?? 0).toBeGreaterThan(0);
    // Two opens at once (the second reuses the inode's backing file) and a writer-less reopen later.
    const both = await Promise.all([1, 2].map(() => readInChild(join(m.mountpoint, 'cached'), true)));
    expect(both.every((b) => b.equals(content))).toBe(true);
    expect(m.ops.reads.get(2) ?? 0).toBe(0);
    await m.stop();
    current = undefined;
  }, 60_000);

  it('keeps the kernel io modes consistent when passthrough and other opens of one file mix', async () => {
    const m = await serve(join(dir, 'mnt-mix'), files, true);
    current = m;
    const f = join(m.mountpoint, 'cached');
    // A reader holds a passthrough open; an O_RDWR open of the same file must not fail (EIO), and its
    // reads come to us (FOPEN_PASSTHROUGH | FOPEN_DIRECT_IO).
    const script =
      'exec 3< "$1"; exec 4<> "$1"; head -c 1048576 <&4 | cmp - <(head -c 1048576 <&3) && echo same';
    const mixed = await run('bash', ['-c', script, 'mix', f]);
    expect(mixed.stdout.trim()).toBe('same');
    expect(m.ops.reads.get(2) ?? 0).toBeGreaterThan(0);
    // The other way round: a read-write open first, then a read-only one gets no passthrough.
    const before = m.ops.reads.get(2) ?? 0;
    const script2 = 'exec 4<> "$1"; dd if="$1" bs=1M iflag=direct status=none | cmp - "$2" && echo same';
    const reverse = await run('bash', ['-c', script2, 'rev', f, backingPath]);
    expect(reverse.stdout.trim()).toBe('same');
    expect(m.ops.reads.get(2) ?? 0).toBeGreaterThan(before);
    await m.stop();
    current = undefined;
  }, 60_000);

  it('serves the same reads through user space when passthrough is not negotiated', async () => {
    const m = await serve(join(dir, 'mnt-nopt'), files, false);
    current = m;
    expect((await readInChild(join(m.mountpoint, 'cached'), true)).equals(content)).toBe(true);
    expect(m.ops.reads.get(2) ?? 0).toBeGreaterThan(0);
    await m.stop();
    current = undefined;
  }, 60_000);
});
