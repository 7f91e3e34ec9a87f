/**
 * Node entry: `createNodeEngine` runs the executor in a child process of its own (Comlink over the
 * IPC channel, `src/worker/ipc.ts`) over Dawn's `webgpu` package, or in-process with `inline: true`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import { createNodeGpu, prepareNodeGpuEnv } from '../gpu/node.js';
import { WebGpuUnavailableError } from '../errors.js';
import type { LoadProgress } from '../model/loader.js';
import { Executor } from '../worker/executor.js';
import { installErrorTransfer } from '../worker/transfer.js';
import { ipcEndpoint, isSideMessage } from '../worker/ipc.js';
import type { ExecutorApi } from '../worker/api.js';
import { createEngineWith, type EngineOptions } from './create.js';
import { nodeHubAuth, resolveNodeModelLocation } from '../model/location-node.js';
import type { Engine } from './engine.js';
import { FileCostCache } from './cost-cache-node.js';
import { guardExecutor, WorkerWatch } from './worker-watch.js';

export interface NodeEngineOptions extends EngineOptions {
  /** Model folder: a local path or a URL (a folder opened from disk is a browser-only location). */
  model: string;
  /**
   * Run the executor in this process instead of a child process. Then nothing isolates a native
   * failure: an abort or a crash in Dawn or the GPU driver ends this process too.
   */
  inline?: boolean;
  /**
   * Node options of the executor's child process (default none: it does not inherit this
   * process's `execArgv`, e.g. `--inspect`), e.g. `['--max-old-space-size=8192']`.
   */
  execArgv?: string[];
  /** Use Chromium's SwiftShader Vulkan driver instead of lavapipe. */
  preferSwiftShader?: boolean;
}

/** The package root (folder of package.json), from this module's location. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}

/** Path of the bundled executor-process entry (built by scripts/build-node.mjs). */
export function nodeWorkerPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'node-worker.mjs'), join(packageRoot(), 'dist-node', 'node-worker.mjs')]) if (existsSync(p)) return p;
  throw new Error('dist-node/node-worker.mjs is missing: run `npm run build:node` first.');
}

/**
 * Creates an engine in Node. `options.model` takes every location form of `src/model/location.ts`
 * (a local folder relative to the current directory, a `file:` or http(s) URL, `hf:owner/name[@rev]`
 * resolved against `MSN_HF_ENDPOINT` / `HF_ENDPOINT`, a huggingface.co link). When no adapter is
 * found on the default Vulkan driver (Mesa lavapipe), retries on Chromium's SwiftShader;
 * `engine.info.adapter` says which one ran. Without `options.hubToken`, the `HF_TOKEN` environment
 * variable is the Hugging Face token for gated repositories (`nodeHubAuth`).
 *
 * The executor runs in a child process (see `src/worker/node-worker.ts`): when it dies (a crash, an
 * exit, a native abort, a kill, e.g. for memory) or stops answering for 2 s outside an announced
 * pipeline compilation, every pending and later call rejects with `WorkerLostError` and
 * `engine.lost` resolves; this process is not affected. Its stdout is this process's stderr.
 * @throws InvalidArgumentError for a model location that is none; NetworkError naming the file or
 *   URL that could not be read; and the errors of `Executor.load`.
 */
export async function createNodeEngine(options: NodeEngineOptions): Promise<Engine> {
  try {
    return await createNodeEngineOnce(options);
  } catch (e) {
    if (e instanceof WebGpuUnavailableError && !options.preferSwiftShader && !process.env.MSN_NO_FALLBACK) {
      return createNodeEngineOnce({ ...options, preferSwiftShader: true });
    }
    throw e;
  }
}

