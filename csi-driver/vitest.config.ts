import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'csi-driver', include: ['src/**/*.test.ts'] } });
