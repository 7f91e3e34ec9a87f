/**
 * Whole-or-nothing model caching over the Cache API, shared by the service worker (sw.ts), which
 * audits a model folder after it loaded and records it, and the page (pwa.ts), which lists what is
 * cached. A model counts as cached only when its folder has a record (`.msn-cached.json`, written
 * after an audit) and every file the record lists is in the cache with the recorded byte count.
 *
 * The audit checks every file the load read, plus the files the folder's own metadata requires:
 * `config.json`, the weights (`model.safetensors`, or every shard of
 * `model.safetensors.index.json`), and every file of `manifest.json` with its listed size. Each
 * cached body must have the length its response announced where that is the body's length
 * (src/model/body-length.ts: a same-origin response without Content-Encoding; from another origin a
 * compressed file's Content-Length counts the encoded bytes, and CORS hides the encoding), a
 * `.json` body must parse, and a `.safetensors` body must be exactly 8 + N + the data bytes its
 * header describes (format: https://github.com/huggingface/safetensors#format).
 *
 * A folder's entries are its files and those of its sub-folders (shards), except a sub-folder that
 * has a record of its own: that is another model.
 */
import { ModelFormatError } from '../errors.js';
import { announcedBodyLength } from '../model/body-length.js';
import { headerLength, parseHeaderBytes } from '../model/safetensors.js';

/** File name of a folder's record, next to the model's files (no model file has this name). */
export const RECORD_FILE = '.msn-cached.json';

/** What the record of a cached model holds. */
export interface CacheRecord {
  version: 1;
  /** File name (relative to the folder) → body bytes. */
  files: Record<string, number>;
  /** ISO time of the audit. */
  at: string;
}

/** Outcome of an audit or of a record check: the model's files and bytes, or why it is not whole. */
export type Audit = { ok: true; files: Record<string, number>; bytes: number } | { ok: false; reason: string };

/** One folder of the model cache, as listed for the page. */
export interface CachedFolder {
  /** Folder URL, ending in `/`. */
  folder: string;
  /** Whether the model is whole (recorded, and every recorded file present with its size). */
  complete: boolean;
  /** Files of this folder in the cache, and their body bytes. */
  files: number;
  bytes: number;
  /** Why it is not whole (incomplete folders only). */
  reason?: string;
}

/** The folder of a file URL (everything up to and including the last `/`). */
export function folderOf(url: string): string {
  return url.slice(0, url.lastIndexOf('/') + 1);
}

/** The cache key of `folder`'s record. */
export function recordUrl(folder: string): string {
  return folder + RECORD_FILE;
}

/**
 * Size in bytes that a safetensors file must have according to its header: 8 + N + the end of
 * the last tensor's data. Reads only the first 8 + N bytes of `blob`.
 * @throws ModelFormatError when the header is truncated or malformed (checks of `parseHeader`).
 */
export async function safetensorsSize(blob: Blob, name: string): Promise<number> {
  if (blob.size < 8) throw new ModelFormatError(`${name}: truncated (${blob.size} bytes, shorter than the 8-byte header length).`, { file: name });
  const n = headerLength(new Uint8Array(await blob.slice(0, 8).arrayBuffer()), name);
  if (8 + n > blob.size) throw new ModelFormatError(`${name}: truncated inside the header (${blob.size} bytes, the header ends at ${8 + n}).`, { file: name });
  const tensors = parseHeaderBytes(new Uint8Array(await blob.slice(8, 8 + n).arrayBuffer()), name, null);
  return 8 + n + (tensors.at(-1)?.end ?? 0);
}

class NotWhole extends Error {}

/** `blob` parsed as JSON; @throws NotWhole when it is not valid JSON (a cut file). */
async function parseJson(blob: Blob, name: string): Promise<unknown> {
  try {
    return JSON.parse(await blob.text());
  } catch {
    throw new NotWhole(`${name} in the cache is not valid JSON`);
  }
}

async function cachedJson(cache: Cache, folder: string, name: string): Promise<unknown> {
  const res = await cache.match(folder + name);
  return res ? parseJson(await res.blob(), name) : undefined;
}

