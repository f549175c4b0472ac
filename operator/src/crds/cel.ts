/**
 * CEL validation rules (`x-kubernetes-validations`) attached to TypeBox schemas. The API server
 * evaluates them on create and update and answers with `message`, so every message names the field
 * and says what is allowed in words a user of `kubectl apply` understands.
 */
export interface CelRule {
  rule: string;
  message: string;
  /** Reported field, relative to the schema the rule sits on (e.g. `.end`), when not the schema itself. */
  fieldPath?: string;
}

/** Schema options carrying CEL rules; spread into a TypeBox schema's options. */
export function celRules(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/**
 * A rule comparing a field with its stored value (a transition rule). The API server skips it on create
 * and when the field was absent before, which is what "cannot change once set" means.
 */
export function immutable(what: string): CelRule {
  return { rule: 'self == oldSelf', message: `${what} cannot change once set` };
}
