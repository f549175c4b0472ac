import { describe, expect, it } from 'vitest';
import { parseTargetArgs, UsageError } from './cli-args.ts';

const base = ['--data', '/d', '--listen', '127.0.0.1:0', '--key-file', '/k'];
const mgs = ['--role', 'mgs', '--fsname', 'fs1', ...base];
const ost = ['--role', 'ost', '--index', '3', '--mgs', 'mgs:988', ...base];

function usageError(argv: string[]): string {
  try {
    parseTargetArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error('expected a UsageError');
}

describe('parseTargetArgs', () => {
  it('parses an MGS with defaults', () => {
    expect(parseTargetArgs(mgs)).toEqual({
      role: 'mgs',
      index: 0,
      dataDir: '/d',
      listen: { host: '127.0.0.1', port: 0 },
      keyFile: '/k',
      fsName: 'fs1',
      logLevel: 'info',
      reportIntervalMs: 2000,
    });
  });

  it('parses an OST with every option', () => {
    const args = parseTargetArgs([
      ...ost,
      '--advertise',
      'node1:9001',
      '--http',
      '[::1]:8080',
      '--log-level',
      'debug',
      '--report-interval-ms',
      '500',
    ]);
    expect(args).toMatchObject({
      role: 'ost',
      index: 3,
      mgs: 'mgs:988',
      advertise: 'node1:9001',
      http: { host: '::1', port: 8080 },
      logLevel: 'debug',
      reportIntervalMs: 500,
    });
  });

  it('takes several addresses for --advertise and --mgs, as a NID list', () => {
    const args = parseTargetArgs([
      '--role',
      'ost',
      '--index',
      '1',
      '--data',
      '/d',
      '--listen',
      '0.0.0.0:988',
      '--key-file',
      '/k',
      '--mgs',
      'mgs:988,127.0.0.1:41000',
      '--advertise',
      'ost1:988,127.0.0.1:41002',
    ]);
    expect(args).toMatchObject({ mgs: 'mgs:988,127.0.0.1:41000', advertise: 'ost1:988,127.0.0.1:41002' });
  });

  it('returns undefined for --help', () => {
    expect(parseTargetArgs(['--help'])).toBeUndefined();
  });

  const refusals: Array<[string[], string]> = [
    [[], '--role is required'],
    [['--role', 'oss', ...base], '--role must be mgs, mdt or ost, not "oss"'],
    [['--role', 'mgs', ...base], '--fsname is required for --role mgs'],
    [['--role', 'mgs', '--fsname', 'ninechars', ...base], 'must be 1 to 8 characters'],
    [['--role', 'mgs', '--fsname', 'a.b', ...base], 'must be 1 to 8 characters'],
    [[...mgs, '--mgs', 'x:1'], '--mgs is only for --role mdt|ost'],
    [[...ost, '--fsname', 'fs1'], '--fsname is only for --role mgs'],
    [['--role', 'ost', '--mgs', 'm:1', ...base], '--index is required for --role ost'],
    [['--role', 'mdt', '--index', '0', ...base], '--mgs (for --role mdt) is required'],
    [[...ost.slice(0, 2), '--index', '65536', ...ost.slice(4)], '--index "65536" is not 0..65535'],
    [[...ost.slice(0, 2), '--index=-1', ...ost.slice(4)], '--index "-1" is not 0..65535'],
    [[...ost.slice(0, 2), '--index', '1.5', ...ost.slice(4)], '--index "1.5" is not 0..65535'],
    [['--role', 'ost', '--index', '1', '--mgs', 'm', ...base], '--mgs "m" is not HOST:PORT'],
    [
      ['--role', 'mgs', '--fsname', 'f', '--data', '/d', '--listen', 'h:70000', '--key-file', '/k'],
      'not HOST:PORT',
    ],
    [['--role', 'mgs', '--fsname', 'f', '--listen', 'h:1', '--key-file', '/k'], '--data is required'],
    [[...mgs, '--log-level', 'loud'], '--log-level must be one of'],
    [[...mgs, '--report-interval-ms', '5'], 'is not 100..600000'],
    [[...mgs, '--bogus'], "Unknown option '--bogus'"],
    [[...mgs, 'extra'], 'extra'],
    [
      [
        '--role',
        'ost',
        '--index',
        '1',
        '--mgs',
        'm:1',
        '--data',
        '/d',
        '--listen',
        '0.0.0.0:988',
        '--key-file',
        '/k',
      ],
      'give --advertise',
    ],
    [[...ost, '--advertise', '[::1]:988'], 'not IPv6'],
    [[...ost, '--advertise', 'node1:988,[::1]:988'], 'not IPv6'],
    [[...ost, '--advertise', 'node1:988,'], '--advertise'],
    [[...ost, '--advertise', Array(9).fill('n:1').join(',')], 'at most 8'],
  ];
  it.each(refusals.map(([argv, message]) => [message, argv] as const))(
    'refuses with "%s"',
    (message, argv) => {
      expect(usageError([...argv])).toContain(message);
    },
  );
});
