import { test, expect, hydrated, registerUser, shot } from './helpers';

// Acceptance of the first issue: the product list renders, a product page opens, and a hydrated
// interaction works (which proves the Wasm bundle loaded and took over the server-rendered page).

test('the product list renders with the demo products', async ({ page }) => {
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await hydrated(page);

  const list = page.getByTestId('product-list');
  await expect(list).toBeVisible();
  const names = list.locator('li.product-card h2.product-name');
  await expect(names.first()).toBeVisible();
  const all = await names.allTextContents();
  for (const demo of ['Mechanical Keyboard', 'Noise-cancelling Headphones', 'Last One Standing']) {
    expect(all.map((n) => n.trim())).toContain(demo);
  }
  await expect(list.locator('li.product-card a.product-card-link').first()).toHaveAttribute(
    'href',
    /^\/product\/\d+$/,
  );
  // Logged out: the header offers both ways in.
  await expect(page.getByRole('banner').getByRole('link', { name: 'Log in', exact: true })).toBeVisible();
  await expect(page.getByRole('banner').getByRole('link', { name: 'Register', exact: true })).toBeVisible();
  await shot(page, 'product-list');
});

test('static assets are served (favicon, stylesheet, product images)', async ({ page, request }) => {
  const favicon = await request.get('/favicon.ico');
  expect(favicon.status()).toBe(200);

  await page.goto('/');
  const cssHref = await page.locator('link[rel="stylesheet"]').first().getAttribute('href');
  expect(cssHref).toBeTruthy();
  expect((await request.get(cssHref!)).status()).toBe(200);

  // The Wasm, its JS and the lazy islands' loader sit under one versioned folder: kept for good,
  // and served compressed.
  const wasm = await page.locator('link[rel="preload"][as="fetch"]').getAttribute('href');
  expect(wasm).toMatch(/^\/pkg\/v\/[0-9a-f]+\/flash-sale\.wasm$/);
  const got = await request.get(wasm!, { headers: { 'accept-encoding': 'gzip' } });
  expect(got.status()).toBe(200);
  expect(got.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
  expect(got.headers()['content-encoding']).toBe('gzip');
  const loader = wasm!.replace('flash-sale.wasm', '__wasm_split.______________________.js');
  expect((await request.get(loader)).status()).toBe(200);

  const img = await request.get('/img/keyboard.svg');
  expect(img.status()).toBe(200);
});

test('a product page opens and a hydrated interaction works', async ({ page }) => {
  await registerUser(page);

  await page.goto('/');
  await hydrated(page);
  const card = page
    .locator('li.product-card')
    .filter({ has: page.locator('h2.product-name', { hasText: 'Mechanical Keyboard' }) });
  await card.locator('a.product-card-link').click();

  await expect(page).toHaveURL(/\/product\/\d+$/);
  await hydrated(page);
  const product = page.getByTestId('product-page');
  await expect(product).toBeVisible();
  await expect(page.getByTestId('product-name')).toHaveText('Mechanical Keyboard');
  await expect(page.getByTestId('stock-left')).toBeVisible();
  await expect(page.locator('.countdown')).toBeVisible();

  // Opening the captcha dialog is client-side only: it works only if the Wasm hydrated the page.
  const buy = page.getByTestId('buy-button');
  await expect(buy).toBeEnabled();
  await expect(buy).toHaveText(/Buy now/i);
  await buy.click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId('captcha-image')).toBeVisible();
  await dialog.locator('#captcha-answer').press('Escape');
  await expect(dialog).toBeHidden();
  await expect(buy).toBeEnabled();
});
