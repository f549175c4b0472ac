import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_ZERO_RANGE,
  fallocate,
  lseek,
  mmapShared,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  renameat2,
  SEEK_DATA,
  SEEK_HOLE,
} from './libc.ts';
import { type Recorder, statOf } from './recorder.ts';

/** A group of scenarios run in `dir` (empty, created by the runner) and recorded into `r`. */
export type Group = (r: Recorder, dir: string) => void;

const KiB = 1024;
/** Hole granularity both sides agree on: kubelustre tracks holes per 64 KiB (its stripe-size unit). */
const HOLE_UNIT = 64 * KiB;

const text = (p: string) => fs.readFileSync(p, 'utf8');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);
const statPlain = (p: string) => statOf(fs.lstatSync(p, { bigint: true }));

function createsAndModes(r: Recorder, d: string): void {
  r.scenario('create', () => {
    fs.writeFileSync(join(d, 'f'), 'hello', { mode: 0o640 });
    fs.mkdirSync(join(d, 'sub'), { mode: 0o750 });
    fs.symlinkSync('f', join(d, 'ln'));
    r.stat('file', join(d, 'f'));
    r.stat('dir', join(d, 'sub'));
    r.stat('symlink', join(d, 'ln'));
    r.attempt('readlink', () => fs.readlinkSync(join(d, 'ln')));
    r.attempt('excl-existing', () => fs.openSync(join(d, 'f'), 'wx'));
    r.attempt('excl-dangling-symlink', () => fs.symlinkSync('nowhere', join(d, 'dangle')));
    r.attempt('excl-through-dangling', () => fs.openSync(join(d, 'dangle'), 'wx'));
    r.attempt('open-dir-for-write', () => fs.openSync(join(d, 'sub'), 'w'));
    r.attempt('mkdir-existing', () => fs.mkdirSync(join(d, 'f')));
    r.attempt('rmdir-file', () => fs.rmdirSync(join(d, 'f')));
    r.attempt('unlink-dir', () => fs.unlinkSync(join(d, 'sub')));
    r.attempt('file-as-dir', () => fs.statSync(join(d, 'f', 'x')));
    r.attempt('missing', () => fs.statSync(join(d, 'missing')));
    r.effect('chmod', [join(d, 'f')], () => fs.chmodSync(join(d, 'f'), 0o4755));
    r.stat('after-chmod', join(d, 'f'));
    r.effect('chown', [join(d, 'f')], () => fs.chownSync(join(d, 'f'), 1234, 5678));
    // Root's chown still clears set-user-id on a regular file (Linux's rule, also on FUSE).
    r.stat('after-chown', join(d, 'f'));
    r.effect('utimes', [join(d, 'f')], () => fs.utimesSync(join(d, 'f'), 1000.5, 2000.25));
    const st = fs.statSync(join(d, 'f'));
    r.rec('utimes-values', [st.atimeMs, st.mtimeMs]);
  });
}

function names(r: Recorder, d: string): void {
  r.scenario('names', () => {
    const long = 'n'.repeat(256);
    const max = 'm'.repeat(255);
    r.attempt('create-255', () => fs.writeFileSync(join(d, max), 'x'));
    r.attempt('create-256', () => fs.writeFileSync(join(d, long), 'x'));
    r.attempt('mkdir-256', () => fs.mkdirSync(join(d, long)));
    r.attempt('stat-256', () => fs.statSync(join(d, long)));
    r.attempt('symlink-256', () => fs.symlinkSync('x', join(d, long)));
    r.attempt('rename-to-256', () => fs.renameSync(join(d, max), join(d, long)));
    r.attempt('unicode', () => {
      fs.writeFileSync(join(d, 'é🙂'), 'u');
      return fs.readdirSync(d).sort();
    });
  });
}

