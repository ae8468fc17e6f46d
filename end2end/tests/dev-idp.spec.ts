// The Dev IdP the login tests rely on is up, discoverable and as strict as we expect a real provider to be.
import { test, expect } from './fixtures';
import { IDP_URL } from '../playwright.config';

test('the Dev IdP publishes discovery with S256 PKCE, the iss response parameter and signing keys', async ({ request }) => {
  const discovery = await (await request.get(`${IDP_URL}/.well-known/openid-configuration`)).json();
  expect(discovery.issuer).toBe(IDP_URL);
  expect(discovery.code_challenge_methods_supported).toEqual(['S256']);
  expect(discovery.authorization_response_iss_parameter_supported).toBe(true);

  const jwks = await (await request.get(discovery.jwks_uri)).json();
  expect(jwks.keys.length).toBeGreaterThan(0);
  expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', use: 'sig' });
  expect(jwks.keys[0]).not.toHaveProperty('d');
});

test('the Dev IdP refuses an authorization request without PKCE', async ({ request }) => {
  const query = new URLSearchParams({
    client_id: 'gatehouse-dev',
    response_type: 'code',
    scope: 'openid',
    redirect_uri: `http://127.0.0.1:${process.env.E2E_APP_PORT ?? 3010}/auth/callback/dev`,
    state: 'state-value',
  });
  const response = await request.get(`${IDP_URL}/auth?${query}`, { maxRedirects: 0 });
  expect(response.status()).toBe(303);
  const location = new URL(response.headers()['location']);
  expect(location.searchParams.get('error')).toBe('invalid_request');
  expect(location.searchParams.get('error_description')).toContain('PKCE');
});
