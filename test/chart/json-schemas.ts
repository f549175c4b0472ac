/**
 * JSON schemas for kubeconform, made here because it cannot download any: Kubernetes' own kinds from a
 * real kube-apiserver's OpenAPI v2 document, our kinds from the CRDs' openAPIV3Schema. Both are
 * strict (an object with declared properties takes no others), as kubeconform's `-strict` expects of
 * its schemas: a misspelt field in a template then fails validation instead of being dropped by the
 * API server.
 *
 *   node test/chart/json-schemas.ts OPENAPI_V2.json OUT_DIR    writes OUT_DIR/<kind>-<group>-<version>.json
 *
 * File names follow kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json` (deployment-apps-v1.json,
 * service-v1.json) and, for CRDs, `{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

type Schema = { [key: string]: unknown };

interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** The two API machinery types whose OpenAPI v2 form (a string) is narrower than what the API takes. */
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const REF_PREFIX = '#/definitions/';

/** Schema file name → schema, for every kind the OpenAPI v2 document (`/openapi/v2`) names. */
export function builtinSchemas(openapi: { definitions: Record<string, Schema> }): Map<string, Schema> {
  const definitions = openapi.definitions;
  const out = new Map<string, Schema>();
  for (const [name, definition] of Object.entries(definitions)) {
    const gvks = definition['x-kubernetes-group-version-kind'] as GroupVersionKind[] | undefined;
    for (const gvk of gvks ?? []) {
      const file = `${gvk.kind.toLowerCase()}${kindSuffix(gvk)}.json`;
      if (out.has(file)) continue;
      const closure: Record<string, Schema> = {};
      for (const dep of referencedDefinitions(name, definitions)) {
        if (dep !== name) closure[dep] = builtinDefinition(dep, definitions[dep]!);
      }
      out.set(file, { ...builtinDefinition(name, definition), definitions: closure });
    }
  }
  return out;
}

/** kubeconform's KindSuffix: the group's first label (none for the core group) and the version. */
function kindSuffix({ group, version }: GroupVersionKind): string {
  return group === '' ? `-${version}` : `-${group.split('.')[0]!.toLowerCase()}-${version}`;
}

/** `name` and every definition it reaches through `$ref`, recursive types included once. */
function referencedDefinitions(name: string, definitions: Record<string, Schema>): Set<string> {
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    walk(definitions[n], (node) => {
      const ref = node.$ref;
      if (typeof ref === 'string' && ref.startsWith(REF_PREFIX)) visit(ref.slice(REF_PREFIX.length));
    });
  };
  visit(name);
  return seen;
}

function builtinDefinition(name: string, definition: Schema): Schema {
  if (name === INT_OR_STRING) return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  if (name === QUANTITY) return { oneOf: [{ type: 'string' }, { type: 'number' }] };
  return copySchema(definition, close);
}

/**
 * Copies `schema` without descriptions (they are most of the document's size and validate nothing),
 * handing each copied node to `finish` once its children are done.
 */
function copySchema(schema: Schema, finish: (node: Schema) => void): Schema {
  const copy = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(copy);
    if (node === null || typeof node !== 'object') return node;
    const out: Schema = {};
    for (const [key, value] of Object.entries(node)) {
      // `properties` maps field names to schemas: a field may be called "description".
      if (key === 'properties')
        out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)]));
      else if (key !== 'description') out[key] = copy(value);
    }
    finish(out);
    return out;
  };
  return copy(schema) as Schema;
}

/** Strictness: an object that declares its properties takes no others. */
function close(node: Schema): void {
  if (node.properties !== undefined && node.additionalProperties === undefined) {
    node.additionalProperties = false;
  }
}

/** Every object node of `schema`, parents before children. */
function walk(schema: unknown, visit: (node: Schema) => void): void {
  if (Array.isArray(schema)) {
    for (const item of schema) walk(item, visit);
  } else if (schema !== null && typeof schema === 'object') {
    visit(schema as Schema);
    for (const value of Object.values(schema)) walk(value, visit);
  }
}

interface CustomResourceDefinition {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: Array<{ name: string; schema?: { openAPIV3Schema: Schema } }>;
  };
}

/** `group/kind_version.json` → schema, for each served version of the CRDs among `documents`. */
export function crdSchemas(documents: unknown[]): Map<string, Schema> {
  const out = new Map<string, Schema>();
  for (const doc of documents as CustomResourceDefinition[]) {
    if (doc?.kind !== 'CustomResourceDefinition') continue;
    for (const version of doc.spec.versions) {
      if (!version.schema) continue;
      const file = `${doc.spec.group}/${doc.spec.names.kind.toLowerCase()}_${version.name}.json`;
      out.set(file, crdSchema(version.schema.openAPIV3Schema));
    }
  }
  return out;
}

/**
 * A structural schema as JSON Schema: Kubernetes' extensions become what they mean (int-or-string,
 * nullable, preserved unknown fields stay open), and the root takes apiVersion, kind and metadata
 * even where the CRD leaves them out, as the API server does. CEL rules (x-kubernetes-validations)
 * are left out: only an API server evaluates them.
 */
function crdSchema(openAPIV3Schema: Schema): Schema {
  const converted = copySchema(openAPIV3Schema, (node) => {
    if (node['x-kubernetes-int-or-string'] === true) {
      delete node.type;
      node.anyOf = [{ type: 'integer' }, { type: 'string' }];
    }
    if (node.nullable === true && typeof node.type === 'string') node.type = [node.type, 'null'];
    const open = node['x-kubernetes-preserve-unknown-fields'] === true;
    for (const key of Object.keys(node)) {
      if (key === 'nullable' || key.startsWith('x-kubernetes-')) delete node[key];
    }
    if (!open) close(node);
  });
  converted.properties = {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    ...(converted.properties as Schema | undefined),
  };
  return converted;
}

/** Writes each schema of `schemas` under `dir` as `dir/NAME`. */
export function writeSchemas(dir: string, schemas: Map<string, Schema>): void {
  for (const [file, schema] of schemas) {
    const path = join(dir, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(schema));
  }
}

if (import.meta.main) {
  const [openapiPath, outDir] = process.argv.slice(2);
  if (!openapiPath || !outDir) {
    console.error('usage: json-schemas.ts OPENAPI_V2.json OUT_DIR');
    process.exit(2);
  }
  const schemas = builtinSchemas(JSON.parse(readFileSync(openapiPath, 'utf8')));
  writeSchemas(outDir, schemas);
  console.log(`wrote ${schemas.size} schemas to ${outDir}`);
}
