/**
 * Starts the Entra ID emulator trusting one issuer, for tools that run the
 * emulators in their own process (the benchmark), and prints one JSON line
 * with its URL and the app it knows; stays up until SIGTERM or SIGINT.
 *
 *   node --import tsx test/emulators/entra-cli.ts --issuer http://127.0.0.1:PORT [--ref main]
 *
 * The app (ENTRA_CLIENT_ID in ENTRA_TENANT_ID) has one federated credential:
 * acme/payments, branch `--ref`, audience api://AzureADTokenExchange.
 */
import { parseArgs } from 'node:util';
import { startEntra } from './entra.ts';

const ENTRA_TENANT_ID = '11111111-2222-3333-4444-555555555555';
const ENTRA_CLIENT_ID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

const { values } = parseArgs({ options: { issuer: { type: 'string' }, ref: { type: 'string', default: 'main' }, port: { type: 'string' } } });
if (!values.issuer) throw new Error('--issuer is required');

const entra = await startEntra({
  ...(values.port ? { port: Number(values.port) } : {}),
  tenants: [
    {
      tenantId: ENTRA_TENANT_ID,
      apps: [
        {
          clientId: ENTRA_CLIENT_ID,
          federatedCredentials: [{ name: 'acme-payments', issuer: values.issuer, subject: `project_path:acme/payments:ref_type:branch:ref:${values.ref}`, audiences: ['api://AzureADTokenExchange'] }],
        },
      ],
    },
  ],
});
process.stdout.write(`${JSON.stringify({ entra: entra.url, tenantId: ENTRA_TENANT_ID, clientId: ENTRA_CLIENT_ID })}\n`);

const stop = () => {
  entra.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
