import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['protocol', 'target-server', 'client', 'operator', 'test', 'csi-driver'],
  },
});
