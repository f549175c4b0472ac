/** Bytes as a Kubernetes quantity a person reads at a glance: `1.5Ti`, `500Gi`, `0`. */

const UNITS = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] as const;

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // One decimal at most, dropped when it is zero: `2Ti`, not `2.0Ti`.
  const rounded = Math.round(value * 10) / 10;
  return `${rounded}${UNITS[unit]}`;
}
