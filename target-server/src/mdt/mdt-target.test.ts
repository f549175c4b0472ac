import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT_FID } from './fid.ts';
import { S_IFDIR, S_IFREG } from './inodes.ts';
import { Store } from './store.ts';
import { TestCluster } from './test-mdt.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function cluster(osts: number): Promise<TestCluster> {
  const c = await TestCluster.start(osts);
  cleanups.push(() => c.stop());
  return c;
}

const createReq = (name: string, mode = S_IFREG | 0o644) => ({
  parent: ROOT_FID,
  name,
  mode,
  uid: 0,
  gid: 0,
  exclusive: true,
});

describe('MDT target', () => {
  it('is named fsname-MDT0000, is ready at once, fills its pools, and exports metrics', async () => {
    const c = await cluster(2);
    const { mdt: target, registry, client } = await c.startMdt();
    expect(target.name).toBe('fs1-MDT0000');
    expect(target.ready()).toBe(true);
    await TestCluster.waitReady(target);
    expect(target.poolsFilled()).toBe(true);
    await client.call(mdt.create, createReq('f'));
    const text = await registry.metrics();
    expect(text).toMatch(/kubelustre_mdt_inodes 2/);
    expect(text).toMatch(/kubelustre_mdt_destroy_log_objects 0/);
    expect(text).toMatch(/kubelustre_mdt_precreated_objects\{ost="1"\} \d+/);
    expect((await target.statfs()).filesFree).toBeGreaterThan(0);
  });

  it('destroys the objects of unlinked files, also when a restart interrupted it', async () => {
    const c = await cluster(1);
    const a = await c.startMdt({
      osp: { statfsIntervalMs: 200, requestTimeoutMs: 300 },
      destroy: { backoffMinMs: 60_000, backoffMaxMs: 60_000 },
    });
    await TestCluster.waitReady(a.mdt);
    const f = (await a.client.call(mdt.create, createReq('f'))).reply.attr.fid;
    const { layout } = (await a.client.call(mdt.layoutIntent, { fid: f, start: 0, end: 1 })).reply;
    const objId = layout.components[0]!.objects![0]!.objId;
    const ostClient = c.client(c.osts[0]!.address);
    await ostClient.call(ost.write, { objId, offset: 0, sync: false, projid: 0 }, Buffer.from('data'));
    const listed = async () =>
      (await ostClient.call(ost.listObjects, { after: 0, countMax: 100 })).reply.objIds;
    expect(await listed()).toContain(objId);

    await c.stopOst(0);
    await a.client.call(mdt.unlink, { parent: ROOT_FID, name: 'f', dir: false });
    await expect(a.mdt.drained(1000)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    // Instance a is abandoned as if killed: its destroy failed and it will not retry within this test.
    await c.restartOst(0);
    const b = await c.startMdt({ destroy: { backoffMinMs: 50 } });
    await b.mdt.drained(10_000);
    expect(await listed()).not.toContain(objId);
  });

  it('leaves a consistent namespace when the process is killed mid-work', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kl-mdt-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await runAndKill(dir, 600);
    const store = new Store(dir, 0);
    cleanups.push(() => store.close());
    expect(store.integrityCheck()).toBe('ok');
    const inodes = store.get('SELECT count(*) AS n FROM inodes')?.n as number;
    expect(inodes).toBeGreaterThan(20);
    expect(Number(store.getMeta('inode_count'))).toBe(inodes);
    expect(namespaceProblems(store)).toEqual([]);
  });
});

/** Runs random namespace operations in a child process and kills it with SIGKILL after `afterMs`. */
async function runAndKill(dir: string, afterMs: number): Promise<void> {
  const url = (f: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, f)).href);
  const script = `
    const { Store } = await import(${url('store.ts')});
    const ns = await import(${url('namespace.ts')});
    const { rename } = await import(${url('rename.ts')});
    const { LayoutPolicy } = await import(${url('layouts.ts')});
    const { OstProxy } = await import(${url('ost-proxy.ts')});
    const { silentLogger } = await import('@kubelustre/protocol/log.ts');
    const store = new Store(${JSON.stringify(dir)}, 50);
    ns.ensureRoot(store);
    const m = { store, layouts: new LayoutPolicy(new OstProxy(0, Buffer.alloc(32), silentLogger)), inodesMax: 1e9, destroyLogged() {} };
    const dirs = () => store.all("SELECT fid FROM inodes WHERE mode & 61440 = 16384").map((r) => r.fid);
    const pick = (a) => a[Math.floor(Math.random() * a.length)];
    const entry = () => store.get('SELECT parent, name, child FROM dentries ORDER BY random() LIMIT 1');
    const ops = [
      () => ns.create(m, { parent: pick(dirs()), name: 'd' + Math.random(), mode: ${S_IFDIR | 0o755}, uid: 0, gid: 0, exclusive: true }),
      () => ns.create(m, { parent: pick(dirs()), name: 'f' + Math.random(), mode: ${S_IFREG | 0o644}, uid: 0, gid: 0, exclusive: true }),
      () => { const e = entry(); if (e) ns.unlink(m, e.parent, e.name, e.name.startsWith('d')); },
      () => { const e = entry(); if (e) rename(m, { srcParent: e.parent, srcName: e.name, dstParent: pick(dirs()), dstName: e.name[0] + Math.random(), flags: 0 }); },
      () => { const e = entry(); if (e && e.name.startsWith('f')) ns.link(m, e.child, pick(dirs()), 'f' + Math.random()); },
    ];
    let n = 0;
    for (;;) {
      try { store.txn(pick(ops)); } catch (e) { if (!e.code) throw e; }
      if (++n === 50) console.log('started');
      if (n % 100 === 0) await new Promise((r) => setImmediate(r));
    }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`crash child did not start: ${stderr}`)), 10_000);
    child.stdout.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  await new Promise((r) => setTimeout(r, afterMs));
  child.kill('SIGKILL');
  expect(await exited, `the child failed before it was killed: ${stderr}`).toBe('SIGKILL');
}

/** What a namespace checker (lfsck) would report: dangling entries and wrong link counts. */
function namespaceProblems(store: Store): string[] {
  const problems: string[] = [];
  const dangling = store.all('SELECT parent, name FROM dentries WHERE child NOT IN (SELECT fid FROM inodes)');
  for (const d of dangling) problems.push(`entry ${d.name} in ${d.parent} names no inode`);
  const counts = store.all(`
    SELECT i.fid, i.mode, i.nlink,
      (SELECT count(*) FROM dentries d WHERE d.child = i.fid) AS names,
      (SELECT count(*) FROM dentries d JOIN inodes s ON s.fid = d.child
        WHERE d.parent = i.fid AND s.mode & 61440 = 16384) AS subdirs
    FROM inodes i`);
  for (const r of counts) {
    const isDir = ((r.mode as number) & 0o170000) === S_IFDIR;
    const expected = isDir ? 2 + (r.subdirs as number) : (r.names as number);
    if (r.nlink !== expected) problems.push(`${r.fid} has nlink ${r.nlink}, expected ${expected}`);
    if (r.fid !== ROOT_FID && r.names === 0) problems.push(`${r.fid} has no name`);
  }
  return problems;
}
