import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';

const Thing = Type.Object({ name: Type.String(), n: Type.Integer() });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kl-atomic-'));
  dirs.push(dir);
  return dir;
}

describe('writeFileAtomic', () => {
  it('creates and replaces a file, leaving no temp files behind', async () => {
    const dir = await tempDir();
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, Buffer.from('two'));
    expect(await readFile(path, 'utf8')).toBe('two');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('fails with the errno code of the cause and cleans up', async () => {
    const dir = await tempDir();
    await expect(writeFileAtomic(join(dir, 'missing', 'x'), 'a')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('readJsonFile', () => {
  it('returns undefined for a missing file and the value for a valid one', async () => {
    const dir = await tempDir();
    const path = join(dir, 't.json');
    expect(await readJsonFile(path, Thing)).toBeUndefined();
    await writeFileAtomic(path, JSON.stringify({ name: 'a', n: 1 }));
    expect(await readJsonFile(path, Thing)).toEqual({ name: 'a', n: 1 });
  });

  it('refuses a file that is not JSON with EIO, and one of the wrong shape with EPROTO', async () => {
    const dir = await tempDir();
    const path = join(dir, 't.json');
    await writeFile(path, '{"name": "a", "n"');
    await expect(readJsonFile(path, Thing)).rejects.toMatchObject({ code: 'EIO' });
    await writeFile(path, '{"name": "a", "n": "one"}');
    const err = await readJsonFile(path, Thing).catch((e) => e);
    expect(err).toMatchObject({ code: 'EPROTO' });
    expect(err.message).toContain('/n');
  });
});
