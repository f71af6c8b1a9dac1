import { MalformedPageError } from './errors.js';

/** The URL a page was fetched from, which its relative links resolve against. */
export function parseBaseUrl(baseUrl: string): URL {
  try {
    return new URL(baseUrl);
  } catch {
    throw new MalformedPageError(`invalid base URL ${JSON.stringify(baseUrl)}`);
  }
}
