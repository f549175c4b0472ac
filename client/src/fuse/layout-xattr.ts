import { KlError } from '@kubelustre/protocol/errors.ts';
import { Layout } from '@kubelustre/protocol/layout/types.ts';
import { checkMessage } from '@kubelustre/protocol/messages/validate.ts';

/**
 * The virtual xattr holding a file's layout, or a directory's default layout, as Lustre exposes it
 * (`getfattr -n lustre.lov`). Its value is the layout's JSON, as the MDT stores it.
 */
export const LUSTRE_LOV_XATTR = 'lustre.lov';

/** The largest lustre.lov value accepted (a 64-component layout's JSON is far below). */
const LOV_VALUE_BYTES_MAX = 64 * 1024;

/**
 * A lustre.lov value being set → the layout template it asks for. As Lustre does with a lov EA copied
 * from another file (`cp --preserve=xattr`, `lfs migrate`), the source's objects and component ids
 * are dropped: only its striping carries over. Anything that is not a layout is EINVAL, with a reason
 * saying why (the adapter logs it: setxattr(2) has no way to carry it to the caller).
 */
export function layoutTemplateOf(value: Buffer, fid: string): Layout {
  if (value.length > LOV_VALUE_BYTES_MAX) {
    throw new KlError('EINVAL', `${LUSTRE_LOV_XATTR} of ${fid}: ${value.length} bytes is not a layout`);
  }
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch (e) {
    throw new KlError('EINVAL', `${LUSTRE_LOV_XATTR} of ${fid} is not JSON: ${(e as Error).message}`);
  }
  let layout: Layout;
  try {
    layout = checkMessage(Layout, json, `${LUSTRE_LOV_XATTR} of ${fid}`);
  } catch (e) {
    throw new KlError('EINVAL', e instanceof KlError ? e.reason : String(e));
  }
  return {
    ...layout,
    components: layout.components.map(({ objects: _objects, ...c }) => ({ ...c, id: 0 })),
  };
}
