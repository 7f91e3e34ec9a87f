/** Node worker_threads entry: exposes an {@link Executor} over Comlink's node adapter (Dawn GPU). */
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { createNodeGpu } from '../gpu/node.js';
import { Executor } from './executor.js';
import { installErrorTransfer } from './transfer.js';
import { setCompileHooks } from '../gpu/kernel.js';
import { announceSyncStep, answerHeartbeat } from './heartbeat.js';

installErrorTransfer();
Comlink.expose(new Executor(() => createNodeGpu({ preferSwiftShader: process.env.MSN_PREFER_SWIFTSHADER === '1' })), nodeEndpoint(parentPort!));
setCompileHooks(announceSyncStep);
answerHeartbeat({ postMessage: (m) => parentPort!.postMessage(m), addEventListener: (_, listener) => parentPort!.on('message', (data: unknown) => listener({ data })) });
