import { configDefaults, defineConfig } from 'vitest/config';
import { wgslText } from './vite.config.ts';

export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['test/**/*.test.ts'],
    // Real-shape runs that take minutes each on 2 cores (`*.heavy.test.ts`) are opt-in: `npm run test:heavy`.
    exclude: process.env.MSN_HEAVY === '1' ? configDefaults.exclude : [...configDefaults.exclude, 'test/**/*.heavy.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    globalSetup: ['test/global-setup.ts'],
    // Keep the adaptive tree's cost cache out of the home folder.
    env: { MSN_CACHE_DIR: `${process.env.TMPDIR ?? '/tmp'}/msn-webgpu-test-cache` },
  },
});
