import { setTimeout as sleep } from 'node:timers/promises';
import { isKlError } from '@kubelustre/protocol/errors.ts';

/** How long an open waits, in all, for another client to write back a file it caches read-write. */
export const RESTORE_WAIT_MS_MAX = 60_000;
const RETRY_FIRST_MS = 20;
const RETRY_MAX_MS = 500;

/**
 * Runs `call` again while it fails EAGAIN: the MDT's answer while another client caches the file
 * read-write (RW-PCC) and writes it back at our request. Backs off from 20 to 500 ms; after
 * `waitMsMax` the last EAGAIN is the caller's (the caching client did not restore in time).
 */
export async function retryWhileRestoring<T>(
  call: () => Promise<T>,
  waitMsMax = RESTORE_WAIT_MS_MAX,
): Promise<T> {
  const deadline = Date.now() + waitMsMax;
  for (let delayMs = RETRY_FIRST_MS; ; delayMs = Math.min(RETRY_MAX_MS, delayMs * 2)) {
    try {
      return await call();
    } catch (e) {
      if (!isKlError(e, 'EAGAIN') || Date.now() + delayMs > deadline) throw e;
    }
    await sleep(delayMs);
  }
}
