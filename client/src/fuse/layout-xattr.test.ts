import type { KlError } from '@kubelustre/protocol/errors.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { describe, expect, it } from 'vitest';
import { layoutTemplateOf } from './layout-xattr.ts';

const errorOf = (f: () => unknown): KlError | undefined => {
  try {
    f();
  } catch (e) {
    return e as KlError;
  }
  return undefined;
};

describe('layoutTemplateOf', () => {
  it('takes a template as lfs setstripe makes it', () => {
    const template = parseSetstripeArgs(['-c', '2', '-S', '4M']).layout!;
    expect(layoutTemplateOf(Buffer.from(JSON.stringify(template)), 'f')).toEqual(template);
  });

  it("keeps another file's striping but drops its objects and component ids", () => {
    const template = parseSetstripeArgs(['-E', '1M', '-c', '1', '-E', '-1', '-c', '2']).layout!;
    const instantiated = {
      ...template,
      generation: 3,
      components: template.components.map((c, i) => ({
        ...c,
        id: i + 1,
        objects: [{ ostIdx: i, objId: 10 + i }],
      })),
    };
    const got = layoutTemplateOf(Buffer.from(JSON.stringify(instantiated)), 'f');
    expect(got.components.map((c) => [c.id, c.objects, c.stripeCount, c.end])).toEqual(
      template.components.map((c) => [0, undefined, c.stripeCount, c.end]),
    );
  });

  it('answers EINVAL saying why for anything that is not a layout', () => {
    const notJson = errorOf(() => layoutTemplateOf(Buffer.from('stripe_count=2'), 'f'));
    expect([notJson?.code, notJson?.reason]).toEqual(['EINVAL', expect.stringContaining('not JSON')]);
    const noComponents = errorOf(() =>
      layoutTemplateOf(Buffer.from('{"composite":false,"generation":0,"components":[]}'), 'f'),
    );
    expect([noComponents?.code, noComponents?.reason]).toEqual([
      'EINVAL',
      expect.stringContaining('components'),
    ]);
    expect(errorOf(() => layoutTemplateOf(Buffer.alloc(70_000, 0x20), 'f'))?.code).toBe('EINVAL');
  });
});
