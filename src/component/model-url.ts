/**
 * Model folder locations in the browser (the app and `<msn-chat>`): the shared parser of
 * `src/model/location.ts` with the page URL as base, and a short display name.
 */
import { resolveModelLocation } from '../model/location.js';

/**
 * Resolves `input` against `base` (the page URL) to an absolute folder URL ending in `/`, through
 * the one parser every entry point shares ({@link resolveModelLocation}): `hf:owner/name[@rev]`,
 * huggingface.co page, tree, blob, raw and resolve links, and http(s) folder or file URLs.
 * @throws InvalidArgumentError for junk input, a local path or `file:` URL, or a non-http(s) URL.
 */
export function normalizeModelUrl(input: string, base: string): string {
  return resolveModelLocation(input, { base });
}

/** A short display name of a model folder URL (`owner/name` of a Hub resolve URL, on huggingface.co or a mirror; else the last path segment). */
export function modelDisplayName(url: string): string {
  const m = /^https?:\/\/[^/]+(?:\/.*)?\/([\w.-]+\/[\w.-]+)\/resolve\//i.exec(url);
  if (m) return m[1];
  const parts = new URL(url).pathname.split('/').filter(Boolean);
  return parts.at(-1) ?? url;
}
