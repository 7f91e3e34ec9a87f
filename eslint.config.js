// ESLint flat config: typescript-eslint recommended rules on src/, test/, e2e/, bench/, scripts/.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-node/**', 'node_modules/**', '.venv/**', 'train/**', 'test-results/**', '.cache/**', '.gpu/**', 'public/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // The runtime never imports the float64 references (they are for tests only).
    files: ['src/**/*.ts'],
    ignores: ['src/reference/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/reference/*'], message: 'src/reference is test-only.' }] }] },
  },
  {
    // Decoding logic stays pure TypeScript: no WebGPU, no worker, no DOM.
    files: ['src/decode/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/gpu/*', '**/kernels/*', 'webgpu', '**/worker/executor*', '**/worker/llama*'], message: 'src/decode must not depend on WebGPU code.' }] }] },
  },
);
