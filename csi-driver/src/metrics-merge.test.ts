import { describe, expect, it } from 'vitest';
import { escapeLabelValue, mergeExpositions, parseExposition } from './metrics-merge.ts';

const MOUNT_A = `# HELP kubelustre_pcc_hits_total Reads served from a PCC copy
# TYPE kubelustre_pcc_hits_total counter
kubelustre_pcc_hits_total 7

# HELP kubelustre_pcc_cache_bytes Bytes held
# TYPE kubelustre_pcc_cache_bytes gauge
kubelustre_pcc_cache_bytes 4096

# HELP process_cpu_seconds_total CPU
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
`;

const MOUNT_B = `# HELP kubelustre_pcc_hits_total Reads served from a PCC copy
# TYPE kubelustre_pcc_hits_total counter
kubelustre_pcc_hits_total 2
# HELP kubelustre_pcc_cache_bytes Bytes held
# TYPE kubelustre_pcc_cache_bytes gauge
kubelustre_pcc_cache_bytes 0
`;

describe('merging mount expositions', () => {
  it('parses families with their metadata, histogram series and escaped label values', () => {
    const text = [
      '# HELP h_seconds A histogram',
      '# TYPE h_seconds histogram',
      'h_seconds_bucket{le="0.1",op="a \\"b\\" \\\\ c\\nd"} 1',
      'h_seconds_bucket{le="+Inf",op="x"} 2 1700000000000',
      'h_seconds_sum{op="x"} 0.3',
      'h_seconds_count{op="x"} 2',
      '# a comment',
      'bare{} 5',
      'not a sample line',
      'broken{le="1} 3',
    ].join('\n');
    const families = parseExposition(text);
    expect(families.map((f) => [f.name, f.type, f.samples.length])).toEqual([
      ['h_seconds', 'histogram', 4],
      ['bare', undefined, 1],
    ]);
    expect(families[0]!.samples[0]!.labels).toEqual([
      ['le', '0.1'],
      ['op', 'a "b" \\ c\nd'],
    ]);
    expect(families[0]!.samples[1]!.value).toBe('2 1700000000000');
  });

  it('keeps only the prefixed families, HELP and TYPE once, every mount labelled', () => {
    const merged = mergeExpositions(
      [
        {
          text: MOUNT_A,
          labels: [
            ['mount', 'fs-1-pcc-fast'],
            ['pcc_class', 'fast'],
          ],
        },
        {
          text: MOUNT_B,
          labels: [
            ['mount', 'fs-2-pcc-slow'],
            ['pcc_class', 'slow'],
          ],
        },
      ],
      'kubelustre_pcc_',
    );
    expect(merged).toBe(
      [
        '# HELP kubelustre_pcc_hits_total Reads served from a PCC copy',
        '# TYPE kubelustre_pcc_hits_total counter',
        'kubelustre_pcc_hits_total{mount="fs-1-pcc-fast",pcc_class="fast"} 7',
        'kubelustre_pcc_hits_total{mount="fs-2-pcc-slow",pcc_class="slow"} 2',
        '# HELP kubelustre_pcc_cache_bytes Bytes held',
        '# TYPE kubelustre_pcc_cache_bytes gauge',
        'kubelustre_pcc_cache_bytes{mount="fs-1-pcc-fast",pcc_class="fast"} 4096',
        'kubelustre_pcc_cache_bytes{mount="fs-2-pcc-slow",pcc_class="slow"} 0',
        '',
      ].join('\n'),
    );
    // Each family's lines stay together, and its metadata appears exactly once.
    expect(merged.match(/# TYPE kubelustre_pcc_hits_total/g)).toHaveLength(1);
    expect(merged).not.toContain('process_cpu_seconds_total');
  });

  it("puts the mount's labels first, replaces a sample's own label of the same name, escapes values", () => {
    const text = '# TYPE kubelustre_pcc_x gauge\nkubelustre_pcc_x{mount="inner",op="r"} 1\n';
    const merged = mergeExpositions([{ text, labels: [['mount', 'a"b\\c']] }], 'kubelustre_pcc_');
    expect(merged).toBe('# TYPE kubelustre_pcc_x gauge\nkubelustre_pcc_x{mount="a\\"b\\\\c",op="r"} 1\n');
    expect(escapeLabelValue('l1\nl2')).toBe('l1\\nl2');
  });

  it('answers nothing for no mounts, or mounts without the prefix', () => {
    expect(mergeExpositions([], 'kubelustre_pcc_')).toBe('');
    expect(mergeExpositions([{ text: 'up 1\n', labels: [] }], 'kubelustre_pcc_')).toBe('');
  });
});
