/**
 * Runs one group of POSIX scenarios in a directory and prints what they observed as JSON: the child
 * process side of posix.test.ts (so the same code runs against the mount and a local directory, and can
 * drop privileges without affecting the test runner). `run-scenarios.ts GROUP DIR`.
 */
import { mkdirSync } from 'node:fs';
import { Recorder } from './recorder.ts';
import { type Group, mmapGroup, openUnlinkGroup, rootGroup, sparseGroup } from './scenarios.ts';
import { setupForUser, USER_ID, userGroup } from './user-scenarios.ts';

const groups: Record<string, Group> = {
  root: rootGroup,
  'open-unlink': openUnlinkGroup,
  sparse: sparseGroup,
  mmap: mmapGroup,
  user: (r, d) => {
    setupForUser(d);
    process.setgroups?.([]);
    process.setgid?.(USER_ID);
    process.setuid?.(USER_ID);
    userGroup(r, d);
  },
};

const [name, dir] = process.argv.slice(2);
const group = name ? groups[name] : undefined;
if (!group || !dir) {
  console.error(`usage: run-scenarios.ts ${Object.keys(groups).join('|')} DIR`);
  process.exit(2);
}
// The same umask on both sides, so modes do not depend on the caller's.
process.umask(0o022);
mkdirSync(dir, { recursive: true });
const r = new Recorder();
group(r, dir);
console.log(JSON.stringify(r.out));
