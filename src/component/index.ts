/**
 * Library entry (built to `dist/lib/msn-webgpu.js`, one ES module; its worker chunk is resolved
 * from this script's URL). Importing it defines `<msn-chat>`; it also exports the engine API.
 */
import { MsnChatElement } from './msn-chat.js';

if (!customElements.get('msn-chat')) customElements.define('msn-chat', MsnChatElement);

export { MsnChatElement, type MsnGenerateOptions } from './msn-chat.js';
export type { MsnChatEventMap, MsnDoneDetail, MsnErrorDetail, MsnProgressDetail, MsnReadyDetail, MsnTokenDetail } from './events.js';
export { acquireEngine, invalidateEngine, sharedEngineModels, type AcquireOptions, type EngineLease } from './registry.js';
export { describeError, type ErrorView } from './describe-error.js';
export { normalizeModelUrl } from './model-url.js';
export { createEngine } from '../engine/browser.js';
export { folderFromFiles, folderFromHandle, type LocalFolder, type ModelLocation } from '../model/local-folder.js';
export type { Engine, GenerateOptions, GenerationResult } from '../engine/engine.js';
export * from '../errors.js';
