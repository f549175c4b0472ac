import { crc32 } from 'node:zlib';
import { KlError } from '../errors.ts';

/**
 * kubelustre wire frames. Every frame is a fixed 32-byte little-endian header, then `metaLen` bytes of
 * UTF-8 JSON (the message, validated against its schema), then `dataLen` raw bytes (bulk data, never
 * encoded). The CRC-32 covers header bytes 0..27, meta and data, so a damaged frame is caught before
 * anything acts on it.
 *
 *   0  u32 magic 'KLUS'      4  u8 version    5  u8 kind    6  u16 opcode
 *   8  u64 xid              16  i32 status (0, or -errno in a reply)
 *  20  u32 metaLen          24  u32 dataLen  28  u32 crc32
 */
export const FRAME_MAGIC = 0x53554c4b;
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 32;
export const META_BYTES_MAX = 1024 * 1024;
export const DATA_BYTES_MAX = 8 * 1024 * 1024;

export const FrameKind = {
  request: 1,
  reply: 2,
  hello: 3,
  auth: 4,
  authOk: 5,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];
const KIND_MAX = 5;

export interface FrameHeader {
  kind: FrameKind;
  opcode: number;
  xid: number;
  status: number;
  metaLen: number;
  dataLen: number;
}

export interface Frame extends FrameHeader {
  meta: Buffer;
  data: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Encodes a frame as [header+meta, data] so bulk data is written without a copy. */
export function encodeFrame(
  kind: FrameKind,
  opcode: number,
  xid: number,
  status: number,
  meta: Buffer,
  data: Buffer = EMPTY,
): Buffer[] {
  if (meta.length > META_BYTES_MAX)
    throw new KlError('EOVERFLOW', `frame meta of ${meta.length} bytes over ${META_BYTES_MAX}`);
  if (data.length > DATA_BYTES_MAX)
    throw new KlError('EOVERFLOW', `frame data of ${data.length} bytes over ${DATA_BYTES_MAX}`);
  const head = Buffer.allocUnsafe(HEADER_BYTES + meta.length);
  head.writeUInt32LE(FRAME_MAGIC, 0);
  head.writeUInt8(PROTOCOL_VERSION, 4);
  head.writeUInt8(kind, 5);
  head.writeUInt16LE(opcode, 6);
  head.writeUInt32LE(xid % 0x1_0000_0000, 8);
  head.writeUInt32LE(Math.floor(xid / 0x1_0000_0000), 12);
  head.writeInt32LE(status, 16);
  head.writeUInt32LE(meta.length, 20);
  head.writeUInt32LE(data.length, 24);
  meta.copy(head, HEADER_BYTES);
  let crc = crc32(head.subarray(0, 28));
  crc = crc32(meta, crc);
  if (data.length > 0) crc = crc32(data, crc);
  head.writeUInt32LE(crc, 28);
  return data.length > 0 ? [head, data] : [head];
}

/** Thrown for a frame that breaks the protocol: the connection carrying it must be closed. */
export class FrameError extends KlError {
  constructor(message: string) {
    super('EPROTO', message);
  }
}

function parseHeader(b: Buffer): FrameHeader & { crc: number } {
  const magic = b.readUInt32LE(0);
  if (magic !== FRAME_MAGIC) throw new FrameError(`bad magic 0x${magic.toString(16)}`);
  const version = b.readUInt8(4);
  if (version !== PROTOCOL_VERSION) throw new FrameError(`unsupported protocol version ${version}`);
  const kind = b.readUInt8(5);
  if (kind < 1 || kind > KIND_MAX) throw new FrameError(`unknown frame kind ${kind}`);
  const hi = b.readUInt32LE(12);
  if (hi >= 0x200000) throw new FrameError('xid beyond 2^53');
  const metaLen = b.readUInt32LE(20);
  const dataLen = b.readUInt32LE(24);
  if (metaLen > META_BYTES_MAX) throw new FrameError(`meta length ${metaLen} over ${META_BYTES_MAX}`);
  if (dataLen > DATA_BYTES_MAX) throw new FrameError(`data length ${dataLen} over ${DATA_BYTES_MAX}`);
  return {
    kind: kind as FrameKind,
    opcode: b.readUInt16LE(6),
    xid: hi * 0x1_0000_0000 + b.readUInt32LE(8),
    status: b.readInt32LE(16),
    metaLen,
    dataLen,
    crc: b.readUInt32LE(28),
  };
}

/**
 * Reassembles frames from a byte stream. Memory is bounded: a frame is at most
 * HEADER_BYTES + META_BYTES_MAX + DATA_BYTES_MAX bytes, and nothing beyond one frame plus one chunk is held.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #header: (FrameHeader & { crc: number }) | undefined;

  /** Feeds bytes; returns the frames completed. Throws FrameError on a malformed frame. */
  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (!this.#header) {
        if (this.#buffered < HEADER_BYTES) break;
        this.#header = parseHeader(this.#take(HEADER_BYTES));
      }
      const h = this.#header;
      if (this.#buffered < h.metaLen + h.dataLen) break;
      const meta = this.#take(h.metaLen);
      const data = this.#take(h.dataLen);
      this.#header = undefined;
      frames.push(verified(h, meta, data));
    }
    return frames;
  }

  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}

function verified(h: FrameHeader & { crc: number }, meta: Buffer, data: Buffer): Frame {
  const head = Buffer.allocUnsafe(28);
  head.writeUInt32LE(FRAME_MAGIC, 0);
  head.writeUInt8(PROTOCOL_VERSION, 4);
  head.writeUInt8(h.kind, 5);
  head.writeUInt16LE(h.opcode, 6);
  head.writeUInt32LE(h.xid % 0x1_0000_0000, 8);
  head.writeUInt32LE(Math.floor(h.xid / 0x1_0000_0000), 12);
  head.writeInt32LE(h.status, 16);
  head.writeUInt32LE(h.metaLen, 20);
  head.writeUInt32LE(h.dataLen, 24);
  let crc = crc32(head);
  crc = crc32(meta, crc);
  if (data.length > 0) crc = crc32(data, crc);
  if (crc !== h.crc)
    throw new FrameError(`checksum mismatch on ${h.kind === 2 ? 'reply' : 'frame'} xid ${h.xid}`);
  const { crc: _crc, ...header } = h;
  return { ...header, meta, data };
}
