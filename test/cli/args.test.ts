import { describe, expect, it } from 'vitest';
import { parseCli, USAGE } from '../../src/cli/args.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { runGenerateMain } from '../helpers/cli.js';

describe('CLI options', () => {
  it('--allow-special-in-content is off by default and documented', () => {
    expect(parseCli(['--prompt', 'x', '--chat']).allowSpecialInContent).toBe(false);
    expect(parseCli(['--prompt', 'x', '--chat', '--allow-special-in-content']).allowSpecialInContent).toBe(true);
    expect(USAGE).toContain('--allow-special-in-content');
  });
});

describe('sampling flags', () => {
  it('--temperature --top-k --top-p --min-p --seed are parsed; --draft-seed is the old draft seed', () => {
    const o = parseCli(['--prompt', 'x', '--temperature', '0.8', '--top-k', '40', '--top-p', '0.95', '--min-p', '0.05', '--seed', '7', '--draft-seed', '3']);
    expect([o.temperature, o.topK, o.topP, o.minP, o.seed, o.draftSeed]).toEqual([0.8, 40, 0.95, 0.05, 7, 3]);
    const d = parseCli(['--prompt', 'x']);
    expect([d.temperature, d.topK, d.topP, d.minP, d.seed, d.draftSeed]).toEqual([undefined, undefined, undefined, undefined, undefined, 24301]);
    for (const flag of ['--temperature', '--top-k', '--top-p', '--min-p', '--seed <N>', '--draft-seed']) expect(USAGE).toContain(flag);
    // OpenAI's seeds are any int64: negative safe integers are seeds too.
    expect(parseCli(['--prompt', 'x', '--temperature', '1', '--seed=-3']).seed).toBe(-3);
  });

  for (const [argv, msg] of [[['--temperature', 'hot'], '--temperature must be a number'], [['--temperature=-1'], '--temperature must be a finite number ≥ 0'],
    [['--top-p', '0'], '--top-p must be in (0, 1]'], [['--min-p', '1.5'], '--min-p must be in [0, 1]'], [['--top-k', '2.5'], '--top-k must be an integer'],
    [['--seed=0.5'], '--seed must be a safe integer'], [['--seed=9007199254740992'], '--seed must be a safe integer'], [['--draft-seed', 'x'], '--draft-seed must be a non-negative integer']] as const) {
    it(`${argv.join(' ')} is an InvalidArgumentError naming the flag`, () => {
      expect(() => parseCli(['--prompt', 'x', ...argv])).toThrow(InvalidArgumentError);
      expect(() => parseCli(['--prompt', 'x', ...argv])).toThrow(msg);
    });
  }
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

describe('usage errors', () => {
  /** The CLI's main in this process (a usage error never starts an engine). */
  const runMain = runGenerateMain;

  it.each([
    ['an unknown option', ['--prompt', 'x', '--bogus'], 'InvalidArgumentError: Unknown option --bogus.'],
    ['a missing value at the end', ['--prompt', 'x', '--decode'], 'InvalidArgumentError: --decode needs a value.'],
    ['a missing value before another option', ['--decode', '--prompt', 'x'], 'InvalidArgumentError: --decode needs a value (a value that starts with a dash is written --decode=-x).'],
    ['a value for a flag', ['--prompt', 'x', '--json=yes'], 'InvalidArgumentError: --json takes no value.'],
    ['a positional argument', ['--prompt', 'x', 'hello'], 'InvalidArgumentError: Unexpected argument "hello": every value follows its option (e.g. --prompt <text>).'],
    ['a bad value', ['--prompt', 'x', '--tree', 'big'], 'InvalidArgumentError: --tree must be fixed or adaptive, got "big".'],
    ['no prompt', [], 'InvalidArgumentError: --prompt is required.'],
  ])('%s exits 2 with one error line and the --help pointer on stderr, nothing on stdout', async (_name, argv, line) => {
    const r = await runMain(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`${line}\nRun with --help for the options.\n`);
  });

  it('--help exits 0 with the usage on stdout', async () => {
    const r = await runMain(['--help']);
    expect(r).toEqual({ code: 0, stdout: USAGE, stderr: '' });
  });
});

describe('--stop', () => {
  it('is repeatable, at most 4 non-empty strings, and documented', () => {
    expect(parseCli(['--prompt', 'x']).stop).toEqual([]);
    expect(parseCli(['--prompt', 'x', '--stop', '\n\n', '--stop', 'END']).stop).toEqual(['\n\n', 'END']);
    expect(() => parseCli(['--prompt', 'x', ...['a', 'b', 'c', 'd', 'e'].flatMap((s) => ['--stop', s])])).toThrow(InvalidArgumentError);
    expect(() => parseCli(['--prompt', 'x', '--stop', ''])).toThrow(InvalidArgumentError);
    expect(USAGE).toContain('--stop <text>');
  });
});
