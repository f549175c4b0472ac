import { KlError } from '@kubelustre/protocol/errors.ts';

export interface MountSpec {
  /** `host:port` of the MGS (an IPv6 host in brackets). */
  mgs: string;
  fsName: string;
}

/** Parses Lustre's mount source, `MGS_HOST:PORT:/FSNAME` (mount -t lustre 10.0.0.1@tcp:/fs, here with a port). */
export function parseMountSpec(spec: string): MountSpec {
  const cut = spec.lastIndexOf(':/');
  const mgs = cut > 0 ? spec.slice(0, cut) : '';
  const fsName = cut > 0 ? spec.slice(cut + 2) : '';
  const port = Number(mgs.slice(mgs.lastIndexOf(':') + 1));
  if (
    !mgs.includes(':') ||
    !Number.isInteger(port) ||
    port <= 0 ||
    port > 65535 ||
    !/^[\w.-]{1,8}$/.test(fsName)
  ) {
    throw new KlError('EINVAL', `mount source "${spec}" is not MGS_HOST:PORT:/FSNAME`);
  }
  return { mgs, fsName };
}
