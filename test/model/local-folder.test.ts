// A model folder opened from disk in a browser (no server): the Files of a webkitdirectory input, or
// a FileSystemDirectoryHandle (showDirectoryPicker). Both give the loader and the tokenizer exactly
// the folder's bytes; absent files are absent, every other failure is a NetworkError naming the file.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeModel, streamWeights } from '../../src/model/loader.js';
import { createModelSource } from '../../src/model/source.js';
import { folderFromFiles, folderFromHandle, locationKey, type LocalFolder } from '../../src/model/local-folder.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { InvalidArgumentError, ModelFormatError, NetworkError } from '../../src/errors.js';
import { fixturePath } from '../helpers/fixtures.js';

/** The files of `dir` as a webkitdirectory input gives them: `webkitRelativePath` = `<top>/<path>`. */
function inputFiles(dir: string, top: string, sub = ''): File[] {
  const out: File[] = [];
  for (const n of readdirSync(join(dir, sub))) {
    const rel = sub ? `${sub}/${n}` : n;
    if (statSync(join(dir, rel)).isDirectory()) out.push(...inputFiles(dir, top, rel));
    else {
      const f = new File([readFileSync(join(dir, rel))], n);
      Object.defineProperty(f, 'webkitRelativePath', { value: `${top}/${rel}` });
      out.push(f);
    }
  }
  return out;
}

const domError = (name: string) => new DOMException(`${name} (test)`, name);

/** A FileSystemDirectoryHandle over `dir` (the calls the source makes); `fail` makes a file's getFile() throw. */
function dirHandle(dir: string, fail: Record<string, string> = {}, prefix = ''): FileSystemDirectoryHandle {
  return {
    kind: 'directory',
    name: dir.slice(dir.lastIndexOf('/') + 1),
    async getDirectoryHandle(n: string) {
      const p = join(dir, n);
      let st;
      try {
        st = statSync(p);
      } catch {
        throw domError('NotFoundError');
      }
      if (!st.isDirectory()) throw domError('TypeMismatchError');
      return dirHandle(p, fail, `${prefix}${n}/`);
    },
    async getFileHandle(n: string) {
      const p = join(dir, n);
      let st;
      try {
        st = statSync(p);
      } catch {
        throw domError('NotFoundError');
      }
      if (st.isDirectory()) throw domError('TypeMismatchError');
      return {
        kind: 'file',
        name: n,
        async getFile() {
          if (fail[prefix + n]) throw domError(fail[prefix + n]);
          return new File([readFileSync(p)], n);
        },
      };
    },
  } as unknown as FileSystemDirectoryHandle;
}

async function tensorDigests(folder: Parameters<typeof createModelSource>[0]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await streamWeights(await describeModel(createModelSource(folder)), () => true, (name, _d, _s, b) => void out.set(name, createHash('sha256').update(b).digest('hex')));
  return out;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(() => null, (e: Error) => e);
  expect(r, 'expected a rejection').not.toBeNull();
  return r!;
}

describe.each([
  ['webkitdirectory Files', (dir: string, top: string) => folderFromFiles(inputFiles(dir, top))],
  ['a directory handle', (dir: string) => folderFromHandle(dirHandle(dir))],
])('a model folder opened from disk: %s', (_kind, open) => {
  it.each(['tiny-gqa-f32', 'tiny-llama3-bf16-sharded'])('%s: the weights and the tokenizer equal those read from the path', async (name) => {
    const dir = fixturePath(name);
    const folder: LocalFolder = open(dir, name);
    expect(folder.name).toBe(name);
    const desc = await describeModel(createModelSource(folder));
    const fromPath = await describeModel(createModelSource(dir));
    expect(desc.weightFiles).toEqual(fromPath.weightFiles);
    expect(desc.totalBytes).toBe(fromPath.totalBytes);
    expect(desc.eosTokenIds).toEqual(fromPath.eosTokenIds);
    expect(await tensorDigests(folder)).toEqual(await tensorDigests(dir));
    const text = 'def f(x):\n    return x + 1';
    expect((await Tokenizer.load(createModelSource(folder))).encode(text)).toEqual((await Tokenizer.load(createModelSource(dir))).encode(text));
  });

  it('a missing optional file is absent; a missing config.json is a NetworkError naming <folder>/config.json', async () => {
    const src = createModelSource(open(fixturePath('tiny-gqa-f32'), 'tiny-gqa-f32'));
    expect(await src.exists('manifest.json')).toBe(false);
    expect(await src.exists('sub/x.json')).toBe(false);
    expect(await src.exists('config.json')).toBe(true);
    const e = await failure(src.open('nope.json'));
    expect(e).toBeInstanceOf(NetworkError);
    expect(e.message).toBe('Could not read tiny-gqa-f32/nope.json (not in the chosen folder). Check the model folder path.');
  });
});

describe('folders from disk: failures and names', () => {
  it('a file the browser refuses to read (permission withdrawn, changed on disk) is a NetworkError naming it, never "absent"', async () => {
    const dir = fixturePath('tiny-gqa-f32');
    for (const name of ['NotAllowedError', 'NotReadableError']) {
      const src = createModelSource(folderFromHandle(dirHandle(dir, { 'generation_config.json': name })));
      const e = await failure(describeModel(src));
      expect(e).toBeInstanceOf(NetworkError);
      expect(e.message).toBe(`Could not read tiny-gqa-f32/generation_config.json (${name}: ${name} (test)). Check the model folder path.`);
    }
  });

  it('a folder without weights is a ModelFormatError naming the folder', async () => {
    const files = inputFiles(fixturePath('tiny-gqa-f32'), 'tiny').filter((f) => !f.webkitRelativePath.endsWith('.safetensors'));
    const e = await failure(describeModel(createModelSource(folderFromFiles(files))));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toBe('No weights in tiny: expected model.safetensors or model.safetensors.index.json.');
  });

  it('an empty pick is an InvalidArgumentError; each folder object has its own registry key', () => {
    expect(() => folderFromFiles([])).toThrow(InvalidArgumentError);
    const a = folderFromFiles(inputFiles(fixturePath('tiny-gqa-f32'), 'm'));
    const b = folderFromFiles(inputFiles(fixturePath('tiny-gqa-f32'), 'm'));
    expect(locationKey(a)).toMatch(/^local-folder:\d+\/m\/$/);
    expect(locationKey(a)).toBe(locationKey(a));
    expect(locationKey(b)).not.toBe(locationKey(a));
    expect(locationKey('https://x.invalid/m/')).toBe('https://x.invalid/m/');
  });
});
