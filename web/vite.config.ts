import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The UI is served by `framelog serve` from web/dist on the API's origin, so every API call
// is a relative URL. `npm run dev` proxies the API to a local `framelog serve`.
const api = process.env.FRAMELOG_SERVER ?? 'http://127.0.0.1:8145';

export default defineConfig({
  plugins: [react()],
  // hls.js alone is ~580 kB minified; it is split into the player pages' chunk.
  build: { outDir: 'dist', sourcemap: true, chunkSizeWarningLimit: 700 },
  server: {
    proxy: Object.fromEntries(['/v1', '/hls', '/live'].map((p) => [p, { target: api, changeOrigin: true }])),
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
