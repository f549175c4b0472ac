/** The operations a benchmark needs, implemented once for a local directory and once for kubelustre. */
export interface BenchFile {
  write(data: Buffer, position: number): Promise<void>;
  read(length: number, position: number): Promise<number>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface BenchFs extends AsyncDisposable {
  readonly name: string;
  /** Creates (truncating) for writing; `stripeCount` applies where the filesystem stripes. */
  create(path: string, o?: { stripeCount?: number }): Promise<BenchFile>;
  open(path: string): Promise<BenchFile>;
  mkdir(path: string): Promise<void>;
  stat(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Makes the next reads cold: nothing of the data cached by the client or the kernel. */
  dropCaches(): Promise<void>;
}
