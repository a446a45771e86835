import { createRoot } from 'react-dom/client';
import { registerSW } from 'virtual:pwa-register';

import { service } from './app/service';
import { App } from './ui/App';
import './styles.css';

// The service worker precaches the app shell, so the app opens with no network at all.
registerSW({ immediate: true });

const root = document.getElementById('root');
if (root) {
  void service.init().then(
    () => createRoot(root).render(<App />),
    (e: unknown) => {
      root.textContent = `Recap cannot open its local database: ${e instanceof Error ? e.message : String(e)}`;
    },
  );
}
