import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { CRD_DIR, crdDefinitions, crdFileName, customResourceDefinition, renderCrdYaml } from './generate.ts';
import { toStructural } from './structural.ts';

describe('crds/ matches the TypeScript schemas', () => {
  it.each(crdDefinitions.map((def) => [def.kind, def] as const))('%s', async (_kind, def) => {
    const onDisk = await readFile(join(CRD_DIR, crdFileName(def)), 'utf8').catch(() => '');
    // On failure: run `node operator/src/crds/write-crds.ts` and commit crds/.
    expect(onDisk, `crds/${crdFileName(def)} is stale: run node operator/src/crds/write-crds.ts`).toBe(
      renderCrdYaml(def),
    );
  });

  it('holds no CRD that no schema generates', async () => {
    const files = (await readdir(CRD_DIR)).filter((name) => name.endsWith('.yaml')).sort();
    expect(files).toEqual(crdDefinitions.map(crdFileName).sort());
  });
});

describe('customResourceDefinition', () => {
  it('names every kind in group kubelustre.io with a kl short name and the kubelustre category', () => {
    for (const def of crdDefinitions) {
      const crd = customResourceDefinition(def);
      expect(crd.metadata.name).toBe(`${def.plural}.kubelustre.io`);
      expect(crd.spec.names.shortNames[0]).toMatch(/^kl/);
      expect(crd.spec.names.categories).toEqual(['kubelustre']);
      expect(crd.spec.versions[0]!.subresources).toEqual({ status: {} });
      expect(crd.spec.versions[0]!.additionalPrinterColumns.at(-1)!.name).toBe('Age');
    }
  });

  it('gives LustreFileSystem the Phase, MDTs, OSTs, Capacity and Age columns by default', () => {
    const lfs = crdDefinitions.find((def) => def.kind === 'LustreFileSystem')!;
    const columns = customResourceDefinition(lfs).spec.versions[0]!.additionalPrinterColumns;
    expect(columns.filter((c) => !('priority' in c)).map((c) => c.name)).toEqual([
      'Phase',
      'MDTs',
      'OSTs',
      'Capacity',
      'Age',
    ]);
  });

  it('bounds every array, so the API server can bound the cost of CEL rules over it', () => {
    const unbounded: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Record<string, unknown>;
      if (schema.type === 'array' && schema.maxItems === undefined) unbounded.push(path);
      for (const [key, child] of Object.entries(schema)) visit(child, `${path}.${key}`);
    };
    for (const def of crdDefinitions) visit(customResourceDefinition(def).spec, def.kind);
    expect(unbounded).toEqual([]);
  });
});

describe('toStructural', () => {
  it('turns literal unions into enums and records into additionalProperties', () => {
    const schema = Type.Object({
      mode: Type.Union([Type.Literal('readonly'), Type.Literal('readwrite')]),
      labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    });
    expect(toStructural(schema)).toEqual({
      type: 'object',
      required: ['mode'],
      properties: {
        mode: { type: 'string', enum: ['readonly', 'readwrite'] },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    });
  });

  it('keeps int-or-string unions and x-kubernetes keywords', () => {
    const quantity = Type.Union([Type.Integer(), Type.String()], { 'x-kubernetes-int-or-string': true });
    expect(toStructural(quantity)).toEqual({
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      'x-kubernetes-int-or-string': true,
    });
  });

  it('refuses unions that are not structural, naming the field', () => {
    const schema = Type.Object({ size: Type.Union([Type.Integer(), Type.Boolean()]) });
    expect(() => toStructural(schema, 'spec')).toThrow('spec.size: unions other than literal enums');
  });

  it('refuses keywords a CRD does not know instead of emitting them', () => {
    expect(() => toStructural(Type.Integer({ exclusiveMinimum: 0 }), 'spec.count')).toThrow(
      "spec.count: keyword 'exclusiveMinimum' has no place in a CRD schema",
    );
  });
});
