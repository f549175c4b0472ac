import { type Static, Type } from '@sinclair/typebox';

/** One target process of a local cluster, as recorded in DIR/cluster.json. */
export const TargetProcess = Type.Object({
  role: Type.Union([Type.Literal('mgs'), Type.Literal('mdt'), Type.Literal('ost')]),
  index: Type.Integer({ minimum: 0 }),
  dataDir: Type.String(),
  listen: Type.String(),
  http: Type.String(),
  pid: Type.Optional(Type.Integer()),
});
export type TargetProcess = Static<typeof TargetProcess>;

/** The FUSE mount `local up` made, if any. */
export const LocalMount = Type.Object({ mountpoint: Type.String(), pid: Type.Integer() });
export type LocalMount = Static<typeof LocalMount>;

export const ClusterState = Type.Object({
  fsName: Type.String(),
  keyFile: Type.String(),
  targets: Type.Array(TargetProcess),
  /** Ports were picked free at creation (--port 0): a target that loses its port gets new ones. */
  autoPorts: Type.Optional(Type.Boolean()),
  mount: Type.Optional(LocalMount),
});
export type ClusterState = Static<typeof ClusterState>;

export interface ClusterOptions {
  /** Everything lives below it: data, logs, the key, cluster.json. */
  dir: string;
  fsName: string;
  mdts: number;
  osts: number;
  /** First TCP port; targets take consecutive ports, their HTTP endpoints the same + 1000. 0 = any free. */
  basePort: number;
  host: string;
}

export const DEFAULT_CLUSTER: Omit<ClusterOptions, 'dir'> = {
  fsName: 'kl',
  mdts: 1,
  osts: 4,
  basePort: 29880,
  host: '127.0.0.1',
};

/** Lustre-style target name: MGS, kl-MDT0000, kl-OST0003. */
export function targetName(fsName: string, t: Pick<TargetProcess, 'role' | 'index'>): string {
  if (t.role === 'mgs') return 'MGS';
  return `${fsName}-${t.role.toUpperCase()}${t.index.toString(16).padStart(4, '0')}`;
}

/** The targets of a cluster with their ports, in start order (MGS, MDTs, OSTs). */
export function planTargets(o: ClusterOptions, ports: number[]): TargetProcess[] {
  const roles: Array<Pick<TargetProcess, 'role' | 'index'>> = [{ role: 'mgs', index: 0 }];
  for (let i = 0; i < o.mdts; i++) roles.push({ role: 'mdt', index: i });
  for (let i = 0; i < o.osts; i++) roles.push({ role: 'ost', index: i });
  return roles.map((r, i) => ({
    ...r,
    dataDir: `${o.dir}/${r.role === 'mgs' ? 'mgs' : `${r.role}${r.index}`}`,
    listen: `${o.host}:${ports[2 * i]}`,
    http: `${o.host}:${ports[2 * i + 1]}`,
  }));
}
