import { test, expect, hydrated, login, registerUser, shot, uniqueName, CAPTCHA_TEST_ANSWER } from './helpers';

// The demo admin runs a sale from the browser and watches it live.
test('admin creates a sale, sees a purchase on the dashboard, blacklists the buyer', async ({ page, newShopperPage }) => {
  await login(page, 'admin', 'admin-demo-pass');
  await page.goto('/admin/products/new');
  await hydrated(page);
  const name = uniqueName('Lamp ');
  const end = new Date(Date.now() + 3_600_000).toISOString().slice(0, 16);
  const form = page.getByTestId('product-form');
  await form.locator('#name').fill(name);
  await form.locator('#price').fill('-1');
  await form.locator('#stock').fill('5');
  await form.locator('#sale_end').fill(end);
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('error-price')).toContainText('price');
  await form.locator('#price').fill('12.50');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page).toHaveURL(/\/admin\/dashboard\/\d+$/);
  const dashboardUrl = page.url();
  await hydrated(page);
  await expect(page.getByTestId('dash-sold')).toHaveText('0');
  await expect(page.getByTestId('dash-left')).toHaveText('5');

  // A shopper buys one unit.
  const shopper = await newShopperPage();
  const buyer = await registerUser(shopper);
  const productId = dashboardUrl.split('/').pop();
  await shopper.goto(`/product/${productId}`);
  await hydrated(shopper);
  await shopper.getByTestId('buy-button').click();
  await expect(shopper.getByRole('dialog').getByTestId('captcha-image')).toBeVisible();
  await shopper.getByRole('dialog').locator('#captcha-answer').fill(CAPTCHA_TEST_ANSWER);
  await shopper.getByRole('dialog').getByRole('button', { name: 'Confirm purchase' }).click();
  await expect(shopper.getByTestId('notice')).toHaveAttribute('data-code', 'confirmed');

  // The dashboard follows within two seconds.
  await expect(page.getByTestId('dash-sold')).toHaveText('1', { timeout: 2_000 });
  await expect(page.getByTestId('dash-left')).toHaveText('4', { timeout: 2_000 });
  await shot(page, 'admin-dashboard');

  // Blacklist the buyer: their next purchase is refused at once.
  await page.getByRole('link', { name: 'Blacklist' }).click();
  await hydrated(page);
  await page.locator('#user').fill(buyer);
  await page.locator('#reason').fill('bought with a bot');
  await page.getByRole('button', { name: 'Blacklist', exact: true }).click();
  await expect(page.getByTestId('blacklist')).toContainText(buyer);

  const keyboard = await shopper.evaluate(async () => {
    const res = await fetch('/api/v1/products');
    const list = await res.json();
    return list.find((p: { name: string }) => p.name === 'Mechanical Keyboard').id;
  });
  await shopper.goto(`/product/${keyboard}`);
  await hydrated(shopper);
  await shopper.getByTestId('buy-button').click();
  await expect(shopper.getByTestId('notice')).toHaveAttribute('data-code', 'blacklisted');

  // Log the buyer out everywhere: their cookie stops counting at once.
  await page.locator('#revoke-user').fill(buyer);
  await page.getByRole('button', { name: 'Revoke logins' }).click();
  await expect(page.getByTestId('revoked')).toHaveText('Logins revoked.');
  const me = await shopper.evaluate(async () => (await fetch('/api/v1/me')).status);
  expect(me).toBe(401);
});

test('a shopper visiting /admin gets 403', async ({ page }) => {
  await registerUser(page);
  const response = await page.goto('/admin');
  expect(response?.status()).toBe(403);
  await hydrated(page);
  await expect(page.getByTestId('admin-denied')).toBeVisible();
});

test('a visitor is sent to the login before /admin', async ({ page }) => {
  await page.goto('/admin/orders');
  await expect(page).toHaveURL(/\/login\?next=\/admin\/orders$/);
});
