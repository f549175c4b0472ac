#!/usr/bin/env node
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { localCommand } from './local-commands.ts';

const USAGE = `usage: kubelustre <command> ...
  local up|down|status     the embedded filesystem on this machine, mounted at ./mnt
  mount SPEC MOUNTPOINT    mount a filesystem (MGS_HOST:PORT:/FSNAME) with FUSE
  umount MOUNTPOINT        unmount it (also a dead mount)
  operator [--kubeconfig F]  the Kubernetes operator
  csi --mode controller|node|all --endpoint unix:///... --node-id NAME   the CSI plugin
  lfs <subcommand> ...     Lustre's lfs: setstripe, getstripe, mkdir, df, pool_list
  lctl <subcommand> ...    pool_new, pool_add, pool_remove, pool_destroy, pool_list`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  local: async () => localCommand,
  mount: async () => (await import('./mount-commands.ts')).mountCommand,
  umount: async () => (await import('./mount-commands.ts')).umountCommand,
  operator: async () => (await import('./component-commands.ts')).operatorCommand,
  csi: async () => (await import('./component-commands.ts')).csiCommand,
  lfs: async () => (await import('./lfs-commands.ts')).lfsCommand,
  lctl: async () => (await import('./lctl-commands.ts')).lctlCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name ? commands[name] : undefined;
  if (!load) {
    console.error(USAGE);
    return 2;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(isKlError(e) ? `kubelustre: ${e.message}` : e);
    process.exit(isKlError(e) ? 1 : 70);
  },
);
