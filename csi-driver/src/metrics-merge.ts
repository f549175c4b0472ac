/**
 * Merging Prometheus text-format expositions (format 0.0.4) of several mount processes into one, each
 * sample given labels that say which mount it came from. Pure: the scraping is in node-metrics.ts.
 */

/** One sample line: its metric name, its label pairs (values unescaped), and the rest of the line. */
export interface Sample {
  name: string;
  labels: Array<[string, string]>;
  /** The value and the optional timestamp, as written. */
  value: string;
}

/** A metric family: its HELP and TYPE (when given) and its samples, in order. */
export interface Family {
  name: string;
  help?: string;
  type?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
/** Suffixes of the samples of summaries and histograms, which belong to the family without them. */
const SAMPLE_SUFFIXES = ['_bucket', '_sum', '_count', '_created', '_total'];

/** A label value as the text format writes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `{a="x",b="y"}` at the start of `text`: the pairs and the length read; undefined if malformed. */
function parseLabels(text: string): { labels: Array<[string, string]>; length: number } | undefined {
  const labels: Array<[string, string]> = [];
  let i = 1;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return { labels, length: i + 1 };
    const name = LABEL_NAME.exec(text.slice(i))?.[0];
    if (!name) return undefined;
    i += name.length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=' || text[i + 1] !== '"') return undefined;
    i += 2;
    let value = '';
    for (; i < text.length && text[i] !== '"'; i++) {
      if (text[i] !== '\\') value += text[i];
      else {
        i++;
        value += text[i] === 'n' ? '\n' : (text[i] ?? '');
      }
    }
    if (text[i] !== '"') return undefined;
    labels.push([name, value]);
    i++;
    while (text[i] === ' ') i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') return undefined;
  }
}

function parseSample(line: string): Sample | undefined {
  const name = NAME.exec(line)?.[0];
  if (!name) return undefined;
  let rest = line.slice(name.length);
  let labels: Array<[string, string]> = [];
  if (rest.startsWith('{')) {
    const parsed = parseLabels(rest);
    if (!parsed) return undefined;
    labels = parsed.labels;
    rest = rest.slice(parsed.length);
  }
  const value = rest.trim();
  const m = /^(\S+)(?:\s+-?\d+)?$/.exec(value);
  if (!m || !/^\s/.test(rest) || !isSampleValue(m[1]!)) return undefined;
  return { name, labels, value };
}

/** A float as the text format writes it (Go's ParseFloat: also NaN, +Inf, -Inf). */
function isSampleValue(v: string): boolean {
  return /^[+-]?(Inf|NaN)$/i.test(v) || (v.trim() !== '' && !Number.isNaN(Number(v)));
}

/** Whether sample `name` belongs to family `family` (itself, or one of a histogram's series). */
function belongsTo(name: string, family: string): boolean {
  return name === family || SAMPLE_SUFFIXES.some((s) => name === family + s);
}

/**
 * The families of an exposition, in order. Samples belong to the family whose HELP or TYPE came last
 * when their name is its or one of its series; any other sample makes a family of its own without
 * metadata. Lines that do not parse, and other comments, are dropped.
 */
export function parseExposition(text: string): Family[] {
  const families: Family[] = [];
  let current: Family | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '') continue;
    const meta = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta as unknown as [string, 'HELP' | 'TYPE', string, string?];
      if (current?.name !== name) {
        current = { name, samples: [] };
        families.push(current);
      }
      if (kind === 'HELP') current.help = rest;
      else current.type = rest.trim();
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = parseSample(line);
    if (!sample) continue;
    if (!current || !belongsTo(sample.name, current.name)) {
      current = { name: sample.name, samples: [] };
      families.push(current);
    }
    current.samples.push(sample);
  }
  return families;
}

/** One scraped exposition and the labels every one of its samples gets. */
export interface LabelledExposition {
  text: string;
  labels: Array<[string, string]>;
}

/**
 * The families of `sources` whose names start with `prefix`, merged: HELP and TYPE once per family (the
 * first source's that has them), then every source's samples of it, each with the source's labels first. A label the
 * sample already has under one of those names is dropped (the source's word wins), so no sample carries
 * a label twice.
 */
export function mergeExpositions(sources: readonly LabelledExposition[], prefix: string): string {
  const merged = new Map<string, Family>();
  for (const source of sources) {
    const ours = new Set(source.labels.map(([k]) => k));
    for (const f of parseExposition(source.text)) {
      if (!f.name.startsWith(prefix)) continue;
      let into = merged.get(f.name);
      if (!into) {
        into = { name: f.name, samples: [] };
        merged.set(f.name, into);
      }
      if (into.help === undefined && f.help !== undefined) into.help = f.help;
      if (into.type === undefined && f.type !== undefined) into.type = f.type;
      for (const s of f.samples) {
        const labels = [...source.labels, ...s.labels.filter(([k]) => !ours.has(k))];
        into.samples.push({ ...s, labels });
      }
    }
  }
  return formatFamilies([...merged.values()]);
}

/** Families in the text format, each sample's labels escaped; ends with a line feed unless empty. */
export function formatFamilies(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (f.help !== undefined) lines.push(`# HELP ${f.name} ${f.help}`);
    if (f.type !== undefined) lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
      lines.push(`${s.name}${labels === '' ? '' : `{${labels}}`} ${s.value}`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
