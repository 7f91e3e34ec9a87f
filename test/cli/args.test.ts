import { describe, expect, it } from 'vitest';
import { parseCli, USAGE } from '../../src/cli/args.js';

describe('CLI options', () => {
  it('--allow-special-in-content is off by default and documented', () => {
    expect(parseCli(['--prompt', 'x', '--chat']).allowSpecialInContent).toBe(false);
    expect(parseCli(['--prompt', 'x', '--chat', '--allow-special-in-content']).allowSpecialInContent).toBe(true);
    expect(USAGE).toContain('--allow-special-in-content');
  });
});
