/**
 * Model folders opened from the user's disk in a browser, without a server: a
 * `FileSystemDirectoryHandle` (File System Access API, `showDirectoryPicker()`: Chromium) or the
 * `File`s of an `<input type="file" webkitdirectory>` (every browser; each File's
 * `webkitRelativePath` is `folder/…`). Both are structured-cloneable, so a {@link LocalFolder} is
 * sent to the executor's Web Worker as it is, and each side builds its own {@link ModelSource}.
 *
 * Files are read with `File.stream()` (nothing is held whole in memory) and checked against the
 * file's size like every other source (`checkedBody`). A file is absent only when the folder has
 * no such entry (the handle's `NotFoundError` / `TypeMismatchError`, or no File of that path); any
 * other failure (`NotAllowedError`: permission withdrawn; `NotReadableError`: the file changed on
 * disk after it was picked) is a NetworkError naming the file.
 */
import { InvalidArgumentError, NetworkError } from '../errors.js';
import { checkedBody, type ModelSource, type OpenedFile } from './source.js';

/** A model folder on the user's disk (see the module comment). */
export interface LocalFolder {
  kind: 'local-folder';
  /** The folder's name, for messages and display. */
  name: string;
  /** The picked directory (showDirectoryPicker). */
  handle?: FileSystemDirectoryHandle;
  /** Or: the files of a webkitdirectory input, each `webkitRelativePath` starting with `name/`. */
  files?: File[];
}

/** A model location: a URL or path (src/model/location.ts), or a folder opened from disk. */
export type ModelLocation = string | LocalFolder;

/** Whether `x` is a {@link LocalFolder}. */
export function isLocalFolder(x: unknown): x is LocalFolder {
  return typeof x === 'object' && x !== null && (x as LocalFolder).kind === 'local-folder';
}

/**
 * The folder picked in a `webkitdirectory` input: its `files` (a FileList or array, each with
 * `webkitRelativePath` = `<folder>/<path in the folder>`).
 * @throws InvalidArgumentError when no file was picked.
 */
export function folderFromFiles(files: ArrayLike<File>): LocalFolder {
  const list = Array.from(files);
  if (list.length === 0) throw new InvalidArgumentError('The chosen folder is empty: pick the model folder (the one holding config.json).');
  const first = list[0].webkitRelativePath || list[0].name;
  return { kind: 'local-folder', name: first.includes('/') ? first.slice(0, first.indexOf('/')) : first, files: list };
}

/** A folder picked with `showDirectoryPicker()`. */
export function folderFromHandle(handle: FileSystemDirectoryHandle): LocalFolder {
  return { kind: 'local-folder', name: handle.name, handle };
}

/** Per LocalFolder object, a number that tells it from another folder of the same name. */
const ids = new WeakMap<LocalFolder, number>();
let nextId = 1;

/**
 * A string that names `location` uniquely on this page (registry keys, cost-cache keys, messages):
 * the URL itself, or `local-folder:<n>/<name>/` for a folder from disk (not a URL: nothing fetches it).
 */
export function locationKey(location: ModelLocation): string {
  if (typeof location === 'string') return location;
  let id = ids.get(location);
  if (id === undefined) ids.set(location, (id = nextId++));
  return `local-folder:${id}/${location.name}/`;
}

/** Errors of the File System Access API that mean "no such entry". */
const ABSENT_NAMES = new Set(['NotFoundError', 'TypeMismatchError']);

/** A {@link ModelSource} over a folder from disk. */
export class LocalFolderSource implements ModelSource {
  readonly location: string;
  readonly #byPath: Map<string, File> | null;
  constructor(readonly folder: LocalFolder) {
    this.location = folder.name;
    if (folder.handle) this.#byPath = null;
    else if (folder.files) {
      this.#byPath = new Map();
      for (const f of folder.files) {
        const rel = f.webkitRelativePath || f.name;
        // Drop the picked folder's own name: `name/config.json` → `config.json`.
        this.#byPath.set(rel.startsWith(`${folder.name}/`) ? rel.slice(folder.name.length + 1) : rel, f);
      }
    } else throw new InvalidArgumentError(`Local folder ${folder.name} has neither a directory handle nor files.`);
  }

  /** `name` as a path for messages: `<folder>/<name>`. */
  #where(name: string): string {
    return `${this.folder.name}/${name}`;
  }

  /** The File of `name`, or null when the folder has no such file. @throws NetworkError for any other failure. */
  async #file(name: string): Promise<File | null> {
    if (this.#byPath) return this.#byPath.get(name) ?? null;
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length === 0 || parts.includes('..')) return null;
    try {
      let dir = this.folder.handle!;
      for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p);
      return await (await dir.getFileHandle(parts.at(-1)!)).getFile();
    } catch (e) {
      const n = (e as Error)?.name ?? '';
      if (ABSENT_NAMES.has(n)) return null;
      throw new NetworkError(this.#where(name), `${n || 'Error'}: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  async open(name: string): Promise<OpenedFile> {
    const f = await this.#file(name);
    if (!f) throw new NetworkError(this.#where(name), 'not in the chosen folder');
    return { size: f.size, stream: checkedBody(f.stream() as ReadableStream<Uint8Array>, name, this.#where(name), f.size) };
  }

  async size(name: string): Promise<number | null> {
    const f = await this.#file(name);
    if (!f) throw new NetworkError(this.#where(name), 'not in the chosen folder');
    return f.size;
  }

  async exists(name: string): Promise<boolean> {
    return (await this.#file(name)) !== null;
  }
}
