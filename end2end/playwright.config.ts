import { defineConfig, devices } from '@playwright/test';

// scripts/test.sh builds the site (`cargo leptos build --frontend-only`), starts the server that
// `cargo test --workspace` built, then runs `npx playwright test` in this folder (`cargo leptos
// end-to-end` does the same with a server of its own build). Browsers come from Debian
// (`/usr/bin/chromium`): never run `npx playwright install` (it downloads a browser build, which
// cannot be fetched here).
const baseURL = process.env.E2E_BASE_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  testDir: './tests',
  globalSetup: './tests/global-setup.ts',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL,
    screenshot: 'only-on-failure',
    trace: 'off',
    video: 'off',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [
    {
      name: 'chromium',
      use: { ...devices['Desktop Chrome'] },
    },
  ],
});
