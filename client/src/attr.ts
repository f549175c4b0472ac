import type * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { Static } from '@sinclair/typebox';

/** stat(2)-like attributes of an inode, as the MDT returns them. */
export type Attr = Static<typeof mdt.Attr>;
/** An inode with, for regular files, its layout. */
export type Node = Static<typeof mdt.Node>;
export type DirEntry = Static<typeof mdt.DirEntry>;
export type Timespec = Static<typeof mdt.Timespec>;

/** The filesystem root's FID: Lustre's FID_SEQ_ROOT, object 1. */
export const ROOT_FID = '0x200000007:0x1:0x0';
