// Test authorisation server for pizauth-dbus's end-to-end tests: panva's oidc-provider with
// in-memory storage, listening on loopback only. Started by tests/support/oidc.py.
//
// Environment knobs:
//   HOST             address to listen on (default 127.0.0.1)
//   PORT             port to listen on (default 9090; 0 is not usable: the issuer embeds the port)
//   ISSUER           issuer URL (default http://HOST:PORT)
//   AT_TTL           access token lifetime in seconds (default 5)
//   RT_TTL           refresh token lifetime in seconds (default 3600)
//   DC_TTL           device code lifetime in seconds (default 600)
//   HTTPS_REDIRECTS  comma-separated exact redirect URIs of the web client pizauth-https
//                    (default https://localhost:8443/)
//   ROTATE_RT        "1" makes every refresh rotate the refresh token (default: the library's
//                    rule: public clients always, confidential ones late in the token's life)
//
// Clients:
//   pizauth-test    confidential native client, secret "test-secret"; http loopback redirects on
//                   any port (RFC 8252 section 7.3)
//   pizauth-public  public native client (no secret); same redirects
//   pizauth-https   confidential web client, secret "test-secret"; exact HTTPS_REDIRECTS only
//                   (native clients may not use https://localhost)
import Provider from 'oidc-provider';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 9090);
const ISSUER = process.env.ISSUER || `http://${HOST}:${PORT}`;
const AT_TTL = Number(process.env.AT_TTL || 5);
const RT_TTL = Number(process.env.RT_TTL || 3600);
const DC_TTL = Number(process.env.DC_TTL || 600);
const HTTPS_REDIRECTS = (process.env.HTTPS_REDIRECTS || 'https://localhost:8443/')
  .split(',')
  .map((uri) => uri.trim())
  .filter((uri) => uri !== '');
const ROTATE_RT = process.env.ROTATE_RT === '1';

const SECRET = 'test-secret';
const LOOPBACK_REDIRECTS = ['http://localhost/', 'http://127.0.0.1/', 'http://[::1]/'];
const NATIVE_GRANTS = [
  'authorization_code',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:device_code',
];

const configuration = {
  clients: [
    {
      client_id: 'pizauth-test',
      client_secret: SECRET,
      application_type: 'native',
      redirect_uris: LOOPBACK_REDIRECTS,
      grant_types: NATIVE_GRANTS,
      response_types: ['code'],
      // pizauth sends the secret in the form body.
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      client_id: 'pizauth-public',
      application_type: 'native',
      redirect_uris: LOOPBACK_REDIRECTS,
      grant_types: NATIVE_GRANTS,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
    {
      client_id: 'pizauth-https',
      client_secret: SECRET,
      application_type: 'web',
      redirect_uris: HTTPS_REDIRECTS,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  // Version 9 accepts S256 only; requiring it for every client matches what pizauth always sends.
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'email', 'mail'],
  ttl: {
    AccessToken: AT_TTL,
    RefreshToken: RT_TTL,
    AuthorizationCode: 60,
    DeviceCode: DC_TTL,
    Grant: 86400,
    Interaction: 3600,
    Session: 86400,
    IdToken: 3600,
  },
  features: {
    devInteractions: { enabled: true }, // plain HTML login and consent forms; any login works
    deviceFlow: { enabled: true }, // RFC 8628
    revocation: { enabled: true }, // RFC 7009: POST /token/revocation
    introspection: { enabled: true }, // RFC 7662: POST /token/introspection
    registration: { enabled: true }, // RFC 7591: POST /reg, open
  },
  cookies: { keys: ['pizauth-dbus-test-cookie-key'] },
  // No jwks: the library generates throw-away development signing keys (and warns about it).
};
if (ROTATE_RT) {
  configuration.rotateRefreshToken = true;
}

const started = process.hrtime.bigint();
const provider = new Provider(ISSUER, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.on('grant.error', (_ctx, err) =>
  console.error('grant.error', err.message, err.error_description || ''),
);
provider.on('grant.success', (ctx) => console.error('grant.success', ctx.oidc.params.grant_type));

const server = provider.listen(PORT, HOST, () => {
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`oidc-provider listening on ${ISSUER} (ready in ${ms.toFixed(0)} ms)`);
});

// Exit promptly and quietly when the test harness stops us.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