function links(r: Recorder, d: string): void {
  r.scenario('links', () => {
    const [f, g] = [join(d, 'f'), join(d, 'g')];
    fs.writeFileSync(f, 'data');
    r.effect('link', [f, d], () => fs.linkSync(f, g));
    r.stat('after-link', f);
    r.rec('same-ino', fs.statSync(f).ino === fs.statSync(g).ino);
    r.effect('unlink-one', [g, d], () => fs.unlinkSync(f));
    r.stat('after-unlink', g);
    r.attempt('link-dir', () => fs.linkSync(d, join(d, 'dirlink')));
    r.attempt('link-existing', () => fs.linkSync(g, g));
    fs.mkdirSync(join(d, 'a'));
    r.stat('dir', join(d, 'a'));
    fs.mkdirSync(join(d, 'a', 'b'));
    r.stat('dir-with-sub', join(d, 'a'));
    fs.rmdirSync(join(d, 'a', 'b'));
    r.stat('dir-after-rmdir', join(d, 'a'));
  });
}

function renames(r: Recorder, d: string): void {
  r.scenario('rename', () => {
    const p = (n: string) => join(d, n);
    fs.writeFileSync(p('f1'), 'one');
    fs.writeFileSync(p('f2'), 'two');
    fs.mkdirSync(p('d1'));
    fs.mkdirSync(p('d2'));
    fs.mkdirSync(p('full'));
    fs.writeFileSync(p('full/x'), 'x');
    const ino = fs.statSync(p('f1')).ino;
    r.effect('over-file', [[p('f1'), p('f2')], d], () => fs.renameSync(p('f1'), p('f2')));
    r.rec('over-file-result', [fs.existsSync(p('f1')), text(p('f2')), fs.statSync(p('f2')).ino === ino]);
    r.attempt('dir-over-empty-dir', () => fs.renameSync(p('d1'), p('d2')));
    r.attempt('dir-over-full-dir', () => fs.renameSync(p('d2'), p('full')));
    r.attempt('file-over-dir', () => fs.renameSync(p('f2'), p('full')));
    r.attempt('dir-over-file', () => fs.renameSync(p('full'), p('f2')));
    r.attempt('into-itself', () => fs.renameSync(p('full'), p('full/inside')));
    r.attempt('same-name', () => fs.renameSync(p('f2'), p('f2')));
    r.attempt('missing', () => fs.renameSync(p('nothing'), p('x')));
    r.effect('across-dirs', [[p('f2'), p('full/moved')], d, p('full')], () =>
      fs.renameSync(p('f2'), p('full/moved')),
    );
    r.attempt('dir-across', () => {
      fs.renameSync(p('d2'), p('full/d2'));
      return statPlain(p('full')).nlink;
    });
    fs.writeFileSync(p('a'), 'A');
    fs.writeFileSync(p('b'), 'B');
    r.attempt('noreplace-existing', () => renameat2(p('a'), p('b'), RENAME_NOREPLACE));
    r.attempt('noreplace-new', () => renameat2(p('a'), p('c'), RENAME_NOREPLACE));
    r.attempt('exchange', () => renameat2(p('c'), p('b'), RENAME_EXCHANGE));
    r.rec('exchanged', [text(p('b')), text(p('c'))]);
    r.attempt('exchange-missing', () => renameat2(p('c'), p('none'), RENAME_EXCHANGE));
    r.attempt('exchange-file-dir', () => renameat2(p('c'), p('full'), RENAME_EXCHANGE));
    r.rec('exchanged-types', [fs.statSync(p('c')).isDirectory(), fs.statSync(p('full')).isFile()]);
    r.attempt('both-flags', () => renameat2(p('b'), p('c'), RENAME_EXCHANGE | RENAME_NOREPLACE));
  });
}

