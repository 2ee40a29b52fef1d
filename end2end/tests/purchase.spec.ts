import { type Page } from '@playwright/test';
import {
  test,
  expect,
  hydrated,
  productPath,
  registerUser,
  shot,
  CAPTCHA_TEST_ANSWER,
} from './helpers';

// Every test registers its own shoppers, so the tests do not depend on each other's purchases.
// "Last One Standing" (1 unit) is bought only by the sold-out test: scripts/test.sh starts the
// server on a fresh database for each run.

/** Opens the product page of `productName` as the logged-in user and waits for hydration. */
async function openProduct(page: Page, productName: string): Promise<string> {
  const href = await productPath(page, productName);
  const response = await page.goto(href);
  expect(response?.status()).toBe(200);
  await hydrated(page);
  await expect(page.getByTestId('product-page')).toBeVisible();
  await expect(page.getByTestId('product-name')).toHaveText(productName);
  return href;
}

/** Clicks "Buy now" and returns the captcha dialog. */
async function openCaptcha(page: Page) {
  const buy = page.getByTestId('buy-button');
  await expect(buy).toBeEnabled();
  await buy.click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId('captcha-image')).toBeVisible();
  return dialog;
}

/** Waits until the dialog shows a captcha other than `previous`; returns the new captcha id. */
async function nextCaptchaId(page: Page, previous: string | null): Promise<string> {
  const image = page.getByRole('dialog').getByTestId('captcha-image');
  const current = () =>
    image.getAttribute('data-captcha-id', { timeout: 1_000 }).catch(() => null);
  let id: string | null = null;
  await expect
    .poll(async () => {
      id = await current();
      return id !== null && id !== previous;
    }, { message: 'a new captcha replaces the old one' })
    .toBe(true);
  return id!;
}

/** Types an answer into the open captcha dialog and confirms. */
async function answerCaptcha(page: Page, answer: string): Promise<void> {
  const dialog = page.getByRole('dialog');
  await dialog.locator('#captcha-answer').fill(answer);
  await dialog.getByRole('button', { name: 'Confirm purchase' }).click();
}

test('buy flow: wrong captcha, right captcha, queued → confirmed, cooldown, My orders', async ({ page }) => {
  await registerUser(page);
  await openProduct(page, 'Mechanical Keyboard');
  await expect(page.getByTestId('stock-left')).toBeVisible();
  await expect(page.locator('.countdown')).toBeVisible();
  const buy = page.getByTestId('buy-button');
  await expect(buy).toHaveText(/Buy now/i);
  await shot(page, 'product-page');

  // The dialog closes with Escape and with "Cancel" without buying anything.
  let dialog = await openCaptcha(page);
  await dialog.locator('#captcha-answer').press('Escape');
  await expect(dialog).toBeHidden();
  dialog = await openCaptcha(page);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('notice')).toHaveCount(0);

  // "New captcha" swaps the image.
  dialog = await openCaptcha(page);
  const image = dialog.getByTestId('captcha-image');
  await expect(image).toHaveAttribute('data-captcha-id', /.+/);
  let captchaId = await image.getAttribute('data-captcha-id');
  await shot(page, 'captcha-modal');
  await dialog.getByRole('button', { name: 'New captcha' }).click();
  captchaId = await nextCaptchaId(page, captchaId);

  // A wrong answer: a message, a new captcha, and the dialog stays open.
  await answerCaptcha(page, 'definitely-wrong');
  await expect(dialog.getByTestId('captcha-error')).toBeVisible();
  await nextCaptchaId(page, captchaId);
  await expect(dialog).toBeVisible();
  await shot(page, 'captcha-error');

  // The right answer: the dialog closes, the order is queued, then confirmed.
  await answerCaptcha(page, CAPTCHA_TEST_ANSWER);
  const clickedAt = Date.now();
  await expect(dialog).toBeHidden();
  const notice = page.getByTestId('notice');
  await expect(notice).toBeVisible();
  await expect(notice).toHaveAttribute('data-code', /^(queued|confirmed)$/);
  await expect(notice).toHaveAttribute('data-code', 'confirmed', { timeout: 20_000 });

  // The buy button waits 10 s, showing the countdown.
  const cooldown = page.getByTestId('cooldown');
  await expect(buy).toBeDisabled();
  await expect(cooldown).toBeVisible();
  await expect(buy).toHaveText(/Wait 00:(0\d|10)/);
  await shot(page, 'success');

  // A reload keeps it disabled until the 10 s are over.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('buy-button')).toBeDisabled();
  await expect(page.getByTestId('cooldown')).toBeVisible();

  await expect(page.getByTestId('buy-button')).toBeEnabled({ timeout: 15_000 });
  const waited = Date.now() - clickedAt;
  expect(waited, 'the cooldown lasts about 10 s').toBeGreaterThan(8_000);
  expect(waited, 'the cooldown lasts about 10 s').toBeLessThan(14_000);
  await expect(page.getByTestId('cooldown')).toBeHidden();

  // My orders lists the purchase.
  await page.getByRole('banner').getByRole('link', { name: 'My orders' }).click();
  await expect(page).toHaveURL(/\/orders$/);
  await hydrated(page);
  const orders = page.getByTestId('orders');
  await expect(orders).toBeVisible();
  const row = orders.locator('tbody tr').filter({ hasText: 'Mechanical Keyboard' });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(/reserved|queued/i);
});

