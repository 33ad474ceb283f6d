// The OAuth 2.0 client of the token-exchange provider, built as its own chunk (see src/lib/lazy-module.ts):
// only a grant with a token-exchange trait loads it.
export {
  allowInsecureRequests,
  ClientError,
  customFetch,
  discovery,
  genericGrantRequest,
  None,
  ResponseBodyError,
  tokenRevocation,
  WWWAuthenticateChallengeError,
} from 'openid-client';
