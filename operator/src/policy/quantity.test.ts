import { expect, it } from 'vitest';
import { formatBytes } from './quantity.ts';

it('formats bytes as a binary quantity with at most one decimal', () => {
  expect(formatBytes(0)).toBe('0');
  expect(formatBytes(1023)).toBe('1023');
  expect(formatBytes(1536)).toBe('1.5Ki');
  expect(formatBytes(2 * 1024 ** 4)).toBe('2Ti');
  expect(formatBytes(1000 * 1024 ** 3)).toBe('1000Gi');
});
