export type TargetRoleName = 'mgs' | 'mdt' | 'ost';

/** `OST0003`, `MDT000a`: Lustre writes target indices as four hex digits. */
export function targetLabel(role: 'mdt' | 'ost', index: number): string {
  return `${role.toUpperCase()}${index.toString(16).padStart(4, '0')}`;
}

/** Lustre's target name: `fsname-OST0003`, `fsname-MDT0000`, or `MGS` (one per site, no filesystem). */
export function targetName(fsName: string, role: TargetRoleName, index: number): string {
  return role === 'mgs' ? 'MGS' : `${fsName}-${targetLabel(role, index)}`;
}
