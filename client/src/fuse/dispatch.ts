import { KlError } from '@kubelustre/protocol/errors.ts';
import type { FuseOps, OpenResult, RequestContext } from './fuse-ops.ts';
import {
  ENTRY_OUT_BYTES,
  type EntryOut,
  encodeAttrOut,
  encodeEntryOut,
  encodeGetxattrOut,
  encodeLseekOut,
  encodeOpenOut,
  encodeStatfsOut,
  encodeWriteOut,
  OPEN_OUT_BYTES,
  Opcode,
  type OpenOut,
} from './kernel-abi.ts';
import { type PassthroughTable, withoutPassthrough } from './passthrough.ts';
import { ReaddirBuffer } from './readdir-buffer.ts';
import * as dec from './request-decoders.ts';

/** A reply's payload (after the out header), as parts written with one writev. */
export type Payload = Buffer[];

/** What handlers need beyond the body: state negotiated at INIT. */
export interface DecodeContext {
  setxattrExt: boolean;
  /** Set when FUSE_PASSTHROUGH was negotiated: decides FOPEN_PASSTHROUGH per open. */
  passthrough?: PassthroughTable;
}

/**
 * One opcode: `decode` reads everything it needs from the request body synchronously (so the read
 * buffer can be reused at once), `run` calls the filesystem and encodes the reply payload.
 */
interface OpHandler<A> {
  decode(body: Buffer, nodeid: number, dc: DecodeContext): A;
  run(ops: FuseOps, ctx: RequestContext, args: A, dc: DecodeContext): Promise<Payload>;
  /** An INTERRUPT may answer it EINTR early: it changes nothing, so abandoning it is harmless. */
  interruptible?: boolean;
  /** `args` holds views into the request buffer (WRITE's data) until `run` settles. */
  retainsBody?: boolean;
}

const none: Payload = [];

/** Operations whose reply has no payload. */
async function done(call: Promise<void>): Promise<Payload> {
  await call;
  return none;
}

function entryPayload(e: EntryOut): Payload {
  const b = Buffer.alloc(ENTRY_OUT_BYTES);
  encodeEntryOut(b, 0, e);
  return [b];
}

/** An OPEN/CREATE answer: passed through to the backing file if the session can and the open allows. */
function openedPayload(dc: DecodeContext, nodeid: number, flags: number, o: OpenResult): Payload {
  return openPayload(dc.passthrough ? dc.passthrough.onOpen(nodeid, flags, o) : withoutPassthrough(o));
}

function openPayload(o: OpenOut): Payload {
  const b = Buffer.alloc(OPEN_OUT_BYTES);
  encodeOpenOut(b, 0, o);
  return [b];
}

/** getxattr/listxattr: size 0 asks for the length only; a buffer too small is ERANGE. */
function sizedPayload(value: Buffer, size: number, what: string): Payload {
  if (size === 0) return [encodeGetxattrOut(value.length)];
  if (value.length > size) throw new KlError('ERANGE', `${what} of ${value.length} bytes exceeds ${size}`);
  return [value];
}

const handler = <A>(h: OpHandler<A>): OpHandler<unknown> => h as OpHandler<unknown>;
const name = (body: Buffer) => dec.entryName(body, 0).name;

function readdirHandler(plus: boolean): OpHandler<unknown> {
  return handler({
    decode: (b, nodeid) => ({ nodeid, ...dec.decodeReadIn(b) }),
    run: async (ops, ctx, a) => {
      const out = new ReaddirBuffer(a.size, plus);
      await ops.readdir(ctx, a.nodeid, a.offset, out);
      return [out.bytes()];
    },
    interruptible: !plus,
  });
}

