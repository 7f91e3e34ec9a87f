/**
 * In-memory stand-ins for the Cache API (Node has none): enough of `Cache` and `CacheStorage` for
 * src/app/model-cache.ts and src/model/integrity.ts (match, put, delete, keys; open, keys, has,
 * delete). Bodies are stored as bytes, so a match returns a fresh Response every time.
 */
export class FakeCache {
  /** `type`: the stored response's type (`basic`, `cors`…); Node's own Responses are `default`. */
  readonly entries = new Map<string, { body: Uint8Array; init: ResponseInit; type?: ResponseType }>();

  static key(req: RequestInfo | URL): string {
    return new URL(typeof req === 'string' ? req : req instanceof URL ? req.href : req.url).href;
  }

  async put(req: RequestInfo | URL, res: Response): Promise<void> {
    this.entries.set(FakeCache.key(req), { body: new Uint8Array(await res.arrayBuffer()), init: { status: res.status, headers: [...res.headers] }, type: res.type });
  }

  /**
   * Stores `body` under `url` as a server would have sent it (Content-Length = its size unless
   * given), as a response of `type` (`cors`: fetched from another origin, whose headers a page or
   * service worker sees only in part).
   */
  set(url: string, body: Uint8Array | string, headers: Record<string, string> = {}, type?: ResponseType): void {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    this.entries.set(FakeCache.key(url), { body: bytes, init: { status: 200, headers: { 'content-length': String(bytes.byteLength), ...headers } }, type });
  }

  async match(req: RequestInfo | URL, options?: CacheQueryOptions): Promise<Response | undefined> {
    const e = this.entries.get(this.#find(req, options) ?? '');
    if (!e) return undefined;
    const res = new Response(e.body.slice(), e.init);
    if (e.type) Object.defineProperty(res, 'type', { value: e.type });
    return res;
  }

  async delete(req: RequestInfo | URL, options?: CacheQueryOptions): Promise<boolean> {
    const k = this.#find(req, options);
    return k !== undefined && this.entries.delete(k);
  }

  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((u) => new Request(u));
  }

  #find(req: RequestInfo | URL, options?: CacheQueryOptions): string | undefined {
    const key = FakeCache.key(req);
    if (!options?.ignoreSearch) return this.entries.has(key) ? key : undefined;
    const plain = key.split('?')[0];
    return [...this.entries.keys()].find((k) => k.split('?')[0] === plain);
  }
}

export class FakeCacheStorage {
  readonly caches = new Map<string, FakeCache>();
  async open(name: string): Promise<FakeCache> {
    let c = this.caches.get(name);
    if (!c) this.caches.set(name, (c = new FakeCache()));
    return c;
  }
  async keys(): Promise<string[]> {
    return [...this.caches.keys()];
  }
  async has(name: string): Promise<boolean> {
    return this.caches.has(name);
  }
  async delete(name: string): Promise<boolean> {
    return this.caches.delete(name);
  }
}
