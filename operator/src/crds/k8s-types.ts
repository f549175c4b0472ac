import { type Static, Type } from '@sinclair/typebox';
import { celRules } from './cel.ts';

/**
 * Kubernetes' own types as they appear inside our CRDs (the same field names and constraints as in
 * k8s.io/api), so a user writes tolerations, resources and selectors exactly as in a Pod.
 */

/** resource.Quantity's serialization: an integer or a string such as `100Gi`, `1.5T` or `500m`. */
const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** A Quantity as k8s.io/api declares it (`x-kubernetes-int-or-string`), for resources. */
export const Quantity = Type.Union([Type.Integer(), Type.String()], {
  pattern: QUANTITY_PATTERN,
  'x-kubernetes-int-or-string': true,
});

/** A size in bytes written as a quantity string (`100Gi`), checked with CEL's quantity library. */
export function sizeQuantity(field: string, description: string) {
  return Type.String({
    description,
    maxLength: 64,
    ...celRules({
      rule: "isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
      message: `${field} must be a positive quantity such as 100Gi`,
    }),
  });
}

export const ResourceRequirements = Type.Object(
  {
    limits: Type.Optional(Type.Record(Type.String(), Quantity, { maxProperties: 16 })),
    requests: Type.Optional(Type.Record(Type.String(), Quantity, { maxProperties: 16 })),
  },
  { description: 'CPU and memory requests and limits of the container, as in a Pod.' },
);

export const Toleration = Type.Object({
  key: Type.Optional(Type.String({ maxLength: 316 })),
  operator: Type.Optional(Type.Union([Type.Literal('Exists'), Type.Literal('Equal')])),
  value: Type.Optional(Type.String({ maxLength: 63 })),
  effect: Type.Optional(
    Type.Union([Type.Literal('NoSchedule'), Type.Literal('PreferNoSchedule'), Type.Literal('NoExecute')]),
  ),
  tolerationSeconds: Type.Optional(Type.Integer({ format: 'int64' })),
});

export const NodeSelector = Type.Record(Type.String(), Type.String({ maxLength: 63 }), {
  description: 'Node labels the pods must match, as in a Pod.',
  maxProperties: 64,
  'x-kubernetes-map-type': 'atomic',
});

/**
 * core/v1 Affinity is large and validated by the API server when the operator creates the StatefulSet,
 * so the CRD keeps it as-is instead of copying a schema that would drift from Kubernetes'.
 */
export const Affinity = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  description: "Pod affinity and anti-affinity, as in a Pod's spec.affinity.",
  'x-kubernetes-preserve-unknown-fields': true,
});

export function labelSelector(description: string) {
  return Type.Object(
    {
      matchLabels: Type.Optional(
        Type.Record(Type.String(), Type.String({ maxLength: 63 }), { maxProperties: 64 }),
      ),
      matchExpressions: Type.Optional(
        Type.Array(
          Type.Object({
            key: Type.String({ maxLength: 316 }),
            operator: Type.Union([
              Type.Literal('In'),
              Type.Literal('NotIn'),
              Type.Literal('Exists'),
              Type.Literal('DoesNotExist'),
            ]),
            values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
          }),
          { maxItems: 32 },
        ),
      ),
    },
    { description, 'x-kubernetes-map-type': 'atomic' },
  );
}

/** A reference to a key of a Secret in the object's namespace. */
export function secretKeyRef(description: string) {
  return Type.Object(
    {
      name: Type.String({ minLength: 1, maxLength: 253, description: 'The Secret, in the same namespace.' }),
      key: Type.Optional(
        Type.String({ minLength: 1, maxLength: 253, default: 'key', description: 'The key in the Secret.' }),
      ),
    },
    { description },
  );
}

/**
 * metav1.Condition, with `type` limited to the kinds' own condition types. A list keyed by type, so
 * server-side apply merges one condition at a time.
 */
export function conditions<const T extends string>(types: readonly T[]) {
  const condition = Type.Object({
    type: Type.Union(
      types.map((t) => Type.Literal(t)),
      { description: 'What the condition is about.' },
    ),
    status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')]),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    lastTransitionTime: Type.String({ format: 'date-time' }),
    reason: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Type.String({ maxLength: 32768 }),
  });
  return Type.Array(condition, {
    maxItems: 16,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  });
}

export const ObservedGeneration = Type.Integer({
  minimum: 0,
  format: 'int64',
  description: 'The metadata.generation the status describes.',
});

export type Quantity = Static<typeof Quantity>;
export type Toleration = Static<typeof Toleration>;
export type ResourceRequirements = Static<typeof ResourceRequirements>;
