import { KlError } from '@kubelustre/protocol/errors.ts';

/** A Lustre FID: sequence, object id within it, version (always 0 for inodes). */
export interface FidParts {
  seq: number;
  oid: number;
  ver: number;
}

/** FID_SEQ_ROOT:1 is the root directory, as on every Lustre MDT0. */
export const ROOT_FID = '0x200000007:0x1:0x0';
/** FID_SEQ_NORMAL: the first sequence handed out for ordinary files. */
export const FID_SEQ_NORMAL = 0x200000400;
/** Base of the sequences that `fidToIno` flattens (FID_SEQ_START-ish: below root and normal ones). */
const FID_SEQ_FLAT_BASE = 0x200000000;
/**
 * Object ids per sequence. Lustre's LUSTRE_DATA_SEQ_MAX_WIDTH is 0x20000; we stop one short so that
 * `fidToIno` packs a sequence's oids into exactly 17 bits.
 */
export const SEQ_WIDTH = 0x1ffff;
const OID_BITS_SPAN = 0x20000;
/** Sequences that still give inode numbers below 2^53. */
const FLAT_SEQ_COUNT = 2 ** 36;

const FID_RE = /^0x([0-9a-f]{1,16}):0x([0-9a-f]{1,8}):0x([0-9a-f]{1,8})$/;

export function parseFid(text: string): FidParts {
  const m = FID_RE.exec(text);
  if (!m) throw new KlError('EINVAL', `"${text}" is not a FID (0xSEQ:0xOID:0xVER)`);
  const seq = Number.parseInt(m[1]!, 16);
  if (!Number.isSafeInteger(seq)) throw new KlError('EINVAL', `FID ${text}: sequence is too large`);
  return { seq, oid: Number.parseInt(m[2]!, 16), ver: Number.parseInt(m[3]!, 16) };
}

export function formatFid(f: FidParts): string {
  return `0x${f.seq.toString(16)}:0x${f.oid.toString(16)}:0x${f.ver.toString(16)}`;
}

/** The one text form a FID is stored under (clients may send leading zeros). */
export function canonicalFid(text: string): string {
  return formatFid(parseFid(text));
}

/**
 * A stable inode number for a FID, like Lustre's fid_flatten: the sequence's offset from
 * FID_SEQ_FLAT_BASE above 17 bits of oid. Distinct for every FID we hand out and below 2^53, so it
 * survives JSON and JavaScript numbers.
 */
export function fidToIno(f: FidParts): number {
  const seqOffset = f.seq - FID_SEQ_FLAT_BASE;
  if (seqOffset < 0 || seqOffset >= FLAT_SEQ_COUNT || f.oid < 1 || f.oid > SEQ_WIDTH) {
    throw new KlError('EINVAL', `FID ${formatFid(f)} is outside the range this MDT allocates`);
  }
  return seqOffset * OID_BITS_SPAN + f.oid;
}

/** The FID after `last`: the next oid, or the first of the next sequence once this one is used up. */
export function nextFid(last: FidParts | undefined): FidParts {
  if (last === undefined) return { seq: FID_SEQ_NORMAL, oid: 1, ver: 0 };
  if (last.oid >= SEQ_WIDTH) return { seq: last.seq + 1, oid: 1, ver: 0 };
  return { seq: last.seq, oid: last.oid + 1, ver: 0 };
}
