/**
 * Comlink transfer handler that keeps our error classes across the worker boundary: the worker
 * sends {name, message, code, detail, stack}; the main thread rebuilds the same class, so callers
 * can use `instanceof DeviceLostError` etc. Must be installed on both sides.
 */
import * as Comlink from 'comlink';
import { ERROR_CLASSES, MsnError } from '../errors.js';

interface SerializedError {
  isError: boolean;
  value: { name: string; message: string; stack?: string; code?: string; detail?: Record<string, unknown> } | unknown;
}

let installed = false;

export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const original = Comlink.transferHandlers.get('throw')!;
  Comlink.transferHandlers.set('throw', {
    canHandle: original.canHandle,
    serialize(thrown: unknown): [SerializedError, Transferable[]] {
      const value = (thrown as { value: unknown }).value;
      if (value instanceof Error) {
        const e = value as Error & { code?: string; detail?: Record<string, unknown> };
        return [{ isError: true, value: { name: e.name, message: e.message, stack: e.stack, code: e.code, detail: e.detail } }, []];
      }
      return [{ isError: false, value }, []];
    },
    deserialize(s: SerializedError): never {
      if (!s.isError) throw s.value;
      const v = s.value as { name: string; message: string; stack?: string; code?: string; detail?: Record<string, unknown> };
      const Cls = ERROR_CLASSES[v.name];
      if (Cls) {
        const e = Object.create(Cls.prototype) as MsnError;
        Object.assign(e, { name: v.name, message: v.message, stack: v.stack, code: v.code, detail: v.detail ?? {} });
        throw e;
      }
      throw Object.assign(new Error(v.message), { name: v.name, stack: v.stack });
    },
  } as Comlink.TransferHandler<unknown, SerializedError>);
}
