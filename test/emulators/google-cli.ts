/**
 * Starts the Google emulator trusting an issuer already running (the embedded
 * default's, see cli.ts) for acme/payments on main, with the service account
 * deployer@my-project.iam.gserviceaccount.com; prints one JSON line with its
 * URLs, then stays up until SIGTERM or SIGINT.
 *
 *   node --import tsx test/emulators/google-cli.ts <issuer url>
 */
import { GCP_ATTRIBUTE_MAPPING, poolOf } from '../../src/trust/gcp-wif.ts';
import { startGoogle } from './google.ts';

const BENCH_PROVIDER = 'projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab-ci';
const BENCH_SERVICE_ACCOUNT = 'deployer@my-project.iam.gserviceaccount.com';

const issuerUri = process.argv[2];
if (!issuerUri) {
  process.stderr.write('usage: google-cli.ts <issuer url>\n');
  process.exit(2);
}
const google = await startGoogle({
  providers: [
    { name: BENCH_PROVIDER, issuerUri, attributeMapping: GCP_ATTRIBUTE_MAPPING, attributeCondition: "assertion.project_path == 'acme/payments' && assertion.ref == 'main'" },
  ],
  serviceAccounts: [{ email: BENCH_SERVICE_ACCOUNT, workloadIdentityUsers: [`principalSet://iam.googleapis.com/${poolOf(BENCH_PROVIDER)}/attribute.project_path/acme/payments`] }],
});
process.stdout.write(`${JSON.stringify({ sts: google.stsUrl, iamCredentials: google.iamCredentialsUrl })}\n`);

const stop = () => {
  google.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
