/**
 * Writes crds/*.yaml from the TypeScript schemas (the one source of truth). Run after changing a schema:
 *   node operator/src/crds/write-crds.ts
 * crds.test.ts fails while the files differ from what this writes.
 */
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CRD_DIR, crdDefinitions, crdFileName, renderCrdYaml } from './generate.ts';

async function writeCrds(): Promise<void> {
  const wanted = new Set(crdDefinitions.map(crdFileName));
  for (const def of crdDefinitions) {
    await writeFile(join(CRD_DIR, crdFileName(def)), renderCrdYaml(def));
    console.log(`Wrote crds/${crdFileName(def)}`);
  }
  // A kind that was renamed or dropped must not leave its old CRD behind.
  for (const name of await readdir(CRD_DIR)) {
    if (name.endsWith('.yaml') && !wanted.has(name)) {
      await rm(join(CRD_DIR, name));
      console.log(`Removed stale crds/${name}`);
    }
  }
}

await writeCrds();