function sizes(r: Recorder, d: string): void {
  r.scenario('size', () => {
    const f = join(d, 'f');
    fs.writeFileSync(f, '0123456789');
    r.effect('truncate-down', [f], () => fs.truncateSync(f, 4));
    r.rec('after-down', text(f));
    r.effect('truncate-up', [f], () => fs.truncateSync(f, 8192));
    r.rec('after-up', [statPlain(f).size, sha(fs.readFileSync(f))]);
    const fd = fs.openSync(f, 'r+');
    r.effect('ftruncate', [f], () => fs.ftruncateSync(fd, 100));
    r.effect('write', [f], () => fs.writeSync(fd, Buffer.from('ab'), 0, 2, 1_000_000));
    r.rec('after-write-past-end', [fs.fstatSync(fd).size, sha(fs.readFileSync(f))]);
    fs.closeSync(fd);
    const ro = fs.openSync(f, 'r');
    r.attempt('ftruncate-readonly', () => fs.ftruncateSync(ro, 0));
    r.attempt('write-readonly', () => fs.writeSync(ro, 'x'));
    fs.closeSync(ro);
    r.attempt('truncate-dir', () => fs.truncateSync(d, 0));
    r.attempt('o-trunc', () => {
      fs.closeSync(fs.openSync(f, 'w'));
      return statPlain(f).size;
    });
  });
  r.scenario('append', () => {
    const f = join(d, 'log');
    fs.writeFileSync(f, 'abc');
    const fd = fs.openSync(f, 'a');
    fs.writeSync(fd, Buffer.from('DEF'), 0, 3, 0); // O_APPEND ignores the position (Linux)
    const other = fs.openSync(f, 'r+');
    fs.writeSync(other, Buffer.from('xy'), 0, 2, 6);
    fs.writeSync(fd, 'G');
    fs.closeSync(other);
    fs.closeSync(fd);
    r.rec('content', text(f));
  });
}

function timestamps(r: Recorder, d: string): void {
  r.scenario('times', () => {
    const [f, sub] = [join(d, 'f'), join(d, 'sub')];
    fs.writeFileSync(f, 'x');
    fs.mkdirSync(sub);
    r.effect('create-in-dir', [d], () => fs.writeFileSync(join(d, 'new'), ''));
    r.effect('write', [f], () => fs.appendFileSync(f, 'more'));
    r.effect('empty-write', [f], () => {
      const fd = fs.openSync(f, 'r+');
      fs.writeSync(fd, Buffer.alloc(0));
      fs.closeSync(fd);
    });
    r.effect('utimes-now', [f], () => fs.utimesSync(f, new Date(), new Date()));
    r.effect('mkdir', [d, sub], () => fs.mkdirSync(join(sub, 'inner')));
    r.effect('rmdir', [d, sub], () => fs.rmdirSync(join(sub, 'inner')));
    r.effect('symlink', [d], () => fs.symlinkSync('f', join(d, 'sl')));
    r.effect('rename-in-dir', [d, [f, join(d, 'f2')]], () => fs.renameSync(f, join(d, 'f2')));
    r.effect('unlink', [d], () => fs.unlinkSync(join(d, 'new')));
    r.effect('setxattr-or-chmod', [join(d, 'f2')], () => fs.chmodSync(join(d, 'f2'), 0o600));
  });
}

/** As root: the basics. */
export const rootGroup: Group = (r, d) => {
  for (const [name, fn] of [
    ['modes', createsAndModes],
    ['names', names],
    ['links', links],
    ['rename', renames],
    ['size', sizes],
    ['times', timestamps],
  ] as const) {
    const dir = join(d, name);
    fs.mkdirSync(dir);
    fn(r, dir);
  }
};

/** An unlinked file stays readable and writable through descriptors open on it until the last close. */
export const openUnlinkGroup: Group = (r, d) => {
  r.scenario('open-unlink', () => {
    const f = join(d, 'f');
    fs.writeFileSync(f, Buffer.alloc(300 * KiB, 7));
    const fd = fs.openSync(f, 'r+');
    const fd2 = fs.openSync(f, 'r');
    fs.unlinkSync(f);
    r.rec('gone', fs.existsSync(f));
    r.rec('fstat', statOf(fs.fstatSync(fd, { bigint: true })));
    fs.writeSync(fd, Buffer.from('tail'), 0, 4, 300 * KiB);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    const back = Buffer.alloc(400 * KiB);
    const n = fs.readSync(fd2, back, 0, back.length, 0);
    r.rec('read-after-other-close', [n, sha(back.subarray(0, n))]);
    fs.closeSync(fd2);
    r.rec('dir-after', fs.readdirSync(d));
  });
};

