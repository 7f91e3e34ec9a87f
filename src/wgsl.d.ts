/** WGSL sources are imported as strings (Vite plugin `wgslText` in vite.config.ts; esbuild `--loader:.wgsl=text`). */
declare module '*.wgsl' {
  const source: string;
  export default source;
}
