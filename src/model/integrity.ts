/**
 * Integrity checks against `manifest.json` (written by train/export.py: every file with its size
 * and SHA-256). A checked source hashes each file as it streams (incremental SHA-256 from
 * @noble/hashes; WebCrypto has no streaming digest) and fails the stream with an IntegrityError when
 * the digest or size differs — after evicting the bad copy from the Cache API, so a reload fetches
 * it again.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { IntegrityError, ModelFormatError } from '../errors.js';
import { readJson, type ModelSource, type OpenedFile } from './source.js';

/** One manifest entry. */
export interface ManifestEntry {
  path: string;
  size: number;
  sha256?: string;
}

/** Reads and validates `manifest.json`, or returns null when the folder has none. */
export async function readManifest(src: ModelSource, signal?: AbortSignal): Promise<ManifestEntry[] | null> {
  if (!(await src.exists('manifest.json'))) return null;
  const m = (await readJson(src, 'manifest.json', signal)) as { files?: unknown };
  if (!m || !Array.isArray(m.files)) throw new ModelFormatError('manifest.json must be an object with a "files" array.', { file: 'manifest.json' });
  return m.files.map((f: Record<string, unknown>) => {
    if (!f || typeof f.path !== 'string' || typeof f.size !== 'number') throw new ModelFormatError('manifest.json: each file needs "path" (string) and "size" (number).', { file: 'manifest.json' });
    if (f.sha256 !== undefined && (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(f.sha256))) throw new ModelFormatError(`manifest.json: bad sha256 for ${f.path}.`, { file: 'manifest.json' });
    return { path: f.path, size: f.size, sha256: typeof f.sha256 === 'string' ? f.sha256.toLowerCase() : undefined };
  });
}

/**
 * Deletes `url` from every Cache API cache of this origin (no-op where there is none).
 * @returns whether a cached copy was deleted.
 */
export async function evictCached(url: string): Promise<boolean> {
  const cs = (globalThis as { caches?: CacheStorage }).caches;
  if (!cs) return false;
  let deleted = false;
  try {
    for (const name of await cs.keys()) deleted = (await (await cs.open(name)).delete(url, { ignoreSearch: true })) || deleted;
  } catch {
    /* best effort */
  }
  return deleted;
}

/**
 * A cached file that fails to parse (a truncated safetensors, a cut JSON file: `e` is a
 * ModelFormatError naming the file in `detail.file`) would fail the same way on every reload, so its
 * cached copy is evicted, like a digest mismatch, and the next load downloads it again.
 * @returns the error to throw: `e` itself, or when a cached copy was evicted, a ModelFormatError with
 *   the same detail plus `evicted: true`, whose message says so.
 */
export async function evictUnparsable(src: ModelSource, e: unknown): Promise<unknown> {
  if (!(e instanceof ModelFormatError) || typeof e.detail.file !== 'string' || e.detail.evicted) return e;
  const url = src.urlOf?.(e.detail.file);
  if (!url || !(await evictCached(url))) return e;
  return new ModelFormatError(`${e.message.replace(/\.?$/, '.')} The cached copy of ${e.detail.file} was evicted; load the model again to download it afresh.`, { ...e.detail, evicted: true });
}

/** A source whose files listed in `manifest` are verified while they stream. */
export function withIntegrity(src: ModelSource, manifest: readonly ManifestEntry[]): ModelSource {
  const byPath = new Map(manifest.map((e) => [e.path, e]));
  return {
    location: src.location,
    urlOf: src.urlOf?.bind(src),
    size: async (name) => byPath.get(name)?.size ?? src.size(name),
    exists: (name) => src.exists(name),
    async open(name, signal): Promise<OpenedFile> {
      const f = await src.open(name, signal);
      const entry = byPath.get(name);
      if (!entry) return f;
      const hash = sha256.create();
      let n = 0;
      const url = src.urlOf?.(name) ?? name;
      const check = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          hash.update(chunk);
          n += chunk.byteLength;
          c.enqueue(chunk);
        },
        async flush(c) {
          const got = bytesToHex(hash.digest());
          if (n !== entry.size || (entry.sha256 && got !== entry.sha256)) {
            await evictCached(url);
            c.error(new IntegrityError(name, entry.sha256 ? `${entry.sha256} (${entry.size} bytes)` : `${entry.size} bytes`, `${got} (${n} bytes)`));
          }
        },
      });
      return { size: f.size ?? entry.size, stream: f.stream.pipeThrough(check) };
    },
  };
}

/** The folder's source, verified against its manifest when it has one. */
export async function openCheckedSource(src: ModelSource, signal?: AbortSignal): Promise<{ source: ModelSource; manifest: ManifestEntry[] | null }> {
  const manifest = await readManifest(src, signal);
  return { source: manifest ? withIntegrity(src, manifest) : src, manifest };
}