/** Sparse files: holes read as zeros, SEEK_DATA/SEEK_HOLE, fallocate's modes (64 KiB aligned). */
export const sparseGroup: Group = (r, d) => {
  r.scenario('holes', () => {
    const fd = fs.openSync(join(d, 'sparse'), 'w+');
    fs.writeSync(fd, Buffer.alloc(HOLE_UNIT, 1), 0, HOLE_UNIT, 0);
    fs.writeSync(fd, Buffer.alloc(HOLE_UNIT, 2), 0, HOLE_UNIT, 16 * HOLE_UNIT);
    fs.fsyncSync(fd);
    r.rec('size', fs.fstatSync(fd).size);
    for (const at of [0, HOLE_UNIT / 2, HOLE_UNIT, 8 * HOLE_UNIT, 16 * HOLE_UNIT, 17 * HOLE_UNIT]) {
      r.attempt(`data@${at}`, () => lseek(fd, at, SEEK_DATA));
      r.attempt(`hole@${at}`, () => lseek(fd, at, SEEK_HOLE));
    }
    const mid = Buffer.alloc(HOLE_UNIT);
    fs.readSync(fd, mid, 0, mid.length, 4 * HOLE_UNIT);
    r.rec(
      'hole-reads-zero',
      mid.every((b) => b === 0),
    );
    fs.closeSync(fd);
  });
  r.scenario('fallocate', () => {
    const f = join(d, 'alloc');
    const fd = fs.openSync(f, 'w+');
    r.attempt('allocate', () => fallocate(fd, 0, 0, 4 * HOLE_UNIT));
    r.rec('size-after-allocate', fs.fstatSync(fd).size);
    r.attempt('keep-size', () => fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8 * HOLE_UNIT));
    r.rec('size-after-keep-size', fs.fstatSync(fd).size);
    fs.writeSync(fd, Buffer.alloc(4 * HOLE_UNIT, 9), 0, 4 * HOLE_UNIT, 0);
    r.attempt('punch', () => fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, HOLE_UNIT, HOLE_UNIT));
    r.attempt('punch-without-keep-size', () => fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, HOLE_UNIT));
    r.attempt('zero-range', () => fallocate(fd, FALLOC_FL_ZERO_RANGE, 3 * HOLE_UNIT, 2 * HOLE_UNIT));
    r.rec('after', [fs.fstatSync(fd).size, sha(fs.readFileSync(f))]);
    r.attempt('hole-after-punch', () => lseek(fd, 0, SEEK_HOLE));
    fs.closeSync(fd);
  });
};

/** mmap: reads through a shared mapping, and writes through it seen by another descriptor. */
export const mmapGroup: Group = (r, d) => {
  r.scenario('mmap', () => {
    const f = join(d, 'mapped');
    const content = Buffer.alloc(256 * KiB);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i, i);
    fs.writeFileSync(f, content);
    const fd = fs.openSync(f, 'r+');
    const m = mmapShared(fd, content.length, true);
    r.rec('read-matches', Buffer.from(m.bytes).equals(content));
    m.bytes.fill(0xab, 100 * KiB, 100 * KiB + 5000);
    m.bytes[content.length - 1] = 0xcd;
    m.sync();
    const other = fs.openSync(f, 'r');
    const seen = Buffer.alloc(content.length);
    fs.readSync(other, seen, 0, seen.length, 0);
    r.rec('write-seen-by-other-fd', [
      seen[100 * KiB],
      seen[100 * KiB + 4999],
      seen[content.length - 1],
      sha(seen),
    ]);
    m.unmap();
    fs.closeSync(other);
    fs.closeSync(fd);
    r.rec('after-close', sha(fs.readFileSync(f)));
  });
};