/**
 * Checks that the model in `folder` is whole in `cache`: every file of `names` (the files its load
 * read) and every file its metadata requires (see the module comment) is cached with the right size.
 * Reads JSON metadata in full, and of each `.safetensors` file only its header.
 * @param folder folder URL ending in `/`; file names are relative to it.
 * @returns the files and their body bytes, or the first reason the model is not whole.
 */
export async function auditFolder(cache: Cache, folder: string, names: Iterable<string>): Promise<Audit> {
  // File name → size required by manifest.json (null: no listed size).
  const want = new Map<string, number | null>();
  for (const n of names) if (n !== RECORD_FILE) want.set(n, null);
  want.set('config.json', null);
  try {
    const index = await cachedJson(cache, folder, 'model.safetensors.index.json');
    if (index !== undefined) {
      const map = (index as { weight_map?: unknown })?.weight_map;
      if (!map || typeof map !== 'object') throw new NotWhole('model.safetensors.index.json has no "weight_map" object');
      want.set('model.safetensors.index.json', null);
      for (const shard of Object.values(map as Record<string, unknown>)) if (typeof shard === 'string') want.set(shard, null);
    } else if (!want.has('model.safetensors.index.json')) {
      want.set('model.safetensors', null);
    }
    const manifest = await cachedJson(cache, folder, 'manifest.json');
    if (manifest !== undefined) {
      const files = (manifest as { files?: unknown })?.files;
      if (!Array.isArray(files)) throw new NotWhole('manifest.json has no "files" array');
      for (const f of files as Array<{ path?: unknown; size?: unknown }>) if (f && typeof f.path === 'string') want.set(f.path, typeof f.size === 'number' ? f.size : null);
    }
    const out: Record<string, number> = {};
    let bytes = 0;
    for (const [name, listed] of [...want].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const res = await cache.match(folder + name);
      if (!res) throw new NotWhole(`${name} is not in the cache`);
      const len = announcedBodyLength(res);
      const blob = await res.blob();
      if (len !== null && len !== blob.size) throw new NotWhole(`${name} has ${blob.size} bytes in the cache, but its response announced ${len}`);
      if (listed !== null && listed !== blob.size) throw new NotWhole(`${name} has ${blob.size} bytes in the cache, but manifest.json lists ${listed}`);
      if (name.endsWith('.json')) await parseJson(blob, name);
      if (name.endsWith('.safetensors')) {
        let need: number;
        try {
          need = await safetensorsSize(blob, name);
        } catch (e) {
          throw new NotWhole((e as Error).message.replace(/\.$/, ''));
        }
        if (need !== blob.size) throw new NotWhole(`${name} has ${blob.size} bytes in the cache, but its safetensors header describes ${need}`);
      }
      out[name] = blob.size;
      bytes += blob.size;
    }
    return { ok: true, files: out, bytes };
  } catch (e) {
    if (e instanceof NotWhole) return { ok: false, reason: e.message };
    throw e;
  }
}

/** The record of `folder`, or null when it has none (or an unreadable one). */
export async function readRecord(cache: Cache, folder: string): Promise<CacheRecord | null> {
  const res = await cache.match(recordUrl(folder));
  if (!res) return null;
  try {
    const r = (await res.json()) as CacheRecord;
    return r && r.version === 1 && r.files && typeof r.files === 'object' ? r : null;
  } catch {
    return null;
  }
}

/** Writes `folder`'s record for the audited `files`. @throws what `cache.put` throws (quota). */
export async function writeRecord(cache: Cache, folder: string, files: Record<string, number>): Promise<void> {
  const record: CacheRecord = { version: 1, files, at: new Date().toISOString() };
  await cache.put(recordUrl(folder), new Response(JSON.stringify(record), { headers: { 'content-type': 'application/json' } }));
}

/**
 * Checks `folder` against its record: every recorded file present with the recorded body size.
 * @returns null when the folder has no record.
 */
