/**
 * Replaced at build time by the source text of each lazy chunk (scripts/build.mjs).
 * Empty here, so that tests running from source import the chunks normally.
 */
export const LAZY_SOURCES: Readonly<Partial<Record<'core' | 'aws-sts' | 'gitbeaker' | 're2js' | 'openid-client', string>>> = {};
