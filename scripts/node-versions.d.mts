// Types for scripts/node-versions.mjs (plain JavaScript: the build runs it without tsx).
export declare function installNodeVersions(): void;
export declare function nodeVersions(): { major: number; version: string; path: string }[];
