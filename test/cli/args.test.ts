import { describe, expect, it } from 'vitest';
import { parseCli, USAGE } from '../../src/cli/args.js';
import { InvalidArgumentError } from '../../src/errors.js';

describe('CLI options', () => {
  it('--allow-special-in-content is off by default and documented', () => {
    expect(parseCli(['--prompt', 'x', '--chat']).allowSpecialInContent).toBe(false);
    expect(parseCli(['--prompt', 'x', '--chat', '--allow-special-in-content']).allowSpecialInContent).toBe(true);
    expect(USAGE).toContain('--allow-special-in-content');
  });
});

describe('--kernel-config', () => {
  it('defaults to auto, takes gpu and cpu, and is documented', () => {
    expect(parseCli(['--prompt', 'x']).kernelConfig).toBe('auto');
    expect(parseCli(['--prompt', 'x', '--kernel-config', 'gpu']).kernelConfig).toBe('gpu');
    expect(parseCli(['--prompt', 'x', '--kernel-config', 'cpu']).kernelConfig).toBe('cpu');
    expect(USAGE).toContain('--kernel-config auto|gpu|cpu');
  });

  it('an unknown value is an InvalidArgumentError naming the choices', () => {
    let err: unknown;
    try {
      parseCli(['--prompt', 'x', '--kernel-config', 'fast']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe('invalid-argument');
    expect((err as Error).message).toBe('--kernel-config must be one of auto, gpu, cpu, got "fast".');
  });
});
