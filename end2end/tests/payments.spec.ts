import { type Page } from '@playwright/test';
import { test, expect, hydrated, login, productPath, registerUser, shot, uniqueName, CAPTCHA_TEST_ANSWER } from './helpers';

// After the click: a purchase is a reservation until it is paid; unpaid, its unit goes back.

/** Buys the product at `href` through its page and waits for "confirmed" (stored, reserved). */
async function buy(page: Page, href: string): Promise<void> {
  await page.goto(href);
  await hydrated(page);
  await page.getByTestId('buy-button').click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByTestId('captcha-image')).toBeVisible();
  await dialog.locator('#captcha-answer').fill(CAPTCHA_TEST_ANSWER);
  await dialog.getByRole('button', { name: 'Confirm purchase' }).click();
  await expect(page.getByTestId('notice')).toHaveAttribute('data-code', 'confirmed', { timeout: 20_000 });
}

/** My orders' row for the product. */
async function orderRow(page: Page, productName: string) {
  await page.goto('/orders');
  await hydrated(page);
  return page.getByTestId('order-row').filter({ hasText: productName });
}

test('buy, see the deadline, pay, see "paid"', async ({ page }) => {
  await registerUser(page);
  await buy(page, await productPath(page, 'Mechanical Keyboard'));
  const row = await orderRow(page, 'Mechanical Keyboard');
  await expect(row).toHaveAttribute('data-status', 'reserved');
  const deadline = row.getByTestId('pay-deadline');
  await expect(deadline).toContainText(/Pay within 1[45]:\d\d/);
  // It counts down.
  const first = await deadline.textContent();
  await expect.poll(() => deadline.textContent(), { timeout: 3_000 }).not.toBe(first);
  await shot(page, 'orders-reserved');

  await row.getByTestId('pay-now').click();
  await expect(page).toHaveURL(/\/pay\/[0-9a-f-]{36}$/);
  await hydrated(page);
  await page.getByTestId('pay').click();
  await expect(page.getByTestId('pay-state')).toHaveText('Paid. Thank you!', { timeout: 15_000 });
  await shot(page, 'paid');

  const paid = await orderRow(page, 'Mechanical Keyboard');
  await expect(paid).toHaveAttribute('data-status', 'paid');
  await expect(paid.getByTestId('order-status')).toHaveText('paid');
  await expect(paid.getByTestId('pay-now')).toHaveCount(0);
});

test('buy, let it expire, see "expired" and the unit back in stock', async ({ page, newShopperPage }) => {
  // The admin puts one unit on sale, to be paid within 8 seconds.
  await login(page, 'admin', 'admin-demo-pass');
  await page.goto('/admin/products/new');
  await hydrated(page);
  const name = uniqueName('Short deadline ');
  const form = page.getByTestId('product-form');
  await form.locator('#name').fill(name);
  await form.locator('#price').fill('3.00');
  await form.locator('#stock').fill('1');
  await form.locator('#sale_end').fill(new Date(Date.now() + 3_600_000).toISOString().slice(0, 16));
  await form.locator('#pay_within_secs').fill('8');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page).toHaveURL(/\/admin\/dashboard\/\d+$/);
  const productId = page.url().split('/').pop();

  const shopper = await newShopperPage();
  await registerUser(shopper);
  await buy(shopper, `/product/${productId}`);
  await expect(shopper.getByTestId('stock-left')).toHaveText('0', { timeout: 5_000 });

  const row = await orderRow(shopper, name);
  await expect(row).toHaveAttribute('data-status', 'reserved');
  await expect(row.getByTestId('pay-deadline')).toContainText(/Pay within 00:0[0-8]/);
  // The deadline passes; the page asks again and shows it expired.
  await expect(row).toHaveAttribute('data-status', 'expired', { timeout: 20_000 });
  await expect(row).toContainText('not paid in time');
  await shot(shopper, 'orders-expired');

  // The unit is back on sale.
  await shopper.goto(`/product/${productId}`);
  await hydrated(shopper);
  await expect(shopper.getByTestId('stock-left')).toHaveText('1', { timeout: 5_000 });
  await page.goto(`/admin/dashboard/${productId}`);
  await hydrated(page);
  await expect(page.getByTestId('dash-expired')).toHaveText('1 / 0');
});