test('a new shopper has no orders yet', async ({ page }) => {
  await registerUser(page);
  await page.goto('/orders');
  await hydrated(page);
  await expect(page.getByTestId('no-orders')).toBeVisible();
  await expect(page.getByTestId('orders')).toHaveCount(0);
});

test('sold out: the second shopper cannot buy the last unit', async ({ page, newShopperPage }) => {
  const second = await newShopperPage();
  await registerUser(page);
  await registerUser(second);

  // Both shoppers see the last unit and open the captcha before either buys.
  await openProduct(page, 'Last One Standing');
  await openProduct(second, 'Last One Standing');
  await openCaptcha(page);
  await openCaptcha(second);

  await answerCaptcha(page, CAPTCHA_TEST_ANSWER);
  const firstNotice = page.getByTestId('notice');
  await expect(firstNotice).toHaveAttribute('data-code', /^(queued|confirmed)$/);
  await expect(firstNotice).toHaveAttribute('data-code', 'confirmed', { timeout: 20_000 });

  await answerCaptcha(second, CAPTCHA_TEST_ANSWER);
  const secondNotice = second.getByTestId('notice');
  await expect(secondNotice).toBeVisible();
  await expect(secondNotice).toHaveAttribute('data-code', 'sold_out');

  // The stock meter shows nothing left after a reload.
  await second.reload();
  await hydrated(second);
  await expect(second.getByTestId('stock-left')).toContainText(/\b0\b|sold out/i);
});

test('a sale that starts soon: the page shows a countdown and Buy is disabled', async ({ page }) => {
  await registerUser(page);
  await openProduct(page, 'Noise-cancelling Headphones');
  const value = page.locator('.countdown .countdown-value');
  await expect(value).toBeVisible();
  await expect(page.getByTestId('buy-button')).toBeDisabled();
  // The countdown ticks in the browser (Wasm + timers).
  const before = await value.textContent();
  await expect.poll(async () => value.textContent(), { timeout: 5_000 }).not.toBe(before);
});

for (const productName of ['Smart Watch', 'Vintage Camera']) {
  test(`outside the sale window: ${productName} → access denied (403)`, async ({ page }) => {
    await registerUser(page);
    const href = await productPath(page, productName);
    const response = await page.goto(href);
    expect(response?.status()).toBe(403);
    await hydrated(page);
    const denied = page.getByTestId('access-denied');
    await expect(denied).toBeVisible();
    await expect(denied.getByRole('heading', { name: 'Access denied' })).toBeVisible();
    await expect(page.getByTestId('buy-button')).toHaveCount(0);
    if (productName === 'Smart Watch') await shot(page, 'access-denied');
  });
}

test('logged out: a product page shows, and buying asks for a login first', async ({ page }) => {
  const response = await page.goto('/product/1');
  expect(response?.status()).toBe(200);
  await hydrated(page);
  await expect(page.getByTestId('product-page')).toBeVisible();
  await expect(page.getByTestId('buy-button')).toHaveCount(0);
  await expect(page.getByTestId('login-to-buy')).toBeVisible();
});

test('an unknown product is a 404 page', async ({ page, consoleGuard }) => {
  consoleGuard.allow(/status of 404/);
  const response = await page.goto('/product/999999');
  expect(response?.status()).toBe(404);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});
