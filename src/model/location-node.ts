/**
 * Node's side of {@link resolveModelLocation}: local paths resolve against the current directory
 * (node:path), `file:` URLs become paths (node:url), and `hf:` names resolve against
 * `MSN_HF_ENDPOINT`, else `HF_ENDPOINT` (huggingface_hub's variable, e.g. a mirror), else
 * https://huggingface.co. Used by the CLI, the benchmark and `createNodeEngine`.
 */
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveModelLocation } from './location.js';

/** Options of {@link resolveNodeModelLocation} (defaults: this process's). */
export interface NodeLocationOptions {
  /** Folder that relative paths resolve against (default `process.cwd()`). */
  cwd?: string;
  /** Environment holding `MSN_HF_ENDPOINT` / `HF_ENDPOINT` (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Path flavour (default this platform's; `path.win32` or `path.posix` in tests). */
  path?: typeof nodePath.posix;
}

/**
 * Resolves a model location in Node: an absolute local folder path, or an absolute http(s) folder
 * URL ending in `/`.
 * @throws InvalidArgumentError for input that is no model location (see {@link resolveModelLocation}).
 */
export function resolveNodeModelLocation(input: string, options: NodeLocationOptions = {}): string {
  const path = options.path ?? nodePath;
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  return resolveModelLocation(input, {
    paths: { resolve: (p) => path.resolve(cwd, p), fromFileUrl: (u) => fileURLToPath(u) },
    hfEndpoint: env.MSN_HF_ENDPOINT || env.HF_ENDPOINT || undefined,
  });
}

/**
 * The Hugging Face token of this process, as huggingface_hub reads it: `HF_TOKEN` (else the older
 * `HUGGING_FACE_HUB_TOKEN`), with the origin of `MSN_HF_ENDPOINT` / `HF_ENDPOINT` (a mirror the user
 * chose) trusted with it besides the Hub's own. Used by `createNodeEngine`, so the CLI
 * (`npm run generate`) and the server (`npm run serve`) load gated repositories.
 * The mirror's origin is returned without a token too: a 401/403 from it is then a GatedModelError.
 * @returns `{}` when neither is set.
 */
export function nodeHubAuth(env: Record<string, string | undefined> = process.env): { hubToken?: string; hubTokenOrigins?: string[] } {
  const token = (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || '').trim();
  const endpoint = env.MSN_HF_ENDPOINT || env.HF_ENDPOINT;
  let origin: string | null = null;
  try {
    origin = endpoint ? new URL(endpoint).origin : null;
  } catch {
    origin = null; // resolveNodeModelLocation reports a bad endpoint
  }
  const origins = origin && origin !== 'null' ? { hubTokenOrigins: [origin] } : {};
  return token ? { hubToken: token, ...origins } : origins;
}
