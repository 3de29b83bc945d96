import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Two cores: the real-process and real-service tests are I/O bound; keep parallelism modest.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // `expect.poll` waits as long as the suite's `eventually` (@holdpoint/test-services): its 1 s
    // default fails correct tests on a busy machine.
    expect: { poll: { timeout: 15_000, interval: 20 } },
  },
});
