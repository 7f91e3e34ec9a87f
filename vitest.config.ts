import { defineConfig } from 'vitest/config';
import { wgslText } from './vite.config.ts';

export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    globalSetup: ['test/global-setup.ts'],
    // Keep the adaptive tree's cost cache out of the home folder.
    env: { MSN_CACHE_DIR: `${process.env.TMPDIR ?? '/tmp'}/msn-webgpu-test-cache` },
  },
});
