import { KlError } from '@kubelustre/protocol/errors.ts';

/*
 * Auto-attach rules in the syntax of Lustre's `lctl pcc add MNT PCC --param "RULE PARAMS"`:
 *
 *   RULE   := CONJ (',' CONJ)*          any conjunction matching makes the rule match
 *   CONJ   := EXPR ('&' EXPR)*          every expression must match
 *   EXPR   := FIELD '={' VALUE (' ' VALUE)* '}'   any value of the list may match
 *   FIELD  := uid | gid | projid | fname          (fname: '*' wildcards on the last path component)
 *   PARAMS := (rwid=N | roid=N | auto_attach=0|1 | open_attach=0|1 | io_attach=0|1 | stat_attach=0|1)*
 *
 * e.g. `projid={500 1000}&fname={*.h5},uid={1001} rwid=2`. In a mount option (`-o pcc_rule=...`),
 * where ',' separates options, '|' stands for the ',' between conjunctions.
 */

export type RuleField = 'uid' | 'gid' | 'projid' | 'fname';

export interface RuleExpression {
  field: RuleField;
  /** ids for uid/gid/projid, patterns for fname. */
  values: ReadonlyArray<number | string>;
}

export interface PccRule {
  /** The rule as written (for logs). */
  text: string;
  /** Disjunction of conjunctions. */
  conditions: ReadonlyArray<ReadonlyArray<RuleExpression>>;
  /** Read-write archive id: matching files created through this mount are attached read-write. */
  rwid: number | undefined;
  /** Read-only id: matching files are attached read-only when opened (or first read). */
  roid: number | undefined;
  /** Lustre's attach triggers; `auto_attach=0` clears all. */
  openAttach: boolean;
  ioAttach: boolean;
  statAttach: boolean;
}

/** What a rule is matched against: the file's last name component and its ids. */
export interface RuleSubject {
  name: string;
  uid: number;
  gid: number;
  projid: number;
}

const FIELDS = new Set<string>(['uid', 'gid', 'projid', 'fname']);
const ID_MAX = 0xffff_ffff;
const RULE_CHARS_MAX = 4096;

function invalid(text: string, why: string): KlError {
  return new KlError('EINVAL', `PCC rule "${text}": ${why}`);
}

/**
 * Parses one rule. `defaults` gives the ids a rule without rwid/roid gets (from the mount's mode: a
 * PCCClass's rules carry conditions only). Throws EINVAL saying what is wrong.
 */
export function parsePccRule(text: string, defaults: { rwid?: number; roid?: number } = {}): PccRule {
  const source = text.trim();
  if (source === '' || source.length > RULE_CHARS_MAX) throw invalid(text, 'empty or too long');
  const { conds, params } = splitConditions(source);
  const rule: PccRule = {
    text: source,
    conditions: conds
      .replaceAll('|', ',')
      .split(',')
      .map((conj) => conj.split('&').map((expr) => parseExpression(text, expr))),
    rwid: undefined,
    roid: undefined,
    openAttach: true,
    ioAttach: true,
    statAttach: true,
  };
  for (const pair of params) applyParam(text, rule, pair);
  if (rule.rwid === undefined && rule.roid === undefined) {
    rule.rwid = defaults.rwid;
    rule.roid = defaults.roid;
  }
  if (rule.rwid === undefined && rule.roid === undefined) throw invalid(text, 'needs rwid=N or roid=N');
  return rule;
}

/** The conditions (up to the first blank outside braces) and the key=value words after them. */
function splitConditions(source: string): { conds: string; params: string[] } {
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (depth === 0 && /\s/.test(c!)) {
      return { conds: source.slice(0, i), params: source.slice(i).trim().split(/\s+/) };
    }
  }
  return { conds: source, params: [] };
}

function parseExpression(text: string, expr: string): RuleExpression {
  const m = /^([a-z]+)=\{([^{}]*)\}$/.exec(expr.trim());
  if (!m) throw invalid(text, `"${expr}" is not FIELD={VALUE ...}`);
  const [, field, list] = m as unknown as [string, string, string];
  if (!FIELDS.has(field)) throw invalid(text, `unknown field "${field}" (uid, gid, projid or fname)`);
  const words = list.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw invalid(text, `"${expr}" has no values`);
  if (field === 'fname') {
    if (words.some((w) => w.includes('/'))) throw invalid(text, 'fname patterns match one name: no "/"');
    return { field, values: words };
  }
  const ids = words.map((w) => {
    const id = Number(w);
    if (!/^\d+$/.test(w) || id > ID_MAX) throw invalid(text, `"${w}" is not a ${field}`);
    return id;
  });
  return { field: field as RuleField, values: ids };
}

function applyParam(text: string, rule: PccRule, pair: string): void {
  const m = /^([a-z_]+)=(\d+)$/.exec(pair);
  if (!m) throw invalid(text, `"${pair}" is not KEY=NUMBER`);
  const [, key, value] = m as unknown as [string, string, string];
  const n = Number(value);
  const flag = (): boolean => {
    if (n > 1) throw invalid(text, `${key} takes 0 or 1`);
    return n === 1;
  };
  switch (key) {
    case 'rwid':
    case 'roid':
      if (n < 1 || n > ID_MAX) throw invalid(text, `${key} must be from 1 to ${ID_MAX}`);
      rule[key] = n;
      return;
    case 'auto_attach':
      if (!flag()) [rule.openAttach, rule.ioAttach, rule.statAttach] = [false, false, false];
      return;
    case 'open_attach':
      rule.openAttach = flag();
      return;
    case 'io_attach':
      rule.ioAttach = flag();
      return;
    case 'stat_attach':
      rule.statAttach = flag();
      return;
    default:
      throw invalid(text, `unknown parameter "${key}"`);
  }
}

/**
 * The rules of a rules file (`-o pcc_rules_file`, which the CSI driver writes from a PCCClass): one
 * per line; blank lines and lines starting with '#' are skipped. Throws for the first bad line.
 */
export function parsePccRules(text: string, defaults: { rwid?: number; roid?: number } = {}): PccRule[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => parsePccRule(line, defaults));
}

/** Whether `s` matches `rule` (any conjunction whose every expression matches). */
export function ruleMatches(rule: PccRule, s: RuleSubject): boolean {
  return rule.conditions.some((conj) => conj.every((e) => expressionMatches(e, s)));
}

function expressionMatches(e: RuleExpression, s: RuleSubject): boolean {
  if (e.field === 'fname') return e.values.some((p) => wildcardMatches(p as string, s.name));
  const id = e.field === 'uid' ? s.uid : e.field === 'gid' ? s.gid : s.projid;
  return e.values.includes(id);
}

/** Lustre's cfs_match_wildcard: '*' matches any run of characters (none included); nothing else is special. */
export function wildcardMatches(pattern: string, name: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === name;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!name.startsWith(first) || name.length < first.length + last.length) return false;
  let at = first.length;
  for (const mid of parts.slice(1, -1)) {
    const found = name.indexOf(mid, at);
    if (found < 0) return false;
    at = found + mid.length;
  }
  return name.length - last.length >= at && name.endsWith(last);
}

/** The first rule matching `s` with a read-write id (for creates), or a read-only id (for opens). */
export function matchingRule(
  rules: readonly PccRule[],
  s: RuleSubject,
  mode: 'rw' | 'ro',
): PccRule | undefined {
  return rules.find((r) => (mode === 'rw' ? r.rwid : r.roid) !== undefined && ruleMatches(r, s));
}
