/**
 * Turns a TypeBox schema into a structural OpenAPI v3 schema, the subset a CustomResourceDefinition
 * accepts: TypeBox's symbols are dropped (only string keys are read), literal unions become `enum`,
 * records become `additionalProperties`, and every other keyword must be one Kubernetes knows, or this
 * throws. Throwing beats emitting a keyword the API server would reject (or worse, silently ignore).
 */

type Schema = Record<string, unknown>;

/** Output key order: what a reader of the YAML wants first. Also the list of keywords we accept. */
const KEYWORD_ORDER = [
  'description',
  'type',
  'format',
  'default',
  'enum',
  'nullable',
  'minimum',
  'maximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'anyOf',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
] as const;

const KNOWN = new Set<string>(KEYWORD_ORDER);

export function toStructural(schema: unknown, path = '$'): Schema {
  const source = normalize(asSchema(schema, path), path);
  const out: Schema = {};
  for (const key of Object.keys(source)) {
    if (!KNOWN.has(key)) throw new Error(`${path}: keyword '${key}' has no place in a CRD schema`);
  }
  for (const key of KEYWORD_ORDER) {
    const value = source[key];
    if (value === undefined) continue;
    out[key] = convertChild(key, value, path);
  }
  return out;
}

function convertChild(key: string, value: unknown, path: string): unknown {
  switch (key) {
    case 'properties':
      return Object.fromEntries(
        Object.entries(asSchema(value, path)).map(([name, child]) => [
          name,
          toStructural(child, `${path}.${name}`),
        ]),
      );
    case 'items':
    case 'additionalProperties':
      return toStructural(value, `${path}[*]`);
    case 'anyOf':
      return (value as unknown[]).map((branch, i) => toStructural(branch, `${path}.anyOf[${i}]`));
    default:
      return value;
  }
}

/** Rewrites the TypeBox shapes that have a direct structural equivalent. */
function normalize(schema: Schema, path: string): Schema {
  const { anyOf, const: constant, patternProperties, ...rest } = schema;
  if (constant !== undefined) return { ...rest, enum: [constant] };
  if (patternProperties !== undefined) {
    const values = Object.values(asSchema(patternProperties, path));
    if (values.length !== 1) throw new Error(`${path}: a record needs exactly one value schema`);
    return { ...rest, additionalProperties: values[0] };
  }
  if (anyOf === undefined) return schema;
  const branches = anyOf as Schema[];
  if (branches.every((b) => b.const !== undefined)) {
    const types = new Set(branches.map((b) => b.type));
    if (types.size !== 1) throw new Error(`${path}: an enum's literals must share one type`);
    return { ...rest, type: branches[0]!.type, enum: branches.map((b) => b.const) };
  }
  // The one union structural schemas allow: int-or-string, with the types only inside anyOf.
  if (rest['x-kubernetes-int-or-string'] === true) return schema;
  throw new Error(`${path}: unions other than literal enums and int-or-string are not structural`);
}

function asSchema(value: unknown, path: string): Schema {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${path}: expected a schema object`);
  }
  return value as Schema;
}
