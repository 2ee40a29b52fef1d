import { test as base, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

export { expect };

/** Password used for every user the tests register. */
export const PASSWORD = 'correct-horse-1';
/** The captcha answer the server accepts when FLASH_TEST_MODE=1 (set by scripts/test.sh). */
export const CAPTCHA_TEST_ANSWER = process.env.FLASH_CAPTCHA_TEST_ANSWER ?? 'e2e-pass';

// ---------------------------------------------------------------------------------------------
// Console guard: every test fails on a console error, an uncaught page error, or any console
// message that mentions hydration (Leptos reports hydration mismatches on the console).
// ---------------------------------------------------------------------------------------------

/**
 * Client errors the app answers on purpose (bad captcha, login required, access denied, already
 * bought, sold out, too frequent). Chromium logs every non-2xx response as
 * "Failed to load resource: …"; those are expected. 404 (a missing asset) and 5xx are not.
 */
const EXPECTED_HTTP_STATUS = /Failed to load resource: the server responded with a status of (400|401|403|409|410|429)\b/;

type Problem = { where: string; text: string };

class ConsoleGuard {
  readonly problems: Problem[] = [];
  private readonly allowed: RegExp[] = [];
  private readonly watched = new WeakSet<BrowserContext>();

  allow(pattern: RegExp): void {
    this.allowed.push(pattern);
  }

  watch(context: BrowserContext): void {
    if (this.watched.has(context)) return;
    this.watched.add(context);
    context.on('console', (msg) => {
      const text = msg.text();
      const where = `${msg.type()} @ ${msg.location().url || msg.page()?.url() || '?'}`;
      if (/hydrat/i.test(text)) {
        if (!this.allowed.some((re) => re.test(text))) this.problems.push({ where, text });
        return;
      }
      if (msg.type() !== 'error') return;
      if (EXPECTED_HTTP_STATUS.test(text)) return;
      if (this.allowed.some((re) => re.test(text))) return;
      this.problems.push({ where, text });
    });
    context.on('weberror', (err) => {
      const text = `${err.error().name}: ${err.error().message}`;
      if (this.allowed.some((re) => re.test(text))) return;
      this.problems.push({ where: `pageerror @ ${err.page()?.url() ?? '?'}`, text });
    });
  }

  assertClean(): void {
    expect(
      this.problems.map((p) => `[${p.where}] ${p.text}`),
      'browser console must have no errors and no hydration warnings',
    ).toEqual([]);
  }
}

type Fixtures = {
  consoleGuard: ConsoleGuard;
  /** Opens a page in a fresh browser context (a second shopper), watched by the console guard. */
  newShopperPage: () => Promise<Page>;
};

export const test = base.extend<Fixtures>({
  consoleGuard: [
    async ({ context }, use) => {
      const guard = new ConsoleGuard();
      guard.watch(context);
      await use(guard);
      // Runs after the test body (the "afterEach" of this guard).
      guard.assertClean();
    },
    { auto: true },
  ],
  newShopperPage: async ({ browser, consoleGuard }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async () => {
      const ctx = await newGuardedContext(browser, consoleGuard);
      contexts.push(ctx);
      return ctx.newPage();
    });
    for (const ctx of contexts) await ctx.close();
  },
});

async function newGuardedContext(browser: Browser, guard: ConsoleGuard): Promise<BrowserContext> {
  const ctx = await browser.newContext({ baseURL: test.info().project.use.baseURL });
  guard.watch(ctx);
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// Page helpers
// ---------------------------------------------------------------------------------------------

/** Waits until the Wasm bundle has hydrated the page (`<body data-hydrated="true">`). */
export async function hydrated(page: Page): Promise<void> {
  await page.locator('body[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 30_000 });
}

/** A user name no other test (or earlier run against the same database) has used. */
export function uniqueName(prefix = 'u'): string {
  const rand = Math.random().toString(36).slice(2, 6);
  return `${prefix}${Date.now().toString(36)}${rand}`;
}

/** Registers a new user through the UI; the new user is logged in afterwards. Returns the name. */
export async function registerUser(page: Page, name: string = uniqueName()): Promise<string> {
  await page.goto('/register');
  await hydrated(page);
  await page.locator('#name').fill(name);
  await page.locator('#password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  await expect(page.getByTestId('user-name')).toHaveText(name);
  return name;
}

/** Logs in through the UI from the current page (or /login when not already there). */
export async function login(page: Page, name: string, password: string = PASSWORD): Promise<void> {
  if (!new URL(page.url(), 'http://x').pathname.startsWith('/login')) {
    await page.goto('/login');
  }
  await hydrated(page);
  await page.locator('#name').fill(name);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(page.getByTestId('user-name')).toHaveText(name);
}

/** Logs out with the header button. */
export async function logout(page: Page): Promise<void> {
  await hydrated(page);
  await page.getByRole('banner').getByRole('button', { name: 'Log out', exact: true }).click();
  await expect(page.getByRole('banner').getByRole('link', { name: 'Log in', exact: true })).toBeVisible();
}

/** The product page path (`/product/{id}`) of the product card with this exact name on `/`. */
export async function productPath(page: Page, productName: string): Promise<string> {
  await page.goto('/');
  await hydrated(page);
  const card = page
    .getByTestId('product-list')
    .locator('li.product-card')
    .filter({ has: page.locator('h2.product-name', { hasText: productName }) });
  await expect(card).toHaveCount(1);
  const href = await card.locator('a.product-card-link').getAttribute('href');
  expect(href, `link of product "${productName}"`).toMatch(/^\/product\/\d+$/);
  return href!;
}

/** Writes a full-page screenshot to end2end/screenshots/<name>.png (git-ignored). */
export async function shot(page: Page, name: string): Promise<void> {
  const dir = path.resolve(__dirname, '..', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}