async function createNodeEngineOnce(given: NodeEngineOptions): Promise<Engine> {
  installErrorTransfer();
  // HF_TOKEN (and the HF_ENDPOINT mirror it may go to) unless the caller gave a token.
  const options: NodeEngineOptions = given.hubToken === undefined && given.hubTokenOrigins === undefined ? { ...given, ...nodeHubAuth() } : given;
  const model = resolveNodeModelLocation(options.model);
  if (options.inline) {
    prepareNodeGpuEnv(options.preferSwiftShader);
    const ex = new Executor(() => createNodeGpu({ preferSwiftShader: options.preferSwiftShader }));
    return createEngineWith(ex, { costCache: new FileCostCache(), ...options, model }, () => {});
  }
  // The child picks its Vulkan driver itself (createNodeGpu): its process.env is its real environment.
  const child = fork(nodeWorkerPath(), [], {
    serialization: 'advanced',
    stdio: ['ignore', 2, 'inherit', 'ipc'],
    execArgv: options.execArgv ?? [],
    env: { ...process.env, MSN_PREFER_SWIFTSHADER: options.preferSwiftShader ? '1' : '' },
  });
  let onProgress: ((p: LoadProgress) => void) | undefined;
  const { watch, close } = watchExecutorProcess(child, (p) => onProgress?.(p));
  const executor = guardExecutor(Comlink.wrap<ExecutorApi>(ipcEndpoint(child)) as unknown as ExecutorApi, watch);
  // Progress comes back as side messages (Comlink.proxy needs a MessagePort, which IPC cannot carry).
  return createEngineWith(executor, { costCache: new FileCostCache(), ...options, model }, close, (f) => {
    onProgress = f;
    return undefined;
  });
}

/** How long a closed channel or an exit waits for the other event (and the last messages) before the loss is declared. */
const CLOSE_GRACE_MS = 1000;

/** Names a process's end for WorkerLostError: the exit code, or the signal and what usually sends it. */
function describeEnd(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal === null) return `the executor process exited with code ${code}`;
  const why: Partial<Record<NodeJS.Signals, string>> = {
    SIGABRT: ' (a native abort: Dawn or the GPU driver gave up, or JavaScript ran out of heap memory)',
    SIGKILL: ' (killed from outside, e.g. by the system when memory ran out)',
    SIGSEGV: ' (a native crash in Dawn or the GPU driver)',
  };
  return `the executor process was killed by ${signal}${why[signal] ?? ''}`;
}

/**
 * A {@link WorkerWatch} over the executor's child process, plus `close` (for the engine's dispose:
 * ends the process, expected, and resolves once it is gone). Its signals:
 * - `exit` (code or signal), together with the closing of the IPC channel (`disconnect`), after
 *   which every message the process sent has been read, including the uncaught error it reported
 *   before exiting (`msnFatal`, see `src/worker/node-worker.ts`);
 * - a channel that closes while the process lives on: lost after {@link CLOSE_GRACE_MS};
 * - `error` (it could not be started or signalled);
 * - the heartbeat: 2 s of silence outside an announced pipeline compilation.
 * A lost process is killed (SIGKILL). Load progress messages go to `onProgress`.
 */
function watchExecutorProcess(child: ChildProcess, onProgress: (p: LoadProgress) => void): { watch: WorkerWatch; close: () => Promise<void> } {
  let closing = false;
  let fatal: string | null = null;
  let ended: [number | null, NodeJS.Signals | null] | null = null;
  let disconnected = false;
  let grace: ReturnType<typeof setTimeout> | null = null;
  const kill = () => { if (ended === null) child.kill('SIGKILL'); };
  // A closed channel is reported by 'exit' and 'disconnect': the heartbeat's failed sends say nothing more.
  const watch = new WorkerWatch((m) => { child.send(m, () => {}); }, kill);
  const cause = () => {
    const end = ended ? describeEnd(ended[0], ended[1]) : 'the executor process closed its IPC channel';
    return fatal === null ? end : `${end} after an uncaught error: ${fatal}`;
  };
  const settle = () => {
    if (closing || watch.error) return;
    if (ended && disconnected) {
      watch.fail(cause());
      return;
    }
    grace ??= setTimeout(() => { if (!closing) watch.fail(cause()); }, CLOSE_GRACE_MS);
    grace.unref();
  };
  child.on('message', (m: unknown) => {
    watch.receive(m);
    if (!isSideMessage(m)) return;
    if ('msnProgress' in m) onProgress(m.msnProgress);
    else fatal = m.msnFatal;
  });
  child.on('exit', (code, signal) => {
    ended = [code, signal];
    settle();
  });
  child.on('disconnect', () => {
    disconnected = true;
    settle();
  });
  child.on('error', (e: Error) => {
    // It could not be started (or, rarer, signalled): nothing can be expected from it any more.
    if (!closing) watch.fail(`the executor process failed: ${e.message}`);
  });
  const close = async () => {
    closing = true;
    watch.stop();
    if (grace) clearTimeout(grace);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await gone;
  };
  return { watch, close };
}
