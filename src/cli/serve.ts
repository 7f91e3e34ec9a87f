/**
 * `npm run serve`: an OpenAI-compatible HTTP server (node:http) over one engine. Routes:
 * `POST /v1/chat/completions`, `POST /v1/completions` (JSON, or Server-Sent Events with
 * `"stream": true`, ended by `data: [DONE]`), `GET /v1/models`, `GET /v1/models/{id}`. The request
 * bodies and responses are those of `src/engine/openai.ts` (the library's
 * `engine.chat.completions.create`); requests queue FIFO in the engine.
 *
 * Errors are OpenAI-shaped JSON, `{ error: { message, type, param, code } }`: 400 for an invalid
 * request (bad JSON, a bad or unsupported parameter, a prompt that does not fit the context), 404 for
 * an unknown route or model, 405 for a known route with another method, 413 for a body over the
 * limit, 500 for an engine failure. A stream that fails after it started sends one `data:` event
 * with the error object and ends without `[DONE]`. A client that disconnects aborts its generation
 * (or removes it from the queue).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { InvalidArgumentError, MsnError } from '../errors.js';
import { createNodeEngine } from '../engine/node.js';
import { apiModelId } from '../engine/openai.js';
import type { Engine } from '../engine/engine.js';
import { defaultModelPath } from './generate.js';

/** Largest request body by default, bytes (1 MiB: far above any prompt a 4096-token context takes). */
export const DEFAULT_BODY_LIMIT = 1 << 20;

/** One finished request, for logs and tests. */
export interface RequestRecord {
  method: string;
  path: string;
  /** The HTTP status sent, or null when no response was sent (the client left first). */
  status: number | null;
  /** The client went away before the response ended (its generation was aborted). */
  aborted: boolean;
  /** The error message sent, or null. */
  error: string | null;
}

/**
 * The log line of a request: method, path, the status sent (or `no response`), `(client
 * disconnected)` when the client left before the response ended, and the error message sent.
 */
export function formatRecord(r: RequestRecord): string {
  return `${r.method} ${r.path} ${r.status ?? 'no response'}${r.aborted ? ' (client disconnected)' : ''}${r.error ? ` ${r.error}` : ''}`;
}

export interface ServeOptions {
  engine: Engine;
  /** Interface to listen on (default 127.0.0.1: this machine only). */
  host?: string;
  /** TCP port (default 8080; 0 picks a free one). */
  port?: number;
  /** Largest request body in bytes (default {@link DEFAULT_BODY_LIMIT}). */
  bodyLimitBytes?: number;
  /** Called after every request. */
  onRequest?: (r: RequestRecord) => void;
}

/** A running server. */
export interface RunningServer {
  server: Server;
  /** Base URL of the API, e.g. `http://127.0.0.1:8080/v1`. */
  url: string;
  /** Stops accepting connections, ends open ones (aborting their generations) and resolves when closed. */
  close(): Promise<void>;
}

