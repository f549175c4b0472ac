import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { ping } from '@kubelustre/protocol/messages/common.ts';
import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { clientMac } from '@kubelustre/protocol/wire/auth.ts';
import { encodeFrame, FrameDecoder, FrameKind } from '@kubelustre/protocol/wire/frame.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { describe, expect, it } from 'vitest';
import { startTestCluster } from '../harness/cluster.ts';
import { randomBytes, randomInt, seededRandom, seedFromEnv } from '../harness/random.ts';

const ROOT = '0x200000007:0x1:0x0';
const FUZZ_FRAMES_MAX = 600;
const FUZZ_TIME_MS = 20_000;

type Mutation = (rand: () => number) => Buffer;
interface FrameMutation {
  name: string;
  /** Send it after a successful handshake (else as the first thing on the connection). */
  authed: boolean;
  /** The client hangs up after sending (a truncated frame): the server must simply survive it. */
  hangUp?: boolean;
  /** Only for this target: elsewhere the opcode is unknown, which is answered with ENOSYS, not a close. */
  only?: 'ost' | 'mdt';
  make: Mutation;
}

/** Frames that are wrong in one way each: every one must close its connection and change nothing. */
function mutations(): FrameMutation[] {
  const meta = (o: unknown) => Buffer.from(JSON.stringify(o));
  const good = () =>
    encodeFrame(
      FrameKind.request,
      ost.write.code,
      1,
      0,
      meta({ objId: 1, offset: 0, sync: false }),
      Buffer.alloc(16, 1),
    );
  return [
    { name: 'random bytes', authed: false, make: (r) => randomBytes(r, 32 + randomInt(r, 256)) },
    { name: 'request before auth', authed: false, make: () => Buffer.concat(good()) },
    {
      name: 'flipped byte',
      authed: true,
      make: (r) => {
        const b = Buffer.concat(good());
        // Any byte but the two lengths (a longer length only makes the server wait for more bytes).
        let i = randomInt(r, b.length - 8);
        if (i >= 20) i += 8;
        b[i]! ^= 1 + randomInt(r, 255);
        return b;
      },
    },
    {
      name: 'oversized lengths',
      authed: true,
      make: (r) => {
        const b = Buffer.concat(good());
        b.writeUInt32LE(0xffffff00 + randomInt(r, 255), 20 + 4 * randomInt(r, 2));
        return b;
      },
    },
    {
      name: 'not JSON',
      authed: true,
      make: () =>
        Buffer.concat(
          encodeFrame(FrameKind.request, ost.write.code, 1, 0, Buffer.from('{objId'), Buffer.alloc(8)),
        ),
    },
    {
      name: 'schema violation (ost.write)',
      authed: true,
      only: 'ost',
      make: (r) =>
        Buffer.concat(
          encodeFrame(
            FrameKind.request,
            ost.write.code,
            1,
            0,
            meta({ objId: -randomInt(r, 5), offset: 'x', sync: 1 }),
            Buffer.alloc(8),
          ),
        ),
    },
    {
      name: 'schema violation (mdt.create)',
      authed: true,
      only: 'mdt',
      make: () =>
        Buffer.concat(
          encodeFrame(
            FrameKind.request,
            mdt.create.code,
            1,
            0,
            meta({ parent: ROOT, name: 'evil', mode: 'rw' }),
          ),
        ),
    },
    {
      name: 'reply kind from a client',
      authed: true,
      make: () => Buffer.concat(encodeFrame(FrameKind.reply, 1, 1, 0, meta({}))),
    },
    {
      name: 'truncated then closed',
      authed: true,
      hangUp: true,
      make: (r) => {
        const b = Buffer.concat(good());
        return b.subarray(0, randomInt(r, b.length - 1));
      },
    },
  ];
}

/** Opens a raw connection, optionally authenticates, sends `payload`, resolves when the server hangs up. */
function sendRaw(
  address: string,
  key: Buffer,
  m: FrameMutation,
  payload: Buffer,
): Promise<'closed' | 'open'> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const s = net.connect(Number(port), host);
    const dec = new FrameDecoder();
    const uuid = randomUUID();
    const nonce = '0'.repeat(32);
    let sent = false;
    const send = () => {
      sent = true;
      s.write(payload);
      if (m.hangUp) s.end();
    };
    const timer = setTimeout(() => {
      s.destroy();
      resolve('open');
    }, 3000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    s.on('error', () => {});
    s.on('data', (c) => {
      for (const f of dec.push(c)) {
        if (f.kind === FrameKind.hello && m.authed) {
          const hello = JSON.parse(f.meta.toString());
          const mac = clientMac(key, hello.nonce, nonce, uuid);
          s.write(
            encodeFrame(
              FrameKind.auth,
              0,
              0,
              0,
              Buffer.from(JSON.stringify({ clientUuid: uuid, nonce, mac })),
            )[0]!,
          );
        } else if (!sent) send();
      }
    });
  });
}

describe('wire fuzzing against real targets', () => {
  it('closes every malformed connection, keeps serving a good client, stores nothing, refuses wrong keys', async () => {
    const seed = seedFromEnv();
    console.log(`wire fuzz seed ${seed} (replay with KL_SEED=${seed})`);
    const rand = seededRandom(seed);
    await using tc = await startTestCluster({ osts: 1 });
    const { cluster } = tc;
    const key = cluster.key;
    const targets = [cluster.target('ost', 0).listen, cluster.target('mdt', 0).listen, cluster.mgsAddress];
    const good = targets.map(
      (address) =>
        new RpcClient({ address, key, clientUuid: randomUUID(), log: silentLogger, requestTimeoutMs: 5000 }),
    );
    const muts = mutations();
    const started = Date.now();
    let sent = 0;
    try {
      while (sent < FUZZ_FRAMES_MAX && Date.now() - started < FUZZ_TIME_MS) {
        const m = muts[randomInt(rand, muts.length)]!;
        const t = m.only === 'ost' ? 0 : m.only === 'mdt' ? 1 : randomInt(rand, targets.length);
        const outcome = await sendRaw(targets[t]!, key, m, m.make(rand));
        expect(outcome, `${m.name} against ${targets[t]} (seed ${seed})`).toBe('closed');
        expect((await good[t]!.call(ping, {})).reply.target).toBeTruthy();
        sent++;
      }
      const objects = await good[0]!.call(ost.listObjects, { after: 0, countMax: 100 });
      expect(objects.reply.objIds).toEqual([]);
      const root = await good[1]!.call(mdt.readdir, { fid: ROOT, cookie: 0, countMax: 100, plus: false });
      expect(root.reply.entries).toEqual([]);
      const intruder = new RpcClient({
        address: targets[0]!,
        key: Buffer.alloc(32, 9),
        clientUuid: randomUUID(),
        log: silentLogger,
        requestTimeoutMs: 5000,
      });
      const err = await intruder.call(ost.statfs, {}).catch((e) => e);
      intruder.close();
      expect(isKlError(err, 'EACCES')).toBe(true);
    } finally {
      for (const g of good) g.close();
    }
    console.log(`sent ${sent} malformed frames`);
    expect(sent).toBeGreaterThan(50);
  }, 120_000);
});
