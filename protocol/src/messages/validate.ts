import type { Static, TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { KlError } from '../errors.ts';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerFor<S extends TSchema>(schema: S): TypeCheck<S> {
  let c = compiled.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c as TypeCheck<S>;
}

/** Parses JSON bytes and checks them against `schema`; throws EPROTO naming the first violation. */
export function decodeMessage<S extends TSchema>(schema: S, bytes: Buffer, what: string): Static<S> {
  let value: unknown;
  try {
    value = bytes.length === 0 ? {} : JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new KlError('EPROTO', `${what}: not JSON: ${(e as Error).message}`);
  }
  return checkMessage(schema, value, what);
}

export function checkMessage<S extends TSchema>(schema: S, value: unknown, what: string): Static<S> {
  const checker = checkerFor(schema);
  if (!checker.Check(value)) {
    const first = checker.Errors(value).First();
    const where = first ? `${first.path || '/'}: ${first.message}` : 'invalid';
    throw new KlError('EPROTO', `${what}: ${where}`);
  }
  return value;
}

export function encodeMessage(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
