import { describe, expect, it } from 'vitest';
import { matchingRule, parsePccRule, parsePccRules, ruleMatches, wildcardMatches } from './pcc-rules.ts';

const subject = (name: string, uid = 0, gid = 0, projid = 0) => ({ name, uid, gid, projid });

describe('PCC auto-attach rules', () => {
  it("parses Lustre's lctl pcc add syntax: ',' of '&' of FIELD={...}, then parameters", () => {
    const r = parsePccRule('projid={500 1000}&fname={*.h5},uid={1001} rwid=2');
    expect(r.conditions).toEqual([
      [
        { field: 'projid', values: [500, 1000] },
        { field: 'fname', values: ['*.h5'] },
      ],
      [{ field: 'uid', values: [1001] }],
    ]);
    expect(r).toMatchObject({ rwid: 2, roid: undefined, openAttach: true, ioAttach: true, statAttach: true });
    expect(ruleMatches(r, subject('a.h5', 0, 0, 500))).toBe(true);
    expect(ruleMatches(r, subject('a.h5', 0, 0, 7))).toBe(false); // projid fails the first conjunction
    expect(ruleMatches(r, subject('a.txt', 1001))).toBe(true); // the second one matches
    expect(ruleMatches(r, subject('a.txt', 1002, 0, 1000))).toBe(false);
  });

  it("takes '|' for ',' (inside a mount option), flags, and the mount mode's id by default", () => {
    const r = parsePccRule('fname={*.nc}|gid={7} roid=3 open_attach=0 stat_attach=1');
    expect(r.conditions).toHaveLength(2);
    expect(r).toMatchObject({ roid: 3, rwid: undefined, openAttach: false, ioAttach: true });
    expect(() => parsePccRule('uid={5} auto_attach=0')).toThrow(/needs rwid=N or roid=N/);
    expect(parsePccRule('uid={5} auto_attach=0', { roid: 1 })).toMatchObject({
      roid: 1,
      openAttach: false,
      ioAttach: false,
      statAttach: false,
    });
    expect(parsePccRule('fname={*.h5} roid=2', { rwid: 1 })).toMatchObject({ roid: 2, rwid: undefined });
  });

  it('refuses what does not parse, saying why', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /empty/],
      ['fname=*.h5 roid=1', /FIELD=\{VALUE/],
      ['size={10} roid=1', /unknown field "size"/],
      ['uid={x} roid=1', /not a uid/],
      ['uid={} roid=1', /no values|FIELD/],
      ['uid={1}&&gid={2} roid=1', /FIELD=\{VALUE/],
      ['uid={1} roid=0', /roid must be/],
      ['uid={1} roid=1 open_attach=2', /0 or 1/],
      ['uid={1} roid=1 hsm=1', /unknown parameter/],
      ['fname={a/b} roid=1', /no "\/"/],
    ];
    for (const [text, why] of bad) expect(() => parsePccRule(text), text).toThrow(why);
  });

  it('reads a rules file: a rule per line, comments and blanks skipped', () => {
    const rules = parsePccRules('# from PCCClass gpu\nfname={*.h5}\n\nprojid={1000}\n', { roid: 1 });
    expect(rules.map((r) => r.text)).toEqual(['fname={*.h5}', 'projid={1000}']);
    expect(() => parsePccRules('fname={*.h5}\nnonsense\n', { roid: 1 })).toThrow(/nonsense/);
  });

  it('picks the first rule of the wanted mode', () => {
    const rules = [parsePccRule('fname={*.h5} roid=1'), parsePccRule('fname={*} rwid=2')];
    expect(matchingRule(rules, subject('x.h5'), 'ro')?.roid).toBe(1);
    expect(matchingRule(rules, subject('x.h5'), 'rw')?.rwid).toBe(2);
    expect(matchingRule(rules, subject('x.txt'), 'ro')).toBeUndefined();
  });

  it("matches names with '*' only, as Lustre's cfs_match_wildcard", () => {
    const cases: Array<[string, string, boolean]> = [
      ['*.h5', 'a.h5', true],
      ['*.h5', '.h5', true],
      ['*.h5', 'a.h55', false],
      ['data*', 'data', true],
      ['d*t*a', 'dxxtyya', true],
      ['d*t*a', 'dta', true],
      ['d*t*a', 'da', false],
      ['*', '', true],
      ['a?c', 'abc', false],
      ['a?c', 'a?c', true],
      ['exact', 'exact', true],
      ['ab*ba', 'aba', false],
    ];
    for (const [p, n, want] of cases) expect(wildcardMatches(p, n), `${p} ~ ${n}`).toBe(want);
  });
});
