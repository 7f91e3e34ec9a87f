// Hostile safetensors files: every malformed input gives a ModelFormatError, never a hang, another
// error type, or an allocation beyond the file size. Valid files round-trip.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readSafetensors } from '../../src/model/safetensors.js';
import { ModelFormatError } from '../../src/errors.js';

function file(header: unknown, data: Uint8Array, lenOverride?: number, rawHeader?: string): Uint8Array {
  const h = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, lenOverride ?? h.length, true);
  dv.setUint32(4, 0, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function stream(bytes: Uint8Array, chunk = 7): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({ pull(c) { if (i >= bytes.length) c.close(); else { c.enqueue(bytes.slice(i, i + chunk)); i += chunk; } } });
}

async function parse(bytes: Uint8Array, knownSize = true) {
  const out: Array<{ name: string; bytes: Uint8Array }> = [];
  for await (const t of readSafetensors(stream(bytes), 'f.safetensors', knownSize ? bytes.length : null)) out.push({ name: t.info.name, bytes: t.bytes });
  return out;
}

const good = () => file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F16', shape: [1, 3], data_offsets: [8, 14] }, __metadata__: { format: 'pt' } }, Uint8Array.from({ length: 14 }, (_, i) => i));

describe('safetensors reader', () => {
  it('reads a valid file in chunks of any size', async () => {
    for (const chunk of [1, 3, 64]) {
      const out: string[] = [];
      for await (const t of readSafetensors(stream(good(), chunk), 'f', good().length)) out.push(`${t.info.name}:${Array.from(t.bytes).join(',')}`);
      expect(out).toEqual(['a:0,1,2,3,4,5,6,7', 'b:8,9,10,11,12,13']);
    }
  });

  const bad: Array<[string, () => Uint8Array]> = [
    ['truncated inside the length', () => good().slice(0, 5)],
    ['header length beyond the file', () => file({}, new Uint8Array(0), 1e6)],
    ['absurd header length', () => { const f = good(); new DataView(f.buffer).setUint32(4, 1000, true); return f; }],
    ['invalid JSON', () => file(null, new Uint8Array(0), undefined, '{"a": ')],
    ['non-object JSON', () => file([1, 2], new Uint8Array(0))],
    ['unknown dtype', () => file({ a: { dtype: 'F13', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2))],
    ['shape × dtype ≠ bytes', () => file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8))],
    ['offsets out of range', () => file({ a: { dtype: 'U8', shape: [8], data_offsets: [0, 8] } }, new Uint8Array(4))],
    ['overlapping tensors', () => file({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, new Uint8Array(6))],
    ['reversed offsets', () => file({ a: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4))],
    ['hole between tensors', () => file({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [4, 6] } }, new Uint8Array(6))],
    ['negative or fractional shape', () => file({ a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }, new Uint8Array(0))],
    ['absurd shape', () => file({ a: { dtype: 'F64', shape: [1e9, 1e9, 1e9], data_offsets: [0, 8] } }, new Uint8Array(8))],
    ['truncated data (unknown size)', () => good().slice(0, good().length - 3)],
  ];
  for (const [what, make] of bad) {
    it(`rejects: ${what}`, async () => {
      const bytes = make();
      const err = await parse(bytes, what !== 'truncated data (unknown size)').then(() => null, (e) => e);
      expect(err).toBeInstanceOf(ModelFormatError);
      expect(err.message).toMatch(/f\.safetensors|truncated/);
    });
  }

  it('fuzz: random mutations of valid files only ever throw ModelFormatError (10,000 cases)', async () => {
    const base = good();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.boolean(),
      async (muts, cut, knownSize) => {
        const b = base.slice(0, cut === undefined ? base.length : cut % (base.length + 1));
        for (const m of muts) if (b.length) b[m.pos % b.length] = m.byte;
        try {
          const out = await parse(b, knownSize);
          const total = out.reduce((n, t) => n + t.bytes.length, 0);
          expect(total).toBeLessThanOrEqual(b.length);
        } catch (e) {
          expect(e).toBeInstanceOf(ModelFormatError);
        }
      },
    ), { numRuns: 7000 });
    await fc.assert(fc.asyncProperty(fc.jsonValue(), fc.uint8Array({ maxLength: 64 }), async (header, data) => {
      try {
        await parse(file(header, data));
      } catch (e) {
        expect(e).toBeInstanceOf(ModelFormatError);
      }
    }), { numRuns: 3000 });
  });
});
