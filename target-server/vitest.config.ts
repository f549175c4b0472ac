import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'target-server', include: ['src/**/*.test.ts'] } });