export async function verifyRecord(cache: Cache, folder: string): Promise<Audit | null> {
  const record = await readRecord(cache, folder);
  if (!record) return null;
  let bytes = 0;
  for (const [name, size] of Object.entries(record.files)) {
    const res = await cache.match(folder + name);
    if (!res) return { ok: false, reason: `${name} is no longer in the cache` };
    const got = (await res.blob()).size;
    if (got !== size) return { ok: false, reason: `${name} has ${got} of its ${size} bytes in the cache` };
    bytes += size;
  }
  return { ok: true, files: record.files, bytes };
}

/**
 * The cache keys of `folder`'s entries: its files, its record, and the files of its sub-folders
 * (shards), except those of a sub-folder with a record of its own (another model).
 */
async function folderKeys(cache: Cache, folder: string): Promise<Request[]> {
  const keys = (await cache.keys()).filter((r) => r.url.startsWith(folder));
  const others = keys.map((r) => r.url).filter((u) => u.endsWith(`/${RECORD_FILE}`) && u !== recordUrl(folder)).map(folderOf);
  return keys.filter((r) => !others.some((f) => r.url.startsWith(f)));
}

/**
 * Deletes every entry of `folder` (its files, its record, its sub-folders' files except another
 * recorded model's) from `cache`; returns how many.
 */
export async function evictFolder(cache: Cache, folder: string): Promise<number> {
  const keys = await folderKeys(cache, folder);
  await Promise.all(keys.map((r) => cache.delete(r)));
  return keys.length;
}

/**
 * After a failed load of the model in `folder` (a model is cached whole or not at all): when the
 * folder holds a recorded model that is still whole ({@link verifyRecord}: the failure did not
 * touch its files, e.g. the GPU ran out of memory), it stays, and only the entries its record does
 * not list go (files the failed load fetched); otherwise every entry of the folder goes, the
 * record too (a recorded file that was evicted or cut means the model is no longer whole).
 * @returns how many entries were deleted, and the kept model's files and bytes (null if none).
 */
export async function evictFailedLoad(cache: Cache, folder: string): Promise<{ evicted: number; kept: Audit & { ok: true } | null }> {
  const check = await verifyRecord(cache, folder);
  if (!check?.ok) return { evicted: await evictFolder(cache, folder), kept: null };
  const listed = new Set([new URL(recordUrl(folder)).href, ...Object.keys(check.files).map((n) => new URL(folder + n).href)]);
  const extra = (await folderKeys(cache, folder)).filter((r) => !listed.has(r.url));
  await Promise.all(extra.map((r) => cache.delete(r)));
  return { evicted: extra.length, kept: check };
}

/**
 * Lists the folders in `cache`: whole models (checked against their records) and incomplete ones
 * (no record, or a recorded file missing or of the wrong size). Files in sub-folders of a recorded
 * folder (shards) count with it.
 */
export async function listFolders(cache: Cache): Promise<CachedFolder[]> {
  const keys = (await cache.keys()).map((r) => r.url);
  const recorded = keys.filter((u) => u.endsWith(`/${RECORD_FILE}`)).map(folderOf).sort((a, b) => b.length - a.length);
  const folders = new Map<string, { files: number; bytes: number }>();
  for (const url of keys) {
    if (url.endsWith(`/${RECORD_FILE}`)) continue;
    const folder = recorded.find((f) => url.startsWith(f)) ?? folderOf(url);
    const f = folders.get(folder) ?? { files: 0, bytes: 0 };
    f.files++;
    // Compressed responses carry no usable Content-Length; the cached body's blob knows its size.
    f.bytes += (await (await cache.match(url))?.blob())?.size ?? 0;
    folders.set(folder, f);
  }
  for (const folder of recorded) if (!folders.has(folder)) folders.set(folder, { files: 0, bytes: 0 });
  const out: CachedFolder[] = [];
  for (const [folder, f] of folders) {
    const check = await verifyRecord(cache, folder);
    out.push(check?.ok
      ? { folder, complete: true, files: f.files, bytes: f.bytes }
      : { folder, complete: false, files: f.files, bytes: f.bytes, reason: check ? check.reason : 'not every file of the model is cached' });
  }
  return out.sort((a, b) => (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : 0));
}
