import { parseArgs } from 'node:util';
import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import { FSTYPE } from '../mount/mount-command.ts';
import { mountUnder } from '../mount/mountinfo.ts';
import { getxattrSyscall, setxattrSyscall } from '../mount/syscalls.ts';
import { formatPccState, formatPccStats, LUSTRE_PCC_XATTR, type PccStateValue } from '../pcc/pcc-state.ts';

const USAGE = `usage: kubelustre lfs pcc attach [-i|--id ARCHIVE_ID] [-r|--readonly|-w|--write] FILE...
       kubelustre lfs pcc attach [-i|--id ARCHIVE_ID] [-r|-w] -m|--mnt MOUNTPOINT FID...
       kubelustre lfs pcc attach_fid [-i|--id ARCHIVE_ID] [-r|-w] -m|--mnt MOUNTPOINT FID...
       kubelustre lfs pcc detach [-k|--keep] FILE...
       kubelustre lfs pcc detach_fid [-k|--keep] MOUNTPOINT FID...
       kubelustre lfs pcc state [--stats|--json] FILE...
  FILEs are under a kubelustre mount started with -o pcc=DIR.`;

/** Lustre's archive ids are 32-bit. */
const ARCHIVE_ID_MAX = 0xffffffff;

/**
 * Lustre's `lfs pcc`, through the mount: the mount process does the work on setxattr/getxattr of the
 * virtual xattr lustre.pcc (pcc-state.ts). As lfs, every FILE is tried and failures are reported one by
 * one; the exit status is 1 when any failed (Lustre's lfs exits with the errno; ours says why in words).
 */
export async function pccCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const run = sub ? subs[sub] : undefined;
  if (!run) {
    console.error(USAGE);
    return 2;
  }
  return run(rest);
}

const subs: Record<string, (argv: string[]) => Promise<number>> = {
  attach,
  attach_fid: (argv) => attach(argv, true),
  detach,
  detach_fid: detachFid,
  state,
};

const FID = /^\[?(0x[0-9a-fA-F]{1,16}:0x[0-9a-fA-F]{1,8}:0x[0-9a-fA-F]{1,8})\]?$/;

/** A FID as lfs takes it (brackets allowed), lower-cased; EINVAL otherwise. */
function fidArg(text: string): string {
  const m = FID.exec(text);
  if (!m) throw new KlError('EINVAL', `"${text}" is not a FID`);
  return m[1]!.toLowerCase();
}

/** `lfs pcc attach FILE...`, or by FID on a mount (`attach -m MNT FID...`, `attach_fid`). */
async function attach(argv: string[], byFid = false): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      id: { type: 'string', short: 'i' },
      readonly: { type: 'boolean', short: 'r' },
      write: { type: 'boolean', short: 'w' },
      mnt: { type: 'string', short: 'm' },
    },
  });
  if (values.write && values.readonly)
    throw new KlError('EINVAL', 'lfs pcc attach: -r and -w exclude each other');
  const verb = values.write ? 'attach_rw' : 'attach';
  const id = values.id === undefined ? undefined : Number(values.id);
  if (id !== undefined && (!/^\d+$/.test(values.id ?? '') || id <= 0 || id > ARCHIVE_ID_MAX)) {
    throw new KlError('EINVAL', `lfs pcc attach: bad archive ID "${values.id}"`);
  }
  const command = id === undefined ? verb : `${verb} ${id}`;
  if (byFid || values.mnt !== undefined) {
    if (values.mnt === undefined)
      throw new KlError('EINVAL', 'lfs pcc attach_fid: -m MOUNTPOINT is required');
    const mnt = values.mnt;
    return eachFid(
      mnt,
      positionals,
      (fid) => setxattrSyscall(mnt, LUSTRE_PCC_XATTR, Buffer.from(`${command} ${fidArg(fid)}`)),
      (fid, e) => `lfs pcc attach: cannot attach '${fid}' on '${mnt}': ${e}`,
    );
  }
  const value = Buffer.from(command);
  return eachFile(
    positionals,
    (path) => setxattrSyscall(path, LUSTRE_PCC_XATTR, value),
    (path, e) =>
      `lfs pcc attach: cannot attach '${path}'${id === undefined ? '' : ` with archive ID '${id}'`}: ${e}`,
  );
}

async function detach(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { keep: { type: 'boolean', short: 'k' } },
  });
  const value = Buffer.from('detach');
  return eachFile(
    positionals,
    (path) => setxattrSyscall(path, LUSTRE_PCC_XATTR, value),
    (path, e) => `lfs pcc detach: cannot detach '${path}': ${e}`,
  );
}

/** `lfs pcc detach_fid [-k] MOUNTPOINT FID...` */
async function detachFid(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { keep: { type: 'boolean', short: 'k' } },
  });
  const [mnt, ...fids] = positionals;
  if (mnt === undefined) {
    console.error(USAGE);
    return 2;
  }
  return eachFid(
    mnt,
    fids,
    (fid) => setxattrSyscall(mnt, LUSTRE_PCC_XATTR, Buffer.from(`detach ${fidArg(fid)}`)),
    (fid, e) => `lfs pcc detach_fid: cannot detach '${fid}' on '${mnt}': ${e}`,
  );
}

/** Each FID through the mount at `mnt` (its root's lustre.pcc xattr names the file by FID). */
function eachFid(
  mnt: string,
  fids: string[],
  act: (fid: string) => void,
  fail: (fid: string, why: string) => string,
) {
  if (fids.length === 0) {
    console.error(USAGE);
    return Promise.resolve(2);
  }
  let status = 0;
  for (const fid of fids) {
    try {
      if (mountUnder(mnt, FSTYPE) === undefined) throw new KlError('EINVAL', 'not a kubelustre mount');
      act(fid);
    } catch (e) {
      console.error(fail(fid, reasonOf(e)));
      status = 1;
    }
  }
  return Promise.resolve(status);
}

async function state(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { stats: { type: 'boolean' }, json: { type: 'boolean' } },
  });
  return eachFile(
    positionals,
    (path) => {
      const text = getxattrSyscall(path, LUSTRE_PCC_XATTR).toString('utf8');
      if (values.json) {
        process.stdout.write(`${text}\n`);
        return;
      }
      const s = JSON.parse(text) as PccStateValue;
      process.stdout.write(formatPccState(path, s));
      if (values.stats) process.stdout.write(formatPccStats(s));
    },
    (path, e) => `lfs pcc state: cannot get PCC state of '${path}': ${e}`,
  );
}

function eachFile(paths: string[], act: (path: string) => void, fail: (path: string, why: string) => string) {
  if (paths.length === 0) {
    console.error(USAGE);
    return Promise.resolve(2);
  }
  let status = 0;
  for (const path of paths) {
    try {
      if (mountUnder(path, FSTYPE) === undefined) {
        throw new KlError('EINVAL', 'not a file under a kubelustre mount');
      }
      act(path);
    } catch (e) {
      console.error(fail(path, reasonOf(e)));
      status = 1;
    }
  }
  return Promise.resolve(status);
}

/** What a failed xattr call means for lfs pcc (the mount process logs the detailed reason). */
function reasonOf(e: unknown): string {
  if (isKlError(e, 'ENOTSUP')) return 'the mount has no PCC (mount it with -o pcc=DIR)';
  if (isKlError(e, 'EBUSY'))
    return 'the file is open for write by some client (with -w: open anywhere, or cached read-write)';
  if (isKlError(e, 'ESTALE')) return 'the file was written while being attached';
  return e instanceof Error ? e.message : String(e);
}
