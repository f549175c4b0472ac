/**
 * Each FUSE reader fd keeps one fs.read outstanding, and that read holds a libuv threadpool thread until
 * the kernel has a request: R readers take R threads for good. Replies (fs.writev), reads of /proc and
 * every other async fs or dns call share the rest, so the pool needs room beyond the readers, or replies
 * queue behind blocked reads and the mount stalls.
 */
const THREADS_BESIDES_READERS = 16;
const LIBUV_DEFAULT_THREADS = 4;

/**
 * Sizes the pool for `readers`. libuv reads UV_THREADPOOL_SIZE once, when the pool first starts (the
 * first async fs, dns or crypto call), so the mount process's entry calls this before anything else.
 */
export function reserveThreadpool(readers: number): void {
  const wanted = readers + THREADS_BESIDES_READERS;
  if (threadpoolSize() < wanted) process.env.UV_THREADPOOL_SIZE = String(wanted);
}

/** The pool size libuv uses (or will use), as far as the environment tells. */
export function threadpoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? n : LIBUV_DEFAULT_THREADS;
}

/** How many readers a pool of this size can afford while leaving room for replies (at least one). */
export function affordableReaders(wanted: number): number {
  return Math.max(1, Math.min(wanted, threadpoolSize() - THREADS_BESIDES_READERS));
}