/** Every opcode we serve; the session answers the others ENOSYS. */
export const handlers: ReadonlyMap<number, OpHandler<unknown>> = new Map([
  [
    Opcode.LOOKUP,
    handler({
      decode: (b, nodeid) => ({ nodeid, name: name(b) }),
      run: async (ops, ctx, a) => entryPayload(await ops.lookup(ctx, a.nodeid, a.name)),
    }),
  ],
  [
    Opcode.GETATTR,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeGetattrIn(b) }),
      run: async (ops, ctx, a) => [encodeAttrOut(await ops.getattr(ctx, a.nodeid, a.fh))],
      interruptible: true,
    }),
  ],
  [
    Opcode.SETATTR,
    handler({
      decode: (b, nodeid) => ({ nodeid, change: dec.decodeSetattrIn(b) }),
      run: async (ops, ctx, a) => [encodeAttrOut(await ops.setattr(ctx, a.nodeid, a.change))],
    }),
  ],
  [
    Opcode.READLINK,
    handler({
      decode: (_b, nodeid) => nodeid,
      run: async (ops, ctx, nodeid) => [Buffer.from(await ops.readlink(ctx, nodeid))],
      interruptible: true,
    }),
  ],
  [
    Opcode.SYMLINK,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeSymlinkIn(b) }),
      run: async (ops, ctx, a) => entryPayload(await ops.symlink(ctx, a.nodeid, a.name, a.target)),
    }),
  ],
  [
    Opcode.MKNOD,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeMknodIn(b) }),
      run: async (ops, ctx, a) => entryPayload(await ops.mknod(ctx, a.nodeid, a.name, a.mode, a.rdev)),
    }),
  ],
  [
    Opcode.MKDIR,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeMkdirIn(b) }),
      run: async (ops, ctx, a) => entryPayload(await ops.mkdir(ctx, a.nodeid, a.name, a.mode)),
    }),
  ],
  [
    Opcode.UNLINK,
    handler({
      decode: (b, nodeid) => ({ nodeid, name: name(b) }),
      run: (ops, ctx, a) => done(ops.unlink(ctx, a.nodeid, a.name)),
    }),
  ],
  [
    Opcode.RMDIR,
    handler({
      decode: (b, nodeid) => ({ nodeid, name: name(b) }),
      run: (ops, ctx, a) => done(ops.rmdir(ctx, a.nodeid, a.name)),
    }),
  ],
  ...[Opcode.RENAME, Opcode.RENAME2].map(
    (opcode) =>
      [
        opcode,
        handler({
          decode: (b, nodeid) => ({ nodeid, ...dec.decodeRenameIn(b, opcode === Opcode.RENAME2) }),
          run: async (ops, ctx, a) => {
            await ops.rename(ctx, a.nodeid, a.name, a.newParent, a.newName, a.flags);
            return none;
          },
        }),
      ] as const,
  ),
  [
    Opcode.LINK,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeLinkIn(b) }),
      run: async (ops, ctx, a) => entryPayload(await ops.link(ctx, a.oldNodeid, a.nodeid, a.name)),
    }),
  ],
  [
    Opcode.OPEN,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeOpenIn(b) }),
      run: async (ops, ctx, a, dc) =>
        openedPayload(dc, a.nodeid, a.flags, await ops.open(ctx, a.nodeid, a.flags)),
    }),
  ],
  [
    Opcode.CREATE,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeCreateIn(b) }),
      run: async (ops, ctx, a, dc) => {
        const { entry, open } = await ops.create(ctx, a.nodeid, a.name, a.mode, a.flags);
        return [...entryPayload(entry), ...openedPayload(dc, entry.nodeid, a.flags, open)];
      },
    }),
  ],
  [
    Opcode.READ,
    handler({
      decode: (b) => dec.decodeReadIn(b),
      run: async (ops, ctx, a) => [await ops.read(ctx, a.fh, a.offset, a.size)],
      interruptible: true,
    }),
  ],
  [
    Opcode.WRITE,
    handler({
      decode: (b) => dec.decodeWriteIn(b),
      run: async (ops, ctx, a) => [encodeWriteOut(await ops.write(ctx, a.fh, a.offset, a.data))],
      retainsBody: true,
    }),
  ],
  [
    Opcode.FLUSH,
    handler({
      decode: (b) => dec.decodeFhIn(b),
      run: (ops, ctx, a) => done(ops.flush(ctx, a.fh)),
    }),
  ],
  [
    Opcode.RELEASE,
    handler({
      decode: (b) => dec.decodeFhIn(b),
      run: (ops, ctx, a, dc) => {
        dc.passthrough?.onRelease(a.fh);
        return done(ops.release(ctx, a.fh));
      },
    }),
  ],
  [
    Opcode.FSYNC,
    handler({
      decode: (b) => dec.decodeFsyncIn(b),
      run: (ops, ctx, a) => done(ops.fsync(ctx, a.fh, a.datasync)),
    }),
  ],
  [
    Opcode.COPY_FILE_RANGE,
    handler({
      decode: (b) => dec.decodeCopyFileRangeIn(b),
      run: async (ops, ctx, a) => [encodeWriteOut(await ops.copyFileRange(ctx, a))],
    }),
  ],
  [
    Opcode.LSEEK,
    handler({
      decode: (b) => dec.decodeLseekIn(b),
      run: async (ops, ctx, a) => [encodeLseekOut(await ops.lseek(ctx, a.fh, a.offset, a.whence))],
      interruptible: true,
    }),
  ],
  [
    Opcode.FALLOCATE,
    handler({
      decode: (b) => dec.decodeFallocateIn(b),
      run: (ops, ctx, a) => done(ops.fallocate(ctx, a)),
    }),
  ],
  [
    Opcode.OPENDIR,
    handler({
      decode: (_b, nodeid) => nodeid,
      run: async (ops, ctx, nodeid) => openPayload(await ops.opendir(ctx, nodeid)),
    }),
  ],
  [Opcode.READDIR, readdirHandler(false)],
  [Opcode.READDIRPLUS, readdirHandler(true)],
  [
    Opcode.RELEASEDIR,
    handler({
      decode: (b) => dec.decodeFhIn(b),
      run: (ops, ctx, a) => done(ops.releasedir(ctx, a.fh)),
    }),
  ],
  [
    Opcode.FSYNCDIR,
    handler({
      decode: (_b, nodeid) => nodeid,
      run: (ops, ctx, nodeid) => done(ops.fsyncdir(ctx, nodeid)),
    }),
  ],
  [
    Opcode.STATFS,
    handler({
      decode: () => undefined,
      run: async (ops, ctx) => [encodeStatfsOut(await ops.statfs(ctx))],
      interruptible: true,
    }),
  ],
  [
    Opcode.SETXATTR,
    handler({
      decode: (b, nodeid, dc) => ({ nodeid, ...dec.decodeSetxattrIn(b, dc.setxattrExt) }),
      run: (ops, ctx, a) => done(ops.setxattr(ctx, a.nodeid, a.name, a.value, a.flags)),
    }),
  ],
  [
    Opcode.GETXATTR,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeGetxattrIn(b, true) }),
      run: async (ops, ctx, a) => sizedPayload(await ops.getxattr(ctx, a.nodeid, a.name), a.size, a.name),
      interruptible: true,
    }),
  ],
  [
    Opcode.LISTXATTR,
    handler({
      decode: (b, nodeid) => ({ nodeid, ...dec.decodeGetxattrIn(b, false) }),
      run: async (ops, ctx, a) => {
        const names = await ops.listxattr(ctx, a.nodeid);
        const list = Buffer.from(names.map((n) => `${n}\0`).join(''));
        return sizedPayload(list, a.size, 'xattr name list');
      },
      interruptible: true,
    }),
  ],
  [
    Opcode.REMOVEXATTR,
    handler({
      decode: (b, nodeid) => ({ nodeid, name: dec.decodeText(dec.cString(b, 0).bytes, 'xattr name') }),
      run: (ops, ctx, a) => done(ops.removexattr(ctx, a.nodeid, a.name)),
    }),
  ],
]);
