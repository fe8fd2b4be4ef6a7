import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests spawn processes and open sockets and mostly wait on them (the suite uses
    // about a third of two cores with two workers): three workers on the 2-core machines.
    maxWorkers: 3,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
