import { KlError } from '@kubelustre/protocol/errors.ts';
import { splitAddressList } from '@kubelustre/protocol/wire/rpc-client.ts';

export interface MountSpec {
  /** `host:port` of the MGS (an IPv6 host in brackets), or several joined by commas, tried in order. */
  mgs: string;
  fsName: string;
}

/**
 * Parses Lustre's mount source, `MGS_HOST:PORT:/FSNAME` (mount -t lustre 10.0.0.1@tcp:/fs, here with a
 * port); the MGS part may list several addresses of the MGS joined by commas, as Lustre's NIDs.
 */
export function parseMountSpec(spec: string): MountSpec {
  const cut = spec.lastIndexOf(':/');
  const mgs = cut > 0 ? spec.slice(0, cut) : '';
  const fsName = cut > 0 ? spec.slice(cut + 2) : '';
  if (!addressesValid(mgs) || !/^[\w.-]{1,8}$/.test(fsName)) {
    throw new KlError('EINVAL', `mount source "${spec}" is not MGS_HOST:PORT[,MGS_HOST:PORT...]:/FSNAME`);
  }
  return { mgs, fsName };
}

function addressesValid(list: string): boolean {
  try {
    splitAddressList(list);
    return true;
  } catch {
    return false;
  }
}
