/** Chromium flags that give WebGPU on a headless Linux machine (see ../shared/webgpu-env.md). */
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--headless=new', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

/** Debian's Chromium (Playwright cannot download its own browser on these machines). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
