import * as fs from 'node:fs';
import { join } from 'node:path';
import { getxattr, setxattr } from './libc.ts';
import type { Recorder } from './recorder.ts';

/** The unprivileged user the scenarios run as (nobody), and a group it is not in. */
export const USER_ID = 65534;
const OTHER_GID = 1234;

/** As root, before privileges are dropped: files and directories owned by others, with modes. */
export function setupForUser(d: string): void {
  const p = (n: string) => join(d, n);
  fs.chmodSync(d, 0o755);
  const files: Array<[string, string, number]> = [
    ['secret', 's', 0o600],
    ['readable', 'r', 0o644],
    ['shared', 'w', 0o666],
  ];
  // chmod after the write: the umask would clear group and other write bits.
  for (const [name, content, mode] of files) {
    fs.writeFileSync(p(name), content);
    fs.chmodSync(p(name), mode);
  }
  fs.mkdirSync(p('closed'), { mode: 0o700 });
  fs.writeFileSync(p('closed/inside'), 'i');
  fs.mkdirSync(p('open'), { mode: 0o777 });
  fs.chmodSync(p('open'), 0o777);
  fs.mkdirSync(p('sticky'), { mode: 0o777 });
  fs.chmodSync(p('sticky'), 0o1777);
  fs.writeFileSync(p('sticky/roots'), 'root');
  fs.chmodSync(p('sticky/roots'), 0o666);
  fs.mkdirSync(p('setgid'));
  fs.chownSync(p('setgid'), 0, OTHER_GID);
  fs.chmodSync(p('setgid'), 0o2777);
}

/** As USER_ID: what permissions, ownership and the sticky bit allow and refuse. */
export function userGroup(r: Recorder, d: string): void {
  const p = (n: string) => join(d, n);
  r.scenario('perm', () => {
    r.attempt('read-0600', () => fs.readFileSync(p('secret'), 'utf8'));
    r.attempt('read-0644', () => fs.readFileSync(p('readable'), 'utf8'));
    r.attempt('write-0644', () => fs.writeFileSync(p('readable'), 'x'));
    r.attempt('write-0666', () => fs.writeFileSync(p('shared'), 'mine'));
    r.attempt('create-in-0755', () => fs.writeFileSync(p('new'), ''));
    r.attempt('mkdir-in-0755', () => fs.mkdirSync(p('newdir')));
    r.attempt('unlink-in-0755', () => fs.unlinkSync(p('readable')));
    r.attempt('search-0700', () => fs.statSync(p('closed/inside')));
    r.attempt('list-0700', () => fs.readdirSync(p('closed')));
    r.attempt('chmod-others', () => fs.chmodSync(p('shared'), 0o777));
    r.attempt('chown-others', () => fs.chownSync(p('shared'), USER_ID, USER_ID));
    r.attempt('utimes-now-writable', () => fs.utimesSync(p('shared'), new Date(), new Date()));
    r.attempt('utimes-set-others', () => fs.utimesSync(p('shared'), 5, 5));
    r.attempt('truncate-readonly', () => fs.truncateSync(p('readable'), 0));
    r.attempt('setxattr-user-others', () => setxattr(p('readable'), 'user.k', Buffer.from('v')));
    r.attempt('setxattr-user-writable', () => setxattr(p('shared'), 'user.k', Buffer.from('v')));
    r.attempt('getxattr-user', () => getxattr(p('shared'), 'user.k').toString());
    r.attempt('setxattr-trusted', () => setxattr(p('shared'), 'trusted.k', Buffer.from('v')));
    r.attempt('access-w', () => fs.accessSync(p('readable'), fs.constants.W_OK));
    r.attempt('access-r', () => fs.accessSync(p('readable'), fs.constants.R_OK));
  });
  r.scenario('own', () => {
    const mine = p('open/mine');
    fs.writeFileSync(mine, 'm', { mode: 0o644 });
    r.stat('created', mine);
    r.attempt('chmod-own', () => fs.chmodSync(mine, 0o600));
    r.attempt('chown-own-to-root', () => fs.chownSync(mine, 0, USER_ID));
    r.attempt('chgrp-own-to-other-group', () => fs.chownSync(mine, USER_ID, OTHER_GID));
    r.attempt('chown-own-noop', () => fs.chownSync(mine, USER_ID, USER_ID));
    r.attempt('utimes-set-own', () => fs.utimesSync(mine, 5, 6));
    r.attempt('chmod-setgid-foreign-group', () => {
      fs.chmodSync(mine, 0o2755);
      return fs.statSync(mine).mode & 0o7777;
    });
    fs.mkdirSync(p('open/mydir'), { mode: 0o755 });
    r.stat('mkdir', p('open/mydir'));
    r.attempt('rename-own', () => fs.renameSync(mine, p('open/mine2')));
    r.attempt('rename-into-others-dir', () => fs.renameSync(p('open/mine2'), p('moved')));
  });
  r.scenario('sticky', () => {
    fs.writeFileSync(p('sticky/users'), 'u');
    r.attempt('write-roots-0666', () => fs.writeFileSync(p('sticky/roots'), 'changed'));
    r.attempt('unlink-roots', () => fs.unlinkSync(p('sticky/roots')));
    r.attempt('rename-roots', () => fs.renameSync(p('sticky/roots'), p('sticky/stolen')));
    r.attempt('rename-over-roots', () => fs.renameSync(p('sticky/users'), p('sticky/roots')));
    r.attempt('unlink-own', () => fs.unlinkSync(p('sticky/users')));
    r.rec('left', fs.readdirSync(p('sticky')).sort());
  });
  r.scenario('setgid-dir', () => {
    fs.writeFileSync(p('setgid/f'), '');
    fs.mkdirSync(p('setgid/d'));
    r.stat('file', p('setgid/f'));
    r.stat('dir', p('setgid/d'));
  });
}
