/** The media types of npm package metadata (packuments). */

/** The full packument, as the registry serves it without an Accept header. */
export const NPM_JSON_TYPE = 'application/json';

/** The abbreviated packument npm, pnpm and yarn install from. */
export const NPM_ABBREVIATED_TYPE = 'application/vnd.npm.install-v1+json';

/** What Orchard asks an upstream for: always the full packument, since both formats are rendered from it. */
export const PROJECT_PAGE_ACCEPT = NPM_JSON_TYPE;
