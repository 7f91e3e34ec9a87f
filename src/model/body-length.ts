/**
 * When a response's `Content-Length` is the length of the body that a reader gets. Shared by the
 * model loader (src/model/source.ts: a body that ends short of or past it is a truncated copy) and
 * the service worker's cache audit (src/app/model-cache.ts), so both trust the header in the same
 * cases.
 *
 * `Content-Length` counts the bytes on the wire: for a compressed response (`Content-Encoding:
 * gzip`, br, …) that is the *encoded* size, while `fetch` hands the reader the decoded bytes. A
 * same-origin response (`type` `basic`) shows every header, so a visible `Content-Encoding` says
 * when the length is not the body's. A cross-origin one (`cors`) shows only the CORS-safelisted
 * headers: `Content-Length` is among them, `Content-Encoding` is not (unless the server lists it in
 * `Access-Control-Expose-Headers`), so its length may count encoded bytes with nothing to say so
 * (Fetch standard, "CORS-safelisted response-header name"; "CORS filtered response"). Such a
 * length is not trusted; the safetensors header sizes (exact) and JSON parsing still catch a cut
 * file. `default` is a Response built by script (or Node's own), whose headers are all visible.
 */

/** Response types whose headers are all visible to the reader (same origin, Node, built by script). */
const ALL_HEADERS_VISIBLE = new Set<ResponseType>(['basic', 'default']);

/**
 * The `Content-Length` of `res` in bytes, or null when it is missing, malformed or counts encoded
 * bytes (a visible `Content-Encoding`). For a cross-origin response it may still count encoded
 * bytes: an estimate for progress and memory figures, never a length to check a body against
 * (that is {@link announcedBodyLength}).
 */
export function announcedLength(res: Pick<Response, 'headers'>): number | null {
  const len = res.headers.get('content-length');
  if (!len || res.headers.get('content-encoding') || !/^\d+$/.test(len.trim())) return null;
  return Number(len);
}

/**
 * The length in bytes of `res`'s body as announced by its `Content-Length`, or null when that
 * cannot be known: no (or a malformed) `Content-Length`, a visible `Content-Encoding`, or a
 * response whose `Content-Encoding` may be hidden (`cors`, `opaque`: another origin).
 */
export function announcedBodyLength(res: Pick<Response, 'headers' | 'type'>): number | null {
  return ALL_HEADERS_VISIBLE.has(res.type) ? announcedLength(res) : null;
}
