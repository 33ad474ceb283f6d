/**
 * What an RFC 8693 authorization server must trust for a token-exchange
 * trait, as a generic description: every product configures federation its
 * own way (an identity provider entry, a trust policy, a script), so this is
 * the checklist to map onto it, never wider than the file.
 */
import type { TokenExchangeTrait } from '../access-file/model.ts';
import { compileRefGlob } from '../access-file/glob.ts';
import { DEFAULT_SUB_NOTE, subjectsOf } from '../policy/trust-scope.ts';
import { SUBJECT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, TOKEN_LIFETIME_CEILING_SECONDS } from '../providers/token-exchange.ts';
import { normalizeIssuer } from '../token/discovery.ts';
import type { TrustBuilder } from './types.ts';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The ref glob as the inside of a regular expression (`*` within a segment, `**` across). */
function refRegExpSource(glob: string): string {
  return compileRefGlob(glob).source.replace(/^\^|\$$/g, '');
}

export const tokenExchangeTrust: TrustBuilder<TokenExchangeTrait> = ({ trait, scope, issuer, audience }) => {
  const gitlab = normalizeIssuer(issuer);
  const subjects = subjectsOf(scope, (ref) => ref);
  const subjectPatterns = scope.projects.flatMap((project) =>
    scope.refTypes.flatMap((refType) => scope.refs.map((ref) => `^project_path:${escapeRegExp(project)}:ref_type:${refType}:ref:${refRegExpSource(ref)}$`)),
  );
  const config = {
    description: `What the authorization server ${trait.issuer} must trust for RFC 8693 token exchange with GitLab ID tokens; map it onto the server's own federation settings, which differ per product`,
    authorizationServer: trait.issuer,
    grantType: TOKEN_EXCHANGE_GRANT,
    client: { clientId: trait.clientId ?? null, tokenEndpointAuthMethod: 'none', grantTypes: [TOKEN_EXCHANGE_GRANT] },
    subjectToken: {
      tokenType: SUBJECT_TOKEN_TYPE,
      issuer: gitlab,
      discovery: `${gitlab}/.well-known/openid-configuration`,
      signingAlgorithms: ['RS256'],
      audience,
      subjects,
      subjectPatterns,
      // Claims as GitLab sends them (strings), for servers that check claims beyond sub: ref_protected is not in sub.
      claims: {
        project_path: scope.projects,
        ref_type: scope.refTypes,
        ref: scope.refs,
        ...(scope.refProtected !== undefined ? { ref_protected: [String(scope.refProtected)] } : {}),
      },
    },
    issue: {
      requestedTokenType: trait.requestedTokenType,
      ...(trait.audience ? { audience: trait.audience } : {}),
      ...(trait.resource ? { resource: trait.resource } : {}),
      ...(trait.scope ? { scope: trait.scope } : {}),
      // oam-grant refuses (and revokes) a token that lives longer.
      maxLifetimeSeconds: scope.maxDurationSeconds ?? TOKEN_LIFETIME_CEILING_SECONDS,
    },
  };
  const notes = [
    ...scope.notes,
    'the concrete configuration depends on the server: trust the GitLab issuer (its discovery document and JWKS, RS256), require the audience, admit only these subjects, and allow the client the token-exchange grant for exactly this target',
    "subjects are written in oam-grant's ref globs (* within one path segment, ** across, ? one character), subjectPatterns as the same anchored regular expressions; a server whose * also matches '/' admits more than the file",
    trait.clientId
      ? `client_id ${trait.clientId} is a public client: it names the caller, it does not authenticate it; the subject conditions are the wall`
      : 'no clientId: the server must allow token exchange without client identification, so anyone holding a matching ID token could exchange it (RFC 8693 section 2.1); the subject conditions are the wall',
    DEFAULT_SUB_NOTE,
  ];
  return { config, warnings: scope.warnings, notes };
};
