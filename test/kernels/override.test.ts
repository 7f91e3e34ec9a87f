import { describe, expect, it } from 'vitest';
import { fillOverridePoint, overrideDefault, overridePoint } from '../../src/kernels/override.js';
import { EMBED } from '../../src/kernels/embed.js';
import { MATMUL } from '../../src/kernels/matmul.js';
import type { KernelDef } from '../../src/gpu/kernel.js';

const def: KernelDef = {
  name: 'k', bindings: ['read', 'rw'], params: 'u',
  code: 'a\n// BEGIN override load\nfn load(i: u32) -> f32 { return X[i]; }\n// END override load\nb\n',
};

describe('override points', () => {
  it('replace exactly the marked region and rename the kernel', () => {
    const v = overridePoint(def, 'load', 'fn load(i: u32) -> f32 { return 2.0; }', 'two', ['rw']);
    expect(v.name).toBe('k.two');
    expect(v.bindings).toEqual(['read', 'rw', 'rw']);
    expect(v.code).toBe('a\n// BEGIN override load\n// (two)\nfn load(i: u32) -> f32 { return 2.0; }\n// END override load\nb\n');
    expect(overrideDefault(def, 'load')).toBe('fn load(i: u32) -> f32 { return X[i]; }\n');
    expect(overrideDefault(v, 'load')).toBe('fn load(i: u32) -> f32 { return 2.0; }\n');
  });
  it('refuse a point that is missing or given twice', () => {
    expect(() => overridePoint(def, 'store', '', 'x')).toThrow(/no single override point "store"/);
    const twice = { ...def, code: def.code + def.code };
    expect(() => overridePoint(twice, 'load', '', 'x')).toThrow(/no single override point/);
  });
  it('fill a region in place (the embedding shares the matmul weight decoding, written once)', () => {
    expect(fillOverridePoint(def.code, 'load', 'fn load(i: u32) -> f32 { return 3.0; }', 'k')).toBe('a\n// BEGIN override load\nfn load(i: u32) -> f32 { return 3.0; }\n// END override load\nb\n');
    expect(overrideDefault(EMBED, 'weight')).toBe(overrideDefault(MATMUL, 'weight'));
    expect(overrideDefault(MATMUL, 'weight')).toContain('fn loadWeight(row: u32, c: u32) -> WChunk');
  });
});
