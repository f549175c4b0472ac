import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LAST_ID_FILE, LastIdStore } from './last-id.ts';
import { OBJECTS_DIR } from './object-namespace.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-lastid-'));
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

const open = () => LastIdStore.open(dir, 'kl-OST0001', silentLogger);

describe('LastIdStore', () => {
  it('persists each reservation before returning it', async () => {
    const ids = await open();
    expect(ids.lastId).toBe(0);
    expect(await ids.reserve(100, 0)).toEqual({ first: 1, last: 100 });
    const text = await fs.readFile(path.join(dir, LAST_ID_FILE), 'utf8');
    expect(JSON.parse(text).lastId).toBe(100);
    expect((await open()).lastId).toBe(100);
  });

  it('serializes concurrent reservations into disjoint ranges', async () => {
    const ids = await open();
    const ranges = await Promise.all(Array.from({ length: 50 }, (_, i) => ids.reserve(1 + (i % 4), i % 2)));
    const sorted = ranges.sort((a, b) => a.first - b.first);
    sorted.forEach((r, i) => {
      expect(r.last).toBeGreaterThanOrEqual(r.first);
      if (i > 0) expect(r.first).toBe(sorted[i - 1]!.last + 1);
    });
    expect(ids.lastId).toBe(sorted.at(-1)!.last);
  });

  it('refuses a damaged LAST_ID', async () => {
    await (await open()).reserve(123, 0);
    const file = path.join(dir, LAST_ID_FILE);
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('123', '23'));
    const err = await open().catch((e: unknown) => e);
    expect(isKlError(err, 'EIO')).toBe(true);
    expect((err as Error).message).toMatch(/fails its checksum/);
    await fs.writeFile(file, 'garbage');
    expect(isKlError(await open().catch((e: unknown) => e), 'EIO')).toBe(true);
    await fs.writeFile(file, '{"lastId":-1}');
    expect(isKlError(await open().catch((e: unknown) => e), 'EPROTO')).toBe(true);
  });

  it('refuses to start over when LAST_ID is lost but objects exist', async () => {
    await fs.mkdir(path.join(dir, OBJECTS_DIR));
    const err = await open().catch((e: unknown) => e);
    expect(isKlError(err, 'EIO')).toBe(true);
  });
});
