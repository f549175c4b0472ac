import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { PccClass } from '../k8s/objects.ts';
import {
  autoAttachRules,
  PCC_CONFIG_KEY,
  PCC_RULES_KEY,
  type PublishedPccClass,
  pccClassProblem,
  pccConfigMap,
  quantityBytes,
} from './pcc-config-map.ts';

/**
 * The ConfigMap published for examples/pcc-class.yaml, as a golden file. After an intended change:
 *   UPDATE_GOLDEN=1 npx vitest run --project operator operator/src/builders
 */
const GOLDEN = join(import.meta.dirname, '__golden__', 'pcc-configmap.yaml');
const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'pcc-class.yaml');

async function examplePcc(): Promise<PccClass> {
  const pcc = parse(await readFile(EXAMPLE, 'utf8')) as PccClass;
  pcc.metadata = { ...pcc.metadata, uid: '4d1f7c2a-0b3e-4f5a-8c6d-9e0f1a2b3c4d', generation: 3 };
  return pcc;
}

describe('PCCClass ConfigMap', () => {
  it('matches the golden file for the example class', async () => {
    const rendered = stringify(pccConfigMap(await examplePcc(), 'kubelustre-system'), { lineWidth: 0 });
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(GOLDEN, rendered);
    expect(rendered).toBe(await readFile(GOLDEN, 'utf8').catch(() => ''));
  });

  it('publishes the mount settings: bytes, watermarks with defaults, rules one per line', async () => {
    const pcc = await examplePcc();
    delete pcc.spec.eviction;
    pcc.spec.autoAttach = [{ fileNames: ['*.h5', '*.nc'], uids: [1000] }, { projids: [7, 8] }];
    const cm = pccConfigMap(pcc, 'ns');
    const published = JSON.parse(cm.data![PCC_CONFIG_KEY]!) as PublishedPccClass;
    expect(published.mount).toEqual({
      cacheBytes: 2 ** 40,
      highWatermarkPercent: 90,
      lowWatermarkPercent: 75,
      autoAttachRules: 2,
    });
    expect(cm.data![PCC_RULES_KEY]).toBe('fname={*.h5 *.nc}&uid={1000}\nprojid={7 8}\n');
    expect(autoAttachRules({ ...pcc.spec, autoAttach: undefined })).toEqual([]);
  });

  it('reads Kubernetes quantities as bytes', () => {
    expect(['500Gi', '1.5T', '100', '1e9', '2Ki', '0.5Mi'].map(quantityBytes)).toEqual([
      500 * 2 ** 30,
      1.5e12,
      100,
      1e9,
      2048,
      2 ** 19,
    ]);
    for (const bad of ['', 'Gi', '1ki', '1X', '-1Gi', '500m']) expect(quantityBytes(bad)).toBeNaN();
  });

  it('refuses patterns that would break the rule syntax', async () => {
    const pcc = await examplePcc();
    expect(pccClassProblem(pcc.spec)).toBeUndefined();
    pcc.spec.autoAttach = [{ fileNames: ['a b'] }];
    expect(pccClassProblem(pcc.spec)).toMatch(/autoAttach\[0\]\.fileNames has "a b"/);
  });
});
