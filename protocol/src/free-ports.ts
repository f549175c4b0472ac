import net from 'node:net';

/**
 * `n` distinct ports free on 127.0.0.1 now, held open together so the kernel hands out different ones.
 * Free now, not reserved: a caller that binds later retries on EADDRINUSE.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => net.createServer());
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** One port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
