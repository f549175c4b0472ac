import { Type } from '@sinclair/typebox';
import { defineOp } from './op.ts';

export const Empty = Type.Object({});

/** Liveness check, answered by every target. */
export const ping = defineOp(1, 'ping', Empty, Type.Object({ target: Type.String() }));

/** Space and inodes of one target (statfs). */
export const Statfs = Type.Object({
  totalBytes: Type.Integer({ minimum: 0 }),
  freeBytes: Type.Integer({ minimum: 0 }),
  availBytes: Type.Integer({ minimum: 0 }),
  files: Type.Integer({ minimum: 0 }),
  filesFree: Type.Integer({ minimum: 0 }),
});

/** Handshake payloads (frame kinds hello, auth, authOk): see wire/auth.ts. */
export const Hello = Type.Object({
  proto: Type.Integer(),
  target: Type.String({ maxLength: 64 }),
  nonce: Type.String({ pattern: '^[0-9a-f]{32}$' }),
});
export const Auth = Type.Object({
  clientUuid: Type.String({ pattern: '^[0-9a-f-]{36}$' }),
  nonce: Type.String({ pattern: '^[0-9a-f]{32}$' }),
  mac: Type.String({ pattern: '^[0-9a-f]{64}$' }),
});
export const AuthOk = Type.Object({ mac: Type.String({ pattern: '^[0-9a-f]{64}$' }) });

/** Meta of a reply whose status is an error. */
export const ErrorReply = Type.Object({ message: Type.String({ maxLength: 4096 }) });
