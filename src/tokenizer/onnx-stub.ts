/**
 * Stand-in for `onnxruntime-web` / `onnxruntime-node`. @xenova/transformers' tokenizer module imports
 * its ONNX backend at load time although tokenizers never run a model; bundles alias both packages
 * here so no ONNX runtime (tens of MB of wasm) ships with the runtime.
 */
const ONNX = { env: {}, InferenceSession: undefined, Tensor: undefined };
export default ONNX;
export const env = ONNX.env;
