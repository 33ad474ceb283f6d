// Types for scripts/node-versions.mjs (plain JavaScript: the build runs it without tsx).
export declare const SUPPORTED_MAJORS: readonly number[];
export declare function installNodeVersions(): void;
export declare function nodeVersions(): { major: number; version: string; path: string }[];
