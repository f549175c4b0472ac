import type { Static, TObject } from '@sinclair/typebox';

/**
 * One RPC: its opcode on the wire, a name for logs and metrics, and one schema per direction. `mutating`
 * operations are answered from the target's reply cache when a client resends them after a reconnect,
 * so they happen exactly once.
 */
export interface OpDef<Req extends TObject = TObject, Rep extends TObject = TObject> {
  readonly code: number;
  readonly name: string;
  readonly request: Req;
  readonly reply: Rep;
  readonly mutating: boolean;
}

export function defineOp<Req extends TObject, Rep extends TObject>(
  code: number,
  name: string,
  request: Req,
  reply: Rep,
  mutating = false,
): OpDef<Req, Rep> {
  return { code, name, request, reply, mutating };
}

export type RequestOf<O extends OpDef> = Static<O['request']>;
export type ReplyOf<O extends OpDef> = Static<O['reply']>;
