// Writes the PWA icons (public/icons/*.png, public/favicon.svg): a blue tile with three white bars,
// i.e. tokens decoded in parallel. Run: node src/app/make-icons.mjs (no dependencies).
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const BG = [0x1d, 0x4e, 0xd8];
const FG = [0xff, 0xff, 0xff];
// Bars in a 0..1 box: [x0, x1, yCenter]; height 0.12.
const BARS = [[0.22, 0.78, 0.32], [0.22, 0.62, 0.5], [0.22, 0.70, 0.68]];
const H = 0.12;

function crc32(buf) {
  let c, crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** Coverage of pixel (x, y) in [0, 1] by a rounded rectangle (4x4 supersampling). */
function cover(px, py, size, inside) {
  let n = 0;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (inside((px + (i + 0.5) / 4) / size, (py + (j + 0.5) / 4) / size)) n++;
  return n / 16;
}
function roundRect(x0, y0, x1, y1, r) {
  return (x, y) => {
    if (x < x0 || x > x1 || y < y0 || y > y1) return false;
    const cx = Math.min(Math.max(x, x0 + r), x1 - r), cy = Math.min(Math.max(y, y0 + r), y1 - r);
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
  };
}
function png(size, { maskable = false } = {}) {
  // Maskable icons fill the square; their artwork stays in the central 80 % safe zone.
  const s = maskable ? 0.72 : 1, o = (1 - s) / 2;
  const tile = maskable ? () => true : roundRect(0.02, 0.02, 0.98, 0.98, 0.2);
  const bars = BARS.map(([a, b, c]) => roundRect(o + a * s, o + (c - H / 2) * s, o + b * s, o + (c + H / 2) * s, (H / 2) * s));
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const a = cover(x, y, size, tile);
      const f = a ? cover(x, y, size, (u, v) => bars.some((b) => b(u, v))) : 0;
      const i = y * (size * 4 + 1) + 1 + x * 4;
      for (let k = 0; k < 3; k++) raw[i + k] = Math.round(BG[k] * (1 - f) + FG[k] * f);
      raw[i + 3] = Math.round(a * 255);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const out = new URL('../../public/', import.meta.url);
writeFileSync(new URL('icons/icon-192.png', out), png(192));
writeFileSync(new URL('icons/icon-512.png', out), png(512));
writeFileSync(new URL('icons/icon-maskable-512.png', out), png(512, { maskable: true }));
writeFileSync(new URL('icons/apple-touch-icon.png', out), png(180, { maskable: true }));
const bar = ([a, b, c]) => `<rect x="${a * 64}" y="${(c - H / 2) * 64}" width="${(b - a) * 64}" height="${H * 64}" rx="${(H / 2) * 64}" fill="#fff"/>`;
writeFileSync(new URL('favicon.svg', out), `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="1" y="1" width="62" height="62" rx="13" fill="#1d4ed8"/>${BARS.map(bar).join('')}</svg>\n`);
console.log('icons written to public/icons and public/favicon.svg');
