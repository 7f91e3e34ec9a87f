// The engine's kernel configuration (issue 11 item 4): presets, LoadOptions overrides of single
// fields, their validation (InvalidArgumentError, never UnsupportedModelError) and the key.
import { describe, expect, it } from 'vitest';
import { chooseKernelConfig, kernelConfigKey, kernelPreset, type KernelConfigOverrides } from '../../src/gpu/kernel-config.js';
import { InvalidArgumentError } from '../../src/errors.js';

const GPU = { isFallbackAdapter: false };
const CPU = { isFallbackAdapter: true };

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

describe('chooseKernelConfig', () => {
  it('auto follows the adapter; gpu and cpu are forced', () => {
    expect(chooseKernelConfig(CPU)).toEqual(kernelPreset('cpu'));
    expect(chooseKernelConfig(GPU)).toEqual(kernelPreset('gpu'));
    expect(chooseKernelConfig(CPU, 'gpu')).toEqual(kernelPreset('gpu'));
  });

  it('applies field overrides on top of the preset (matmulLanes still works)', () => {
    const k = chooseKernelConfig(CPU, 'cpu', { matmul: { tiledCpt: 2, tiledRows: [2, 8, 16] }, attention: { block: 16, queries: 4 } });
    expect(k).toEqual({ preset: 'cpu', matmul: { lanes: 1, gemvCols: 64, tiledCols: 16, tiledCpt: 2, tiledRows: [2, 8, 16] }, attention: { block: 16, queries: 4 } });
    expect(chooseKernelConfig(CPU, 'cpu', { matmulLanes: 4 }).matmul).toEqual({ lanes: 4, gemvCols: 16, tiledCols: 4, tiledCpt: 4, tiledRows: [4, 8, 8] });
    // matmul.lanes is matmulLanes: the derived columns follow it; an explicit column count wins.
    expect(chooseKernelConfig(CPU, 'cpu', { matmul: { lanes: 4 } })).toEqual(chooseKernelConfig(CPU, 'cpu', { matmulLanes: 4 }));
    expect(chooseKernelConfig(GPU, 'auto', { matmul: { lanes: 8, gemvCols: 8 } }).matmul).toEqual({ lanes: 8, gemvCols: 8, tiledCols: 8, tiledCpt: 2, tiledRows: [4, 8, 32] });
    // undefined fields are no override
    expect(chooseKernelConfig(GPU, 'gpu', { matmulLanes: undefined, matmul: { tiledCpt: undefined } })).toEqual(kernelPreset('gpu'));
  });

  it('the key is short, names every field, and separates overrides', () => {
    expect(kernelConfigKey(kernelPreset('gpu'))).toBe('gpu/l16.g16.t4x2.r4-8-32/b64.q16');
    expect(kernelConfigKey(kernelPreset('cpu'))).toBe('cpu/l1.g64.t16x4.r4-8-8/b64.q8');
    const keys = [
      {}, { matmulLanes: 2 }, { matmul: { gemvCols: 32 } }, { matmul: { tiledCols: 8 } }, { matmul: { tiledCpt: 1 } },
      { matmul: { tiledRows: [4, 8, 16] } }, { attention: { block: 32 } }, { attention: { queries: 4 } },
    ].map((o) => kernelConfigKey(chooseKernelConfig(CPU, 'cpu', o as KernelConfigOverrides)));
    expect(new Set(keys).size).toBe(keys.length);
  });

  const bad: Array<[string, KernelConfigOverrides | (() => unknown), RegExp]> = [
    ['lanes not a power of two', { matmulLanes: 3 }, /^matmulLanes must be a power of two in \[1, 64\], got 3\.$/],
    ['lanes too many', { matmul: { lanes: 128 } }, /^kernelOverrides\.matmul\.lanes must be a power of two in \[1, 64\], got 128\.$/],
    ['two lanes that disagree', { matmulLanes: 4, matmul: { lanes: 8 } }, /^matmulLanes \(4\) and kernelOverrides\.matmul\.lanes \(8\) disagree/],
    ['gemvCols 0', { matmul: { gemvCols: 0 } }, /^kernelOverrides\.matmul\.gemvCols must be an integer in \[1, 256\], got 0\.$/],
    ['tiledCols fractional', { matmul: { tiledCols: 1.5 } }, /^kernelOverrides\.matmul\.tiledCols must be an integer/],
    ['tiledCpt 5', { matmul: { tiledCpt: 5 } }, /^kernelOverrides\.matmul\.tiledCpt must be an integer in \[1, 4\], got 5\.$/],
    ['row tile 12', { matmul: { tiledRows: [4, 8, 12] } }, /^kernelOverrides\.matmul\.tiledRows must be three row tiles .* each 1\.\.8, 16, 24 or 32, got \[4,8,12\]\.$/],
    ['two row tiles', { matmul: { tiledRows: [4, 8] as unknown as [number, number, number] } }, /^kernelOverrides\.matmul\.tiledRows must be three row tiles/],
    ['block 48', { attention: { block: 48 } }, /^kernelOverrides\.attention\.block must be 16, 32 or 64, got 48\.$/],
    ['queries 17', { attention: { queries: 17 } }, /^kernelOverrides\.attention\.queries must be an integer in \[1, 16\], got 17\.$/],
    ['an unknown field', { matmul: { lane: 4 } as never }, /^kernelOverrides\.matmul has no field "lane"; its fields are lanes, gemvCols, tiledCols, tiledCpt, tiledRows\.$/],
    ['an unknown group', { softmax: {} } as never, /^kernelOverrides has no field "softmax"/],
    ['too many threads', { matmul: { gemvCols: 32 } }, /^Kernel configuration gpu\/l16\.g32\..*: its matmul \(T = 1\) kernel needs maxComputeInvocationsPerWorkgroup = 512, above the WebGPU default 256/],
    ['too many threads with row groups', { matmul: { tiledCols: 8 } }, /its matmul \(T ≥ 9\) kernel needs maxComputeInvocationsPerWorkgroup = 512/],
    ['an unknown choice', () => chooseKernelConfig(GPU, 'fast' as never), /^kernelConfig must be auto \| gpu \| cpu, got "fast"\.$/],
    ['kernelPreset with bad lanes', () => kernelPreset('gpu', 0), /^matmulLanes must be a power of two in \[1, 64\], got 0\.$/],
  ];
  it.each(bad)('%s: InvalidArgumentError with a message naming the field', (_name, o, message) => {
    const e = thrown(() => (typeof o === 'function' ? o() : chooseKernelConfig(GPU, 'gpu', o)));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).code).toBe('invalid-argument');
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/Llama-family/);
  });
});
