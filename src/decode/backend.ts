/**
 * What the decoding scheduler needs from the model executor. Pure types: the scheduler never
 * touches WebGPU; in the app the backend is the worker's executor behind Comlink.
 */
import type { ForwardRequest, ForwardResult } from '../worker/api.js';

export type { ForwardRequest, ForwardResult };

export interface StepBackend {
  forward(req: ForwardRequest): Promise<ForwardResult>;
  registerMask(mask: Float32Array, T: number): Promise<number>;
  /** Commits listed pending rows (see ForwardRequest.keep); used for `DecodeOptions.commitTail`. */
  kvKeep?(rows: number[]): Promise<number>;
}
