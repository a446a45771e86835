import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

// The sync server serves dist/ at "/" (only "/" maps to index.html: the app routes by hash).
export default defineConfig({
  plugins: [
    react(),
    VitePWA({
      strategies: 'generateSW',
      registerType: 'autoUpdate',
      injectRegister: null, // registered from src/main.tsx (no inline script: the CSP forbids it)
      includeAssets: ['icon.svg'],
      manifest: {
        name: 'Recap — pre-orders',
        short_name: 'Recap',
        description: 'Offline-first pre-orders for field sales reps',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#f4f6f8',
        theme_color: '#1f5f8b',
        icons: [
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        navigateFallback: '/index.html',
        // API endpoints are never served from the cache.
        navigateFallbackDenylist: [/^\/(auth|sync|snapshot|live|debug|healthz|metrics)/],
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
  build: { target: 'es2022', sourcemap: false },
});
