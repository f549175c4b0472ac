import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bindFsName, IDENTITY_FILE, openTargetIdentity } from './target-identity.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kl-identity-'));
  dirs.push(dir);
  return join(dir, 'data'); // not there yet: the first start creates it
}

describe('target identity', () => {
  it('is created on first start and the same on later starts', async () => {
    const dir = await dataDir();
    const first = await openTargetIdentity(dir, { role: 'ost', index: 2 });
    expect(first).toMatchObject({ role: 'ost', index: 2 });
    expect(first.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(await openTargetIdentity(dir, { role: 'ost', index: 2 })).toEqual(first);
    expect(JSON.parse(await readFile(join(dir, IDENTITY_FILE), 'utf8'))).toEqual(first);
  });

  it('refuses a data directory of another role or index', async () => {
    const dir = await dataDir();
    await openTargetIdentity(dir, { role: 'ost', index: 2 });
    await expect(openTargetIdentity(dir, { role: 'ost', index: 3 })).rejects.toThrow(
      /belongs to ost index 2, not ost index 3/,
    );
    await expect(openTargetIdentity(dir, { role: 'mdt', index: 2 })).rejects.toMatchObject({
      code: 'EEXIST',
    });
  });

  it('binds a filesystem once and refuses another', async () => {
    const dir = await dataDir();
    const id = await openTargetIdentity(dir, { role: 'mdt', index: 0 });
    const bound = await bindFsName(dir, id, 'fs1');
    expect(bound.fsName).toBe('fs1');
    const reopened = await openTargetIdentity(dir, { role: 'mdt', index: 0 });
    expect(reopened).toEqual(bound);
    await expect(bindFsName(dir, reopened, 'fs2')).rejects.toThrow(/belongs to filesystem "fs1", not "fs2"/);
  });

  it('records the MGS filesystem at creation and refuses another one later', async () => {
    const dir = await dataDir();
    await openTargetIdentity(dir, { role: 'mgs', index: 0, fsName: 'fs1' });
    await expect(openTargetIdentity(dir, { role: 'mgs', index: 0, fsName: 'fs2' })).rejects.toMatchObject({
      code: 'EEXIST',
    });
  });
});
