import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { umount } from '../mount/mount-command.ts';
import { startMountProcess } from '../mount/mount-process.ts';
import { parseMountOptions } from '../mount/options.ts';
import { cliLogger } from './logger.ts';

const MOUNT_USAGE = `usage: kubelustre mount MGS_HOST:PORT:/FSNAME MOUNTPOINT --key-file FILE [-o ro,...] [--log FILE] [--readers N]
       kubelustre umount [-l] MOUNTPOINT`;

/** `kubelustre mount`: mounts in the background and returns once the mount is in place. */
export async function mountCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'key-file': { type: 'string' },
      log: { type: 'string' },
      readers: { type: 'string', default: '4' },
      options: { type: 'string', short: 'o' },
    },
  });
  const [spec, mountpoint] = positionals;
  if (!spec || !mountpoint || !values['key-file']) {
    console.error(MOUNT_USAGE);
    return 2;
  }
  const readers = Number(values.readers);
  if (!Number.isInteger(readers) || readers < 1 || readers > 64)
    throw new KlError('EINVAL', `--readers ${values.readers}: 1 to 64`);
  // Checked here too, so a bad option fails the command rather than only the background process.
  parseMountOptions(values.options);
  const logPath = values.log ?? `/tmp/kubelustre-mount-${resolve(mountpoint).replaceAll('/', '_')}.log`;
  const pid = await startMountProcess({
    spec,
    mountpoint,
    keyFile: values['key-file'],
    logPath,
    readers,
    ...(values.options && { options: values.options }),
  });
  console.log(`Mounted ${spec} on ${resolve(mountpoint)} (mount process ${pid}, log ${logPath})`);
  return 0;
}

/** `kubelustre umount`: also clears a dead mount (its process gone) so a new mount works at once. */
export async function umountCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { lazy: { type: 'boolean', short: 'l' } },
  });
  const [mountpoint] = positionals;
  if (!mountpoint) {
    console.error(MOUNT_USAGE);
    return 2;
  }
  await umount(resolve(mountpoint), { log: cliLogger, lazy: values.lazy ?? false });
  return 0;
}
