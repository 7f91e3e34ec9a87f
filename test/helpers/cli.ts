import { vi } from 'vitest';

/**
 * Runs the CLI's `main` (src/cli/generate.ts) in this process with `argv`, capturing what it writes to
 * stdout (its output callback) and stderr (process.stderr.write, silenced meanwhile).
 * Returns the exit code it resolves with; rejects as `main` does.
 */
export async function runGenerateMain(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import('../../src/cli/generate.js');
  let stdout = '';
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { stderr += String(s); return true; });
  try {
    const code = await main(argv, (s) => { stdout += s; });
    return { code, stdout, stderr };
  } finally {
    spy.mockRestore();
  }
}
