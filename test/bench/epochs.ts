import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { DEFAULT_CLUSTER } from '@kubelustre/client/local/cluster-spec.ts';
import { startTestMount, type TestMount } from '../mount/mount-harness.ts';
import { dropKernelCaches } from './local-fs.ts';

/**
 * The repeated-epoch read of issue #6 (Persistent Client Cache): a training job reads the same dataset
 * once per epoch. Three variants read it `epochs` times, the page cache dropped before every epoch (so
 * the local baseline reads from disk, and PCC is measured against disk, not memory):
 * - local: a plain directory of this machine's disk;
 * - mount, no PCC: every epoch from the OSTs through the FUSE mount;
 * - mount, PCC: an auto-attach rule (`-o pcc_rule=fname={epoch-*.bin}`) attaches each file when the
 *   first epoch opens it (a copy into a cache directory on the same local disk); later epochs read the
 *   copies (through FUSE passthrough when the kernel offers it, else served by the mount process).
 */
export interface EpochSizes {
  datasetBytes: number;
  fileBytes: number;
  epochs: number;
  ioBytes: number;
}

export const EPOCH_FULL_SIZES: EpochSizes = {
  datasetBytes: 2 * 1024 ** 3,
  fileBytes: 64 * 1024 ** 2,
  epochs: 3,
  ioBytes: 1024 ** 2,
};
export const EPOCH_QUICK_SIZES: EpochSizes = { ...EPOCH_FULL_SIZES, datasetBytes: 512 * 1024 ** 2 };

/** The goal: epochs after the first with PCC at this fraction of the local directory or more. */
export const PCC_EPOCH_TARGET = 0.9;

export interface EpochVariant {
  name: string;
  /** MiB/s of each epoch. */
  epochs: number[];
}

/** Runs the three variants under `parent`; logs each epoch as it ends. */
export async function runEpochBench(
  parent: string,
  s: EpochSizes,
  log: (m: string) => void,
): Promise<EpochVariant[]> {
  const count = Math.max(1, Math.floor(s.datasetBytes / s.fileBytes));
  const names = Array.from({ length: count }, (_, i) => `epoch-${String(i).padStart(4, '0')}.bin`);
  const content = Buffer.alloc(s.fileBytes);
  for (let i = 0; i + 4 <= content.length; i += 4) content.writeUInt32LE((i * 2654435761) >>> 0, i);
  const results: EpochVariant[] = [];
  const run = async (name: string, root: string) => {
    const v: EpochVariant = { name, epochs: [] };
    for (let e = 0; e < s.epochs; e++) {
      dropKernelCaches();
      const mibPerS = await readEpoch(root, names, s);
      v.epochs.push(mibPerS);
      log(`${name}: epoch ${e + 1} ${mibPerS.toFixed(1)} MiB/s`);
    }
    results.push(v);
  };

  const localDir = mkdtempSync(join(parent, 'kl-bench-epochs-local-'));
  try {
    await writeDataset(localDir, names, content);
    await run('local directory', localDir);
  } finally {
    rmSync(localDir, { recursive: true, force: true });
  }

  const dir = mkdtempSync(join(parent, 'kl-bench-epochs-'));
  const cluster = await LocalCluster.create({ ...DEFAULT_CLUSTER, dir, fsName: 'benche', basePort: 0 });
  let mount: TestMount | undefined;
  try {
    await cluster.up();
    const mountpoint = join(dir, 'mnt');
    mount = await startTestMount(cluster, mountpoint);
    await writeDataset(mountpoint, names, content);
    await run('kubelustre mount, no PCC', mountpoint);
    await mount.stop();
    const cacheDir = join(dir, 'pcc-cache');
    mkdirSync(cacheDir);
    const options = `pcc=${cacheDir},pcc_rule=fname={epoch-*.bin}`;
    mount = await startTestMount(cluster, mountpoint, { options });
    await run('kubelustre mount, PCC', mountpoint);
  } finally {
    await mount?.stop();
    await cluster.down();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

async function writeDataset(root: string, names: string[], content: Buffer): Promise<void> {
  for (const n of names) await writeFile(join(root, n), content);
}

/** Reads every file whole, one after the other, `ioBytes` at a time; answers MiB/s. */
async function readEpoch(root: string, names: string[], s: EpochSizes): Promise<number> {
  const buf = Buffer.allocUnsafe(s.ioBytes);
  const t0 = performance.now();
  let total = 0;
  for (const n of names) {
    const path = join(root, n);
    const fh = await open(path, 'r');
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  if (total !== names.length * s.fileBytes) throw new Error(`read ${total} bytes, expected more`);
  return total / 1024 ** 2 / seconds;
}

/** The figures and their ratios to the local directory, epoch by epoch, with the goal's verdict. */
export function printEpochTable(variants: EpochVariant[], s: EpochSizes, print: (m: string) => void): void {
  const [local, ...others] = variants;
  if (!local) return;
  const count = Math.floor(s.datasetBytes / s.fileBytes);
  print(
    `\nrepeated-epoch read: ${count} files of ${s.fileBytes / 1024 ** 2} MiB (${s.datasetBytes / 1024 ** 2} MiB),` +
      ` ${s.epochs} epochs; page cache dropped before every epoch of every variant (local reads from disk)`,
  );
  const epochHead = local.epochs.map((_, i) => `epoch ${i + 1}`.padStart(10)).join('');
  const ratioHead = local.epochs.map((_, i) => `ratio ${i + 1}`.padStart(9)).join('');
  print(`${'variant (MiB/s)'.padEnd(28)}${epochHead}${ratioHead}`);
  for (const v of [local, ...others]) {
    const figures = v.epochs.map((x) => x.toFixed(1).padStart(10)).join('');
    const ratios = v.epochs.map((x, i) => (x / local.epochs[i]!).toFixed(2).padStart(9)).join('');
    print(`${v.name.padEnd(28)}${figures}${ratios}`);
  }
  const pcc = others.find((v) => v.name.endsWith('PCC') && !v.name.includes('no PCC'));
  if (!pcc) return;
  // Per-epoch ratios swing with the disk (and with other load on the machine); the verdict compares
  // the mean of the later epochs, which a single slow epoch of either side moves less.
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const later = mean(pcc.epochs.slice(1)) / mean(local.epochs.slice(1));
  const worst = Math.min(...pcc.epochs.slice(1).map((x, i) => x / local.epochs[i + 1]!));
  const verdict = later >= PCC_EPOCH_TARGET ? 'ok' : 'MISSED';
  print(
    `PCC epochs after the first: ${later.toFixed(2)} of local on average (worst epoch ${worst.toFixed(2)}),` +
      ` goal ${PCC_EPOCH_TARGET}: ${verdict}`,
  );
}
