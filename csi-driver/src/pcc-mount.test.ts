import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePccRules, ruleMatches } from '@kubelustre/client/pcc/pcc-rules.ts';
import {
  autoAttachRules,
  PCC_RULES_KEY,
  type PublishedPccClass,
  pccConfigMap,
} from '@kubelustre/operator/builders/pcc-config-map.ts';
import type { PccClassSpec } from '@kubelustre/operator/crds/pcc-class.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { metricsSocketPath } from './node-metrics.ts';
import {
  acceptedOptions,
  type PccPublication,
  type PccSource,
  pccMountOptions,
  planPccMount,
  selectorMatches,
} from './pcc-mount.ts';

const dir = mkdtempSync(join(tmpdir(), 'kl-csi-pcc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function published(spec: Partial<PccClassSpec> = {}): PublishedPccClass {
  const full: PccClassSpec = { cache: { hostPath: dir, size: '1Gi' }, mode: 'readonly', ...spec };
  return {
    name: 'fast',
    generation: 1,
    spec: full,
    mount: { cacheBytes: 2 ** 30, highWatermarkPercent: 90, lowWatermarkPercent: 75, autoAttachRules: 0 },
  };
}

/** A fake PccSource: one class (or none), fixed node labels, or an API failure. */
function fakeSource(pub: PccPublication | undefined, labels: Record<string, string> = {}): PccSource {
  return {
    publication: async () => pub,
    nodeLabels: async () => labels,
  };
}

describe('PCC on CSI node mounts', () => {
  it('matches label selectors as Kubernetes does', () => {
    const labels = { zone: 'a', gpu: 'yes' };
    expect(selectorMatches(undefined, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { zone: 'a' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { zone: 'b' } }, labels)).toBe(false);
    const expr = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', values?: string[]) => ({
      matchExpressions: [{ key: 'gpu', operator, ...(values && { values }) }],
    });
    expect([
      selectorMatches(expr('In', ['yes']), labels),
      selectorMatches(expr('NotIn', ['yes']), labels),
      selectorMatches(expr('Exists'), labels),
      selectorMatches(expr('DoesNotExist'), labels),
      selectorMatches(expr('NotIn', ['yes']), {}),
    ]).toEqual([true, false, true, false, true]);
  });

  it('turns a published class into mount options', () => {
    expect(pccMountOptions(published({ mode: 'readwrite' }), '/c/k', '/s/k.rules')).toEqual([
      'pcc=/c/k',
      'pcc_rw',
      'pcc_rules_file=/s/k.rules',
      `pcc_size=${2 ** 30}`,
      'pcc_hwm=90',
      'pcc_lwm=75',
    ]);
    expect(pccMountOptions(published(), '/c/k', undefined).slice(0, 3)).toEqual([
      'pcc=/c/k',
      'pcc_ro',
      `pcc_size=${2 ** 30}`,
    ]);
  });

  it("keeps only the options this node's mount process accepts", () => {
    const { accepted, dropped } = acceptedOptions(['pcc=/c', 'pcc_ro', 'pcc_no_such_option=1']);
    expect(accepted).toEqual(['pcc=/c', 'pcc_ro']);
    expect(dropped).toEqual(['pcc_no_such_option=1']);
    expect(acceptedOptions(['pcc=relative', 'pcc_ro'])).toEqual({
      accepted: [],
      dropped: ['pcc=relative', 'pcc_ro'],
    });
  });

  it('plans a mount with a per-mount cache directory and rules file', async () => {
    const spec: Partial<PccClassSpec> = { autoAttach: [{ fileNames: ['*.h5'] }] };
    const rulesText = autoAttachRules(published(spec).spec).join('\n');
    const d = await planPccMount({
      source: fakeSource({ published: published(spec), rulesText }),
      className: 'fast',
      nodeName: 'n1',
      mountKey: 'fs1-abc-pcc-fast',
      stateDir: join(dir, 'state'),
    });
    if (!('plan' in d)) throw new Error(`skipped: ${d.skipped}`);
    expect(d.plan.options[0]).toBe(`pcc=${join(dir, 'fs1-abc-pcc-fast')}`);
    expect(existsSync(join(dir, 'fs1-abc-pcc-fast'))).toBe(true);
    expect(readFileSync(join(dir, 'state', 'pcc', 'fs1-abc-pcc-fast.rules'), 'utf8')).toBe('fname={*.h5}');
    expect([...d.plan.options, ...d.plan.dropped]).toContain(
      `pcc_rules_file=${join(dir, 'state', 'pcc', 'fs1-abc-pcc-fast.rules')}`,
    );
    // The mount serves its metrics on a socket under the state directory, whatever the key's length.
    const socket = metricsSocketPath(join(dir, 'state'), 'fs1-abc-pcc-fast');
    expect(d.plan.metricsSocket).toBe(socket);
    expect(d.plan.options).toContain(`metrics=${socket}`);
    expect(socket.startsWith(join(dir, 'state', 'metrics/'))).toBe(true);
    expect(metricsSocketPath('/s', 'k'.repeat(200))).toMatch(/^\/s\/metrics\/[0-9a-f]{16}\.sock$/);
    expect(existsSync(join(dir, 'state', 'metrics'))).toBe(true);
  });

  it('plans a mount without metrics when the socket path would be too long for a unix socket', async () => {
    const stateDir = join(dir, 'x'.repeat(100));
    const d = await planPccMount({
      source: fakeSource({ published: published({}), rulesText: '' }),
      className: 'fast',
      nodeName: 'n1',
      mountKey: 'long',
      stateDir,
    });
    if (!('plan' in d)) throw new Error(`skipped: ${d.skipped}`);
    expect(d.plan.metricsSocket).toBeUndefined();
    expect(d.plan.options.some((o) => o.startsWith('metrics='))).toBe(false);
    expect(d.plan.dropped).toEqual([`metrics=${metricsSocketPath(stateDir, 'long')}`]);
  });

  it('says why it mounts without PCC instead of failing', async () => {
    const plan = (source: PccSource | undefined) =>
      planPccMount({ source, className: 'fast', nodeName: 'n1', mountKey: 'k', stateDir: dir });
    const reason = async (source: PccSource | undefined) => {
      const d = await plan(source);
      return 'skipped' in d ? d.skipped : 'planned';
    };
    expect(await reason(undefined)).toMatch(/no Kubernetes API access/);
    expect(await reason(fakeSource(undefined))).toBe(
      'PCCClass fast is not published (no ConfigMap kubelustre-pcc-fast)',
    );
    const failing: PccSource = {
      publication: async () => {
        throw new Error('forbidden');
      },
      nodeLabels: async () => ({}),
    };
    expect(await reason(failing)).toBe('PCCClass fast could not be read: forbidden');
    const gpuOnly = published({ nodeSelector: { matchLabels: { gpu: 'yes' } } });
    expect(await reason(fakeSource({ published: gpuOnly, rulesText: '' }))).toBe(
      'PCCClass fast does not select node n1',
    );
    const device = published({ cache: { device: '/dev/nvme1n1', size: '1Gi' } });
    expect(await reason(fakeSource({ published: device, rulesText: '' }))).toMatch(/block-device cache/);
    const missing = published({ cache: { hostPath: join(dir, 'nope'), size: '1Gi' } });
    expect(await reason(fakeSource({ published: missing, rulesText: '' }))).toMatch(
      /cache directory .*nope\/k is unusable: ENOENT/,
    );
  });

  it("publishes rules the mount's rules-file parser reads as the class means them", () => {
    const spec: PccClassSpec = {
      cache: { hostPath: dir, size: '1Gi' },
      mode: 'readonly',
      autoAttach: [{ fileNames: ['*.h5', 'model-*'], uids: [1000] }, { projids: [7] }],
    };
    const cm = pccConfigMap(
      { apiVersion: 'kubelustre.io/v1alpha1', kind: 'PCCClass', metadata: { name: 'fast' }, spec },
      'ns',
    );
    const rules = parsePccRules(cm.data![PCC_RULES_KEY]!, { roid: 0 });
    expect(rules).toHaveLength(2);
    const file = (name: string, uid: number, projid: number) => ({ name, uid, gid: 0, projid });
    const matches = (f: ReturnType<typeof file>) => rules.some((r) => ruleMatches(r, f));
    expect(matches(file('a.h5', 1000, 0))).toBe(true);
    expect(matches(file('model-1', 1000, 0))).toBe(true);
    expect(matches(file('a.h5', 1001, 0))).toBe(false);
    expect(matches(file('x.txt', 5, 7))).toBe(true);
    expect(matches(file('x.txt', 5, 8))).toBe(false);
  });
});
