import {
  test,
  expect,
  hydrated,
  login,
  logout,
  registerUser,
  uniqueName,
  PASSWORD,
} from './helpers';

test('register, log out, log in, and return to the page that asked for a login', async ({ page }) => {
  const name = await registerUser(page);
  await expect(page.getByTestId('user-name')).toHaveText(name);
  await expect(page.getByRole('banner').getByRole('link', { name: 'My orders' })).toBeVisible();
  await expect(page.getByRole('banner').getByRole('link', { name: 'Log in', exact: true })).toHaveCount(0);

  await logout(page);
  await expect(page.getByTestId('user-name')).toHaveCount(0);
  await expect(page.getByRole('banner').getByRole('link', { name: 'Register', exact: true })).toBeVisible();

  await login(page, name);
  await expect(page).toHaveURL(/\/$/);
  await logout(page);

  // A logged-out visitor sees the product page; buying goes to the login form and back.
  await page.goto('/product/1');
  await hydrated(page);
  await page.getByTestId('login-to-buy').click();
  await expect(page).toHaveURL(/\/login\?next=(%2F|\/)product(%2F|\/)1$/);
  await login(page, name);
  await expect(page).toHaveURL(/\/product\/1$/);
  await hydrated(page);
  await expect(page.getByTestId('user-name')).toHaveText(name);
});

test('a taken name is refused with a conflict error', async ({ page }) => {
  const name = await registerUser(page);
  await logout(page);

  await page.goto('/register');
  await hydrated(page);
  await page.locator('#name').fill(name);
  await page.locator('#password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  const error = page.getByTestId('form-error');
  await expect(error).toBeVisible();
  await expect(error).toHaveAttribute('data-code', 'conflict');
  await expect(page.getByTestId('user-name')).toHaveCount(0);
});

test('a wrong password is refused with invalid credentials', async ({ page }) => {
  const name = await registerUser(page);
  await logout(page);

  await page.goto('/login');
  await hydrated(page);
  await page.locator('#name').fill(name);
  await page.locator('#password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  const error = page.getByTestId('form-error');
  await expect(error).toBeVisible();
  await expect(error).toHaveAttribute('data-code', 'invalid_credentials');
  await expect(page.getByTestId('user-name')).toHaveCount(0);

  // An unknown user gets the same answer (no user enumeration).
  await page.locator('#name').fill(uniqueName('nobody'));
  await page.locator('#password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(error).toHaveAttribute('data-code', 'invalid_credentials');
});

test('an outside ?next= target is ignored after login', async ({ page }) => {
  const name = await registerUser(page);
  await logout(page);
  await page.goto('/login?next=https://evil.example/steal');
  await login(page, name);
  const origin = new URL(test.info().project.use.baseURL ?? 'http://127.0.0.1:3000').origin;
  await expect(page).toHaveURL((url) => url.origin === origin && url.pathname === '/');
});
