import { describe, expect, it } from 'vitest';
import { parseMountOptions } from './options.ts';

describe('parseMountOptions', () => {
  it('reads flags and timeouts, later options winning', () => {
    expect(parseMountOptions(undefined)).toEqual({ readOnly: false, suid: false, dev: false });
    expect(parseMountOptions('ro,suid,entry_timeout=0.5,attr_timeout=2')).toEqual({
      readOnly: true,
      suid: true,
      dev: false,
      entryTimeoutMs: 500,
      attrTimeoutMs: 2000,
    });
    expect(parseMountOptions('ro,rw,defaults').readOnly).toBe(false);
  });

  it('reads the PCC options', () => {
    expect(parseMountOptions('pcc=/nvme/pcc,pcc_ro,pcc_revalidate_ms=250')).toMatchObject({
      pccDir: '/nvme/pcc',
      pccRevalidateMs: 250,
    });
    expect(parseMountOptions('pcc_ro').pccDir).toBeUndefined();
    const o = 'pcc=/c,pcc_rw,nopcc_passthrough,pcc_rule=fname={*.h5}|uid={7} roid=2,pcc_rule=projid={1}';
    expect(parseMountOptions(`${o},pcc_rules_file=/etc/r,pcc_size=1000,pcc_hwm=80,pcc_lwm=60`)).toMatchObject(
      {
        pccReadWrite: true,
        pccPassthrough: false,
        pccRules: ['fname={*.h5}|uid={7} roid=2', 'projid={1}'],
        pccRulesFile: '/etc/r',
        pccSizeBytes: 1000,
        pccHighWatermarkPercent: 80,
        pccLowWatermarkPercent: 60,
      },
    );
  });

  it('reads where the mount process serves its metrics', () => {
    expect(parseMountOptions('metrics=127.0.0.1:9800').metrics).toEqual({ host: '127.0.0.1', port: 9800 });
    expect(() => parseMountOptions('metrics=9800')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('refuses unknown options and bad timeouts with EINVAL', () => {
    for (const bad of [
      'rox',
      'ro=1',
      'entry_timeout',
      'entry_timeout=',
      'attr_timeout=-1',
      'attr_timeout=x',
      'pcc=relative/dir',
      'pcc',
      'pcc_revalidate_ms=-1',
      'pcc_revalidate_ms=1.5',
      'pcc_revalidate_ms=600000',
      'pcc_rules_file=relative',
      'pcc_rule=',
      'pcc_size=0',
      'pcc_hwm=101',
      'pcc_lwm=100',
      'pcc_hwm=9x',
    ]) {
      expect(() => parseMountOptions(bad)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});
