import type { FullConfig } from '@playwright/test';

// `cargo leptos end-to-end` starts the server and runs Playwright right away; wait until the
// server answers before the first test so a slow start does not look like a failing test.
export default async function globalSetup(config: FullConfig): Promise<void> {
  const baseURL = String(config.projects[0]?.use?.baseURL ?? 'http://127.0.0.1:3000');
  const deadline = Date.now() + 120_000;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(baseURL + '/', { redirect: 'manual' });
      if (res.status < 500) return;
      lastError = `HTTP ${res.status}`;
    } catch (e) {
      lastError = String(e);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`server at ${baseURL} did not come up within 120 s (last error: ${lastError})`);
}
