import { type APIRequestContext, type Page } from '@playwright/test';
import {
  test,
  expect,
  hydrated,
  productPath,
  registerUser,
  uniqueName,
  CAPTCHA_TEST_ANSWER,
  PASSWORD,
} from './helpers';

// The product page hears its stock and the shopper's order on the live stream; when the stream
// cannot be held it says so and asks instead. scripts/test.sh runs the server with RabbitMQ, so a
// purchase is queued first and confirmed when the consumer has stored it.

const PRODUCT = 'Mechanical Keyboard';

/** Another shopper buys one unit through the JSON API. */
async function someoneElseBuys(request: APIRequestContext, productId: string): Promise<void> {
  const reg = await request.post('/api/v1/register', {
    data: { name: uniqueName('other'), password: PASSWORD },
  });
  expect(reg.status()).toBe(201);
  const captcha = await request.post(`/api/v1/products/${productId}/captcha`);
  expect(captcha.status()).toBe(200);
  const { captcha_id } = await captcha.json();
  const verify = await request.post(`/api/v1/products/${productId}/captcha/verify`, {
    data: { captcha_id, answer: CAPTCHA_TEST_ANSWER },
  });
  expect(verify.status()).toBe(200);
  const { pass } = await verify.json();
  const bought = await request.post(`/api/v1/products/${productId}/purchase`, { data: { pass } });
  expect(bought.status()).toBe(202);
}

/** Buys through the page and waits for "confirmed". */
async function buyHere(page: Page): Promise<void> {
  await page.getByTestId('buy-button').click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByTestId('captcha-image')).toBeVisible();
  await dialog.locator('#captcha-answer').fill(CAPTCHA_TEST_ANSWER);
  await dialog.getByRole('button', { name: 'Confirm purchase' }).click();
  await expect(page.getByTestId('notice')).toHaveAttribute('data-code', 'confirmed', {
    timeout: 20_000,
  });
}

/** The page's requests for what the stream would have said: stock polls and order lists. */
function watchPolls(page: Page): string[] {
  const polls: string[] = [];
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path === '/api/stock' || path === '/api/orders') polls.push(path);
  });
  return polls;
}

test('live: the stock meter and the order status come from the stream', async ({ page, request }) => {
  await registerUser(page);
  const href = await productPath(page, PRODUCT);
  const polls = watchPolls(page);
  await page.goto(href);
  await hydrated(page);
  const state = page.getByTestId('live-state');
  await expect(state).toHaveAttribute('data-state', 'live');
  await expect(state).toHaveText('Live');

  const left = page.getByTestId('stock-left');
  const before = Number(await left.textContent());
  await someoneElseBuys(request, href.split('/').pop()!);
  await expect.poll(async () => Number(await left.textContent()), { timeout: 5_000 }).toBe(before - 1);

  await buyHere(page);
  await expect.poll(async () => Number(await left.textContent()), { timeout: 5_000 }).toBe(before - 2);
  expect(polls, 'nothing is polled while the stream holds').toEqual([]);
});

test('live: with the stream cut the page says it is not live and polls', async ({ page, request, consoleGuard }) => {
  // The refused stream shows as failed loads on the console.
  consoleGuard.allow(/net::ERR_FAILED|EventSource/);
  await registerUser(page);
  const href = await productPath(page, PRODUCT);
  await page.route('**/api/v1/products/*/live', (route) => route.abort());
  const polls = watchPolls(page);
  await page.goto(href);
  await hydrated(page);
  const state = page.getByTestId('live-state');
  await expect(state).toHaveAttribute('data-state', 'polling', { timeout: 30_000 });
  await expect(state).toContainText('Not live');

  const left = page.getByTestId('stock-left');
  const before = Number(await left.textContent());
  await someoneElseBuys(request, href.split('/').pop()!);
  await expect.poll(async () => Number(await left.textContent()), { timeout: 15_000 }).toBe(before - 1);
  expect(polls).toContain('/api/stock');

  await buyHere(page);
  expect(polls, 'the order status was asked for').toContain('/api/orders');
});

test('live: a visitor sees the product page; "Log in to buy" comes back after the login', async ({ page }) => {
  const name = await registerUser(page);
  const href = await productPath(page, PRODUCT);
  await page.getByRole('banner').getByRole('button', { name: 'Log out', exact: true }).click();
  // Logging out loads the home page anew: let it land before going elsewhere.
  await expect(page.getByRole('banner').getByRole('link', { name: 'Log in', exact: true })).toBeVisible();
  const response = await page.goto(href);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['cache-control']).toBe('public, max-age=2');
  await hydrated(page);
  await expect(page.getByTestId('live-state')).toHaveAttribute('data-state', 'live');
  await page.getByTestId('login-to-buy').click();
  await expect(page).toHaveURL(/\/login\?next=(%2F|\/)product(%2F|\/)\d+$/);
  await hydrated(page);
  await page.locator('#name').fill(name);
  await page.locator('#password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`${href}$`));
  await expect(page.getByTestId('buy-button')).toBeEnabled();
});