/** An HTTP failure with OpenAI's error fields. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly type: string, readonly code: string | null, readonly param: string | null = null) {
    super(message);
  }
}

/** The HTTP status and OpenAI error object of a failure. */
export function errorResponse(e: unknown): { status: number; body: { error: { message: string; type: string; param: string | null; code: string | null } } } {
  const out = (status: number, message: string, type: string, code: string | null, param: string | null = null) => ({ status, body: { error: { message, type, param, code } } });
  if (e instanceof HttpError) return out(e.status, e.message, e.type, e.code, e.param);
  if (e instanceof MsnError) {
    const param = typeof e.detail.param === 'string' ? e.detail.param : null;
    switch (e.code) {
      case 'unsupported-parameter': return out(400, e.message, 'invalid_request_error', 'unsupported_parameter', param);
      case 'invalid-argument': return out(400, e.message, 'invalid_request_error', 'invalid_value', param);
      case 'context-overflow': return out(400, e.message, 'invalid_request_error', 'context_length_exceeded');
      case 'chat-template': return out(400, e.message, 'invalid_request_error', 'invalid_messages', 'messages');
      case 'model-not-found': return out(404, e.message, 'invalid_request_error', 'model_not_found', 'model');
      case 'model-format':
        // A chat request to a model without a chat template is the request's fault: 400, use /v1/completions.
        if ('chatTemplate' in e.detail) return out(400, `${e.message} (POST /v1/completions takes a raw prompt)`, 'invalid_request_error', 'no_chat_template', 'messages');
        return out(500, `${e.name}: ${e.message}`, 'server_error', 'model_format');
      default: return out(500, `${e.name}: ${e.message}`, 'server_error', e.code.replace(/-/g, '_'));
    }
  }
  return out(500, `Internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error', null);
}

/** Reads a JSON body of at most `limit` bytes. @throws HttpError 413 (too large) or 400 (not JSON). */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `The request body (${declared} bytes) is over the limit of ${limit} bytes.`, 'invalid_request_error', 'request_too_large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new HttpError(413, `The request body is over the limit of ${limit} bytes.`, 'invalid_request_error', 'request_too_large');
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `The request body is not valid JSON: ${(e as Error).message}.`, 'invalid_request_error', 'invalid_json');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Writes `text`, waiting for the socket to drain (false when the client has gone). */
async function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(text)) return true;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
  return !res.destroyed;
}

/** Streams `chunks` as Server-Sent Events; the first chunk is awaited before the 200 header, so early failures get their status. */
async function sendStream(res: ServerResponse, chunks: AsyncIterable<unknown>): Promise<void> {
  const it = chunks[Symbol.asyncIterator]();
  let r = await it.next();
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  try {
    while (!r.done) {
      if (!(await write(res, `data: ${JSON.stringify(r.value)}\n\n`))) return;
      r = await it.next();
    }
    await write(res, 'data: [DONE]\n\n');
  } catch (e) {
    if (!res.destroyed) await write(res, `data: ${JSON.stringify(errorResponse(e).body)}\n\n`);
  } finally {
    if (!r.done) await it.return?.();
    res.end();
  }
}

const ROUTES: Record<string, string> = { '/v1/chat/completions': 'POST', '/v1/completions': 'POST', '/v1/models': 'GET' };

/**
 * Starts the OpenAI-compatible server over `options.engine` (which stays the caller's: `close()`
 * does not dispose it). Resolves once it listens.
 * @throws the listen error (e.g. EADDRINUSE).
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { engine } = options;
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const modelId = apiModelId(engine);
  const model = { id: modelId, object: 'model', created: Math.floor(Date.now() / 1000), owned_by: 'msn-webgpu' };

  async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    if (method === 'GET' && path.startsWith('/v1/models/')) {
      let id: string;
      try {
        id = decodeURIComponent(path.slice('/v1/models/'.length));
      } catch {
        throw new HttpError(400, `The model id in ${path} is not valid percent-encoding (UTF-8).`, 'invalid_request_error', 'invalid_url', 'model');
      }
      if (id !== modelId) throw new HttpError(404, `The model "${id}" does not exist here; this server serves "${modelId}".`, 'invalid_request_error', 'model_not_found', 'model');
      return sendJson(res, 200, model);
    }
    const allowed = ROUTES[path];
    if (!allowed) throw new HttpError(404, `Unknown route ${method} ${path}; the routes are POST /v1/chat/completions, POST /v1/completions and GET /v1/models.`, 'invalid_request_error', 'unknown_url');
    if (method !== allowed) {
      res.setHeader('allow', allowed);
      throw new HttpError(405, `${path} takes ${allowed}, not ${method}.`, 'invalid_request_error', 'method_not_allowed');
    }
    if (path === '/v1/models') return sendJson(res, 200, { object: 'list', data: [model] });
    const body = await readJson(req, limit);
    const result = path === '/v1/chat/completions'
      ? await engine.chat.completions.create(body as Parameters<Engine['chat']['completions']['create']>[0], { signal })
      : await engine.completions.create(body as Parameters<Engine['completions']['create']>[0], { signal });
    if (Symbol.asyncIterator in (result as object)) return sendStream(res, result as AsyncIterable<unknown>);
    sendJson(res, 200, result);
  }

  const server = createServer((req, res) => {
    const ac = new AbortController();
    // The client went away before the response ended: abort its generation (or its place in the queue).
    res.on('close', () => { if (!res.writableFinished) ac.abort(); });
    let error: string | null = null;
    handle(req, res, ac.signal).catch((e: unknown) => {
      if (ac.signal.aborted) return;
      const { status, body } = errorResponse(e);
      error = body.error.message;
      if (res.headersSent) res.end();
      else {
        // A body over the limit is not read: close the connection after the answer.
        sendJson(res, status, body, status === 413 ? { connection: 'close' } : {});
      }
    }).finally(() => {
      const done = () => options.onRequest?.({ method: req.method ?? '', path: req.url ?? '', status: res.headersSent ? res.statusCode : null, aborted: ac.signal.aborted, error });
      if (res.writableFinished || res.destroyed) done();
      else res.once('close', done);
    });
  });
  server.listen(options.port ?? 8080, options.host ?? '127.0.0.1');
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => { throw e; })]);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const host = options.host ?? '127.0.0.1';
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

export const SERVE_USAGE = `Usage: npm run serve -- [options]
  --model <location>         model folder, folder URL, hf:owner/name[@rev] or huggingface.co link
                             (default: the embedded default model)
  --port <N>                 TCP port (default 8080; 0 picks a free one)
  --host <address>           interface to listen on (default 127.0.0.1: this machine only)
  --context-length <N>       KV cache size in tokens
  --max-body-bytes <N>       largest request body (default ${DEFAULT_BODY_LIMIT})
  --swiftshader              use Chromium's SwiftShader Vulkan driver instead of lavapipe
  --no-self-check            skip the load-time self-check
  -h, --help                 this text
Environment:
  HF_TOKEN                   Hugging Face access token for gated or private repositories (Llama, Gemma…): sent
                             only to huggingface.co (and the HF_ENDPOINT mirror, when set)
`;

/** Parsed `npm run serve` options. @throws InvalidArgumentError for a bad option or value. */
export function parseServeArgs(argv: string[]): { model: string | undefined; port: number; host: string; contextLength: number | undefined; bodyLimitBytes: number; swiftshader: boolean; selfCheck: boolean; help: boolean } {
  let v;
  try {
    v = parseArgs({
      args: argv, strict: true, allowPositionals: false, options: {
        model: { type: 'string' }, port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' },
        'context-length': { type: 'string' }, 'max-body-bytes': { type: 'string', default: String(DEFAULT_BODY_LIMIT) },
        swiftshader: { type: 'boolean', default: false }, 'no-self-check': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  const int = (name: string, s: string | undefined, lo: number, hi: number): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < lo || n > hi) throw new InvalidArgumentError(`--${name} must be an integer in [${lo}, ${hi}], got "${s}".`);
    return n;
  };
  return {
    model: v.model, port: int('port', v.port, 0, 65535)!, host: v.host!, contextLength: int('context-length', v['context-length'], 1, 1 << 20),
    bodyLimitBytes: int('max-body-bytes', v['max-body-bytes'], 1, 1 << 30)!, swiftshader: v.swiftshader!, selfCheck: !v['no-self-check'], help: v.help!,
  };
}

/** Runs `npm run serve` until SIGINT/SIGTERM; returns the exit code (2: a usage error). */
export async function main(argv: string[]): Promise<number> {
  let o;
  try {
    o = parseServeArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).name}: ${(e as Error).message}\nRun with --help for the options.\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  let engine: Engine;
  try {
    engine = await createNodeEngine({ model: o.model ?? defaultModelPath(), contextLength: o.contextLength, preferSwiftShader: o.swiftshader, selfCheck: o.selfCheck });
  } catch (e) {
    process.stderr.write(`${(e as Error).name}: ${(e as Error).message}\n`);
    return 1;
  }
  let running: RunningServer;
  try {
    running = await startServer({
      engine, host: o.host, port: o.port, bodyLimitBytes: o.bodyLimitBytes,
      onRequest: (r) => process.stderr.write(`${formatRecord(r)}\n`),
    });
  } catch (e) {
    await engine.dispose();
    process.stderr.write(`Error: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`msn-webgpu serving "${apiModelId(engine)}" at ${running.url} (${engine.info.adapter.description || engine.info.adapter.device})\n`);
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = () => { stopping = true; resolve(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // A lost engine cannot serve: stop with an error (not when it is lost because we are stopping: a
  // Ctrl+C reaches the executor process too).
  const lost = engine.lost.then((e) => { if (!stopping) process.stderr.write(`${e.name}: ${e.message}\n`); return stopping ? 0 : 1; });
  const code = await Promise.race([stopped.then(() => 0), lost]);
  stopping = true;
  await running.close();
  await engine.dispose().catch(() => {});
  return code;
}

const invoked = process.argv[1] && /serve\.(?:mjs|ts|js)$/.test(process.argv[1]);
if (invoked) void main(process.argv.slice(2)).then((code) => { process.exit(code); });
