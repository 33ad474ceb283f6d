import { type GitlabApi, type GitlabApiOptions, startGitlabApi } from './gitlab-api.ts';
import { DEFAULT_AUDIENCE, DEFAULT_SHA, type Issuer, startIssuer } from './issuer.ts';
import { type StsEmulator, type StsRole, startSts } from './sts.ts';

export type { ApiCall, ApiFault, ApiGroup, ApiProject, ApiUser, CommitComment, Discussion, GitlabApi, GitlabApiOptions, Note } from './gitlab-api.ts';
export { startGitlabApi } from './gitlab-api.ts';
export type { ClaimOverrides, Issuer, IssuerRequest, MintOptions } from './issuer.ts';
export { DEFAULT_AUDIENCE, DEFAULT_SHA, startIssuer } from './issuer.ts';
export type { IssuedCredentials, StsCall, StsEmulator, StsFault, StsRole } from './sts.ts';
export { startSts, stringLike } from './sts.ts';
export { goGlob, startVault, type VaultCall, type VaultEmulator, type VaultFault, type VaultJwtMount, type VaultRole, type VaultToken } from './vault.ts';
export { type GoogleCall, type GoogleEmulator, type GoogleFault, type GoogleProvider, type GoogleServiceAccount, startGoogle } from './google.ts';
export { type EntraApp, type EntraCall, type EntraEmulator, type EntraFault, type EntraIssuedToken, type EntraTenant, type FederatedCredential, startEntra } from './entra.ts';
export { startTokenExchange, type TokenExchangeServer, type TokenExchangeFault, TOKEN_TYPE } from './token-exchange.ts';

/** The role the embedded default's STS trusts GitLab tokens of acme/payments for. */
export const DEFAULT_ROLE_ARN = 'arn:aws:iam::123456789012:role/ci-deploy';
export const DEFAULT_PROJECT = { id: '1217', path: 'acme/payments' } as const;
export const DEFAULT_MR_IID = 7;

/**
 * The people and groups of the embedded default. `dev` (id 42) is who
 * `issuer.mint()` names by default and the author of MR !7; `carol` is in
 * `acme/sre`; `alice` and `bob` are plain users.
 */
export const DEFAULT_USERS = [
  { id: 42, username: 'dev', name: 'Dev Eloper', email: 'dev@example.com' },
  { id: 43, username: 'alice', name: 'Alice', email: 'alice@example.com' },
  { id: 44, username: 'bob', name: 'Bob', email: 'bob@example.com' },
  { id: 45, username: 'carol', name: 'Carol', email: 'carol@example.com' },
  { id: 46, username: 'mallory', name: 'Mallory', email: 'mallory@example.com' },
] as const;

/** The user of the API token by default: a project access token's bot, Maintainer of acme/payments (GitLab's default role for one). */
export const DEFAULT_BOT = { id: 9001, username: 'project_1217_bot_oam', name: 'oam-grant', bot: true } as const;

export interface EmbeddedDefault {
  readonly issuer: Issuer;
  readonly sts: StsEmulator;
  readonly gitlab: GitlabApi;
  close(): Promise<void>;
}

export interface EmbeddedDefaultOptions {
  readonly issuerPort?: number;
  readonly stsPort?: number;
  readonly gitlabPort?: number;
  /** More roles next to the default one, e.g. with other trust conditions. */
  readonly extraRoles?: (issuerUrl: string) => StsRole[];
  /** Overrides for the GitLab API emulator (tokens, users, groups, merge requests). */
  readonly gitlab?: Omit<GitlabApiOptions, 'port'>;
}

/**
 * Starts the issuer, an STS that trusts it and a GitLab API, wired together
 * on loopback: the quick start's and the integration tests' default world.
 * STS trusts `sts.amazonaws.com` tokens of acme/payments on branch `main`
 * and on tags `v*` for {@link DEFAULT_ROLE_ARN}.
 *
 * @example
 *   const world = await startEmbeddedDefault();
 *   const token = await world.issuer.mint();   // acme/payments, main, protected
 *   // access file: spec: { gitlab: { url: world.issuer.url } }; the issuer also serves the API at /api/v4
 *   // CI_SERVER_URL=world.issuer.url CI_API_V4_URL=`${world.issuer.url}/api/v4` AWS_ENDPOINT_URL_STS=world.sts.url
 *   await world.close();
 */
export async function startEmbeddedDefault(opts: EmbeddedDefaultOptions = {}): Promise<EmbeddedDefault> {
  const issuer = await startIssuer({ port: opts.issuerPort });
  const started: { close(): Promise<void> }[] = [issuer];
  try {
    const sts = await startSts({
      port: opts.stsPort,
      providers: [{ issuerUrl: issuer.url, audiences: [DEFAULT_AUDIENCE] }],
      roles: [
        {
          arn: DEFAULT_ROLE_ARN,
          trust: {
            issuerUrl: issuer.url,
            audience: DEFAULT_AUDIENCE,
            subPatterns: [
              `project_path:${DEFAULT_PROJECT.path}:ref_type:branch:ref:main`,
              `project_path:${DEFAULT_PROJECT.path}:ref_type:tag:ref:v*`,
            ],
          },
        },
        ...(opts.extraRoles?.(issuer.url) ?? []),
      ],
    });
    started.push(sts);
    const gitlab = await startGitlabApi({
      port: opts.gitlabPort,
      users: DEFAULT_USERS.map((u) => ({ ...u })),
      groups: [
        { path: 'acme', memberUserIds: [] },
        { path: 'acme/sre', memberUserIds: [45], accessLevel: 40 },
      ],
      botUser: { ...DEFAULT_BOT },
      // The bot is a Maintainer (it may edit anyone's note, as on GitLab); dev a Developer.
      projects: [{ ...DEFAULT_PROJECT, members: { [DEFAULT_BOT.id]: 40, 42: 30 } }],
      mergeRequests: [
        {
          projectId: DEFAULT_PROJECT.id,
          iid: DEFAULT_MR_IID,
          authorUsername: 'dev',
          commits: [{ sha: DEFAULT_SHA, authorEmail: 'dev@example.com', authorName: 'Dev Eloper' }],
        },
      ],
      ...opts.gitlab,
    });
    started.push(gitlab);
    issuer.serveApiFrom(gitlab.url);
    return {
      issuer,
      sts,
      gitlab,
      close: async () => {
        await Promise.all(started.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
}
